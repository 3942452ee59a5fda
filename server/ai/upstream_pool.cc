#include "server/ai/upstream_pool.h"

#include <boost/beast/core/stream_traits.hpp>

#include "server/ai/http_client.h"

namespace tollgate::server {

boost::asio::ip::tcp::socket& Connection::socket() {
  using Plain = std::unique_ptr<boost::asio::ip::tcp::socket>;
  if (auto* plain = std::get_if<Plain>(&stream)) return **plain;
  return boost::beast::get_lowest_layer(*std::get<std::unique_ptr<UpstreamTlsStream>>(stream));
}

std::string origin_key(const ParsedUrl& url) {
  return (url.tls ? "https://" : "http://") + url.host + ":" + url.port;
}

std::unique_ptr<Connection> ConnectionPool::take(const std::string& origin) {
  std::lock_guard lock(mutex_);
  auto found = idle_.find(origin);
  if (found == idle_.end() || found->second.empty()) return nullptr;
  auto connection = std::move(found->second.back());
  found->second.pop_back();
  connection->reused = true;
  return connection;
}

void ConnectionPool::give_back(const std::string& origin, std::unique_ptr<Connection> connection) {
  std::lock_guard lock(mutex_);
  auto& list = idle_[origin];
  if (list.size() >= kPoolIdlePerOriginMax) return;  // closed on destruction
  connection->buffer.clear();
  list.push_back(std::move(connection));
}

void ConnectionPool::clear() {
  std::lock_guard lock(mutex_);
  idle_.clear();
}

}  // namespace tollgate::server
