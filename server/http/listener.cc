#include "server/http/listener.h"

#include <boost/asio/post.hpp>

namespace tollgate::server {

namespace net = boost::asio;
using tcp = net::ip::tcp;

Listener::Listener(net::io_context& ioc, tcp::acceptor&& acceptor, SessionContext& context)
    : ioc_(ioc), acceptor_(std::move(acceptor)), context_(context) {}

void Listener::start() {
  net::post(acceptor_.get_executor(), [self = shared_from_this()] { self->do_accept(); });
}

void Listener::stop() {
  net::post(acceptor_.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ignored;
    self->acceptor_.close(ignored);
  });
}

void Listener::do_accept() {
  acceptor_.async_accept(net::make_strand(ioc_), boost::beast::bind_front_handler(
                                                     &Listener::on_accept, shared_from_this()));
}

void Listener::on_accept(boost::beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
  if (ec) {
    // E.g. out of file descriptors: log and keep serving the connections we have.
    context_.log.warn("accept_failed", {{"error", ec.message()}});
  } else {
    std::make_shared<Session>(std::move(socket), context_)->start();
  }
  do_accept();
}

}  // namespace tollgate::server
