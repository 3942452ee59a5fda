#include "server/ai/http_client.h"

#include <boost/asio/io_context.hpp>

#include "server/ai/upstream_exchange.h"

namespace tollgate::server {

namespace net = boost::asio;

HttpClient::HttpClient(OutboundGuard guard, UpstreamTimeouts timeouts, net::io_context* shared)
    : guard_(guard), timeouts_(timeouts), impl_(std::make_shared<Impl>(shared, guard)) {
  if (shared) return;
  impl_->work.emplace(net::make_work_guard(impl_->ioc));
  for (size_t i = 0; i < kUpstreamThreads; ++i) {
    impl_->threads.emplace_back([impl = impl_.get()] { impl->ioc.run(); });
  }
}

HttpClient::~HttpClient() {
  if (impl_->own) {
    impl_->work.reset();
    impl_->ioc.stop();
    for (std::thread& thread : impl_->threads) thread.join();
  }
  // A shared io_context outlives the client: its pooled sockets close now, while it exists.
  impl_->pool.clear();
  if (impl_->own) impl_->own->shutdown();
}

std::shared_ptr<UpstreamExchange> HttpClient::post(UpstreamRequest request,
                                                   UpstreamHandlers handlers) {
  auto url = guard_.check_url(request.url);
  return start_exchange(impl_, timeouts_, std::move(url), std::move(request), std::move(handlers));
}

}  // namespace tollgate::server
