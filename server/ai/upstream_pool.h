// The connections HttpClient keeps to providers (server/ai/http_client.h): one Connection is a
// socket, plain or TLS, with its read buffer; the ConnectionPool keeps the idle keep-alive ones
// per origin for the next exchange to the same provider.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <variant>

#include "server/net/outbound_guard.h"

namespace tollgate::server {

using UpstreamTlsStream = boost::beast::ssl_stream<boost::asio::ip::tcp::socket>;

// One connection to an origin, plain or TLS. Its socket is made on the io_context itself, not on
// a strand: a pooled connection outlives the exchange that opened it, and whichever exchange
// holds it binds each operation to its own strand.
struct Connection {
  std::variant<std::unique_ptr<boost::asio::ip::tcp::socket>, std::unique_ptr<UpstreamTlsStream>>
      stream;
  boost::beast::flat_buffer buffer;
  bool reused = false;  // taken from the pool: the provider may have closed it meanwhile

  boost::asio::ip::tcp::socket& socket();
  // Calls `f` with the stream to read and write: the socket, or the TLS stream over it.
  template <typename F>
  void visit(F&& f) {
    using Plain = std::unique_ptr<boost::asio::ip::tcp::socket>;
    if (auto* plain = std::get_if<Plain>(&stream)) return f(**plain);
    f(*std::get<std::unique_ptr<UpstreamTlsStream>>(stream));
  }
};

// The pool's key for a URL: "https://host:port". Connections are shared only within an origin.
std::string origin_key(const ParsedUrl& url);

// Idle keep-alive connections, per origin at most kPoolIdlePerOriginMax (http_client.h); the
// most recently returned is taken first, since it is the least likely to have been closed by the
// provider. Thread-safe. Destroying a connection (on clear(), or one returned beyond the limit)
// closes its socket.
class ConnectionPool {
 public:
  // An idle connection to `origin`, marked reused; nullptr when there is none.
  std::unique_ptr<Connection> take(const std::string& origin);
  // Keeps `connection` for the next exchange to `origin`, its buffer emptied; closes it instead
  // when kPoolIdlePerOriginMax are idle there already.
  void give_back(const std::string& origin, std::unique_ptr<Connection> connection);
  // Closes every idle connection.
  void clear();

 private:
  std::mutex mutex_;
  std::map<std::string, std::deque<std::unique_ptr<Connection>>> idle_;
};

}  // namespace tollgate::server
