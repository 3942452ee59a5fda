#include "server/http/listener.h"

#include <algorithm>
#include <boost/asio/post.hpp>

namespace tollgate::server {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {
// After an accept error (e.g. out of file descriptors) wait before retrying, doubling up to a
// second, so a resource shortage is not turned into a busy loop and a flood of log lines.
constexpr std::chrono::milliseconds kAcceptRetryDelayMin{10};
constexpr std::chrono::milliseconds kAcceptRetryDelayMax{1000};
}  // namespace

Listener::Listener(net::io_context& ioc, tcp::acceptor&& acceptor, SessionContext& context)
    : ioc_(ioc),
      acceptor_(std::move(acceptor)),
      retry_(acceptor_.get_executor()),
      context_(context) {}

void Listener::start() {
  net::post(acceptor_.get_executor(), [self = shared_from_this()] { self->do_accept(); });
}

void Listener::stop() {
  net::post(acceptor_.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ignored;
    self->acceptor_.close(ignored);
    self->retry_.cancel();
  });
}

void Listener::do_accept() {
  acceptor_.async_accept(net::make_strand(ioc_), boost::beast::bind_front_handler(
                                                     &Listener::on_accept, shared_from_this()));
}

void Listener::on_accept(boost::beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
  if (!ec) {
    retry_delay_ = std::chrono::milliseconds(0);
    std::make_shared<Session>(std::move(socket), context_)->start();
    return do_accept();
  }
  retry_delay_ = std::clamp(retry_delay_ * 2, kAcceptRetryDelayMin, kAcceptRetryDelayMax);
  context_.log.warn("accept_failed", {{"error", ec.message()}, {"retry_ms", retry_delay_.count()}});
  retry_.expires_after(retry_delay_);
  retry_.async_wait([self = shared_from_this()](boost::system::error_code wait_ec) {
    if (!wait_ec && self->acceptor_.is_open()) self->do_accept();
  });
}

}  // namespace tollgate::server
