// One upstream exchange of HttpClient (server/ai/http_client.h, which states the rules): the
// request, its attempts and their retries, on a strand of the client's io_context. Private to
// the client; nothing else includes this.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "server/ai/http_client.h"
#include "server/ai/upstream_pool.h"
#include "server/net/outbound_guard.h"

namespace tollgate::server {

// What every exchange of one client shares. The client and each of its exchanges hold it by
// shared_ptr, so an exchange still in flight when the client goes keeps it alive.
// The client's own io_context. Its shutdown() is public: the client calls it once its threads
// have stopped, destroying the handlers still queued. Each holds its exchange and each exchange
// holds the client's state, which holds this context, so otherwise they keep each other alive.
struct OwnedIoContext : boost::asio::io_context {
  using boost::asio::execution_context::shutdown;
};

struct HttpClient::Impl {
  Impl(boost::asio::io_context* shared, OutboundGuard outbound);

  std::optional<OwnedIoContext> own;  // when the client runs its own threads
  boost::asio::io_context& ioc;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work;
  boost::asio::ssl::context tls{boost::asio::ssl::context::tls_client};
  std::vector<std::thread> threads;
  ConnectionPool pool;
  OutboundGuard guard;
};

// Starts an exchange for `request` on `client`'s io_context. `url` is the guard's verdict on
// request.url: a refusal ends the exchange with the kUpstreamUnreachable failure. The handlers
// run on the exchange's strand, never inside this call.
std::shared_ptr<UpstreamExchange> start_exchange(std::shared_ptr<HttpClient::Impl> client,
                                                 UpstreamTimeouts timeouts, Result<ParsedUrl> url,
                                                 UpstreamRequest request,
                                                 UpstreamHandlers handlers);

}  // namespace tollgate::server
