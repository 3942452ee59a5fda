#include "server/http/server.h"

#include <malloc.h>

#include <boost/asio/post.hpp>
#include <csignal>
#include <thread>
#include <vector>

namespace tollgate::server {

namespace net = boost::asio;
using tcp = net::ip::tcp;

Server::Server(const ServeConfig& config, Router router, Logger& log)
    : config_(config),
      router_(std::move(router)),
      log_(log),
      registry_(config.limits.connections_max),
      context_{router_, log_, config_.limits, registry_},
      ioc_(config.threads),
      strand_(net::make_strand(ioc_)),
      signals_(strand_, SIGINT, SIGTERM),
      deadline_(strand_) {}

Server::~Server() {
  // Sessions destroyed with ioc_ must not fire the drain callback: it posts to strand_, which
  // is gone by then.
  registry_.disarm();
}

Result<std::unique_ptr<Server>> Server::create(const ServeConfig& config, Router router,
                                               Logger& log) {
  std::unique_ptr<Server> server(new Server(config, std::move(router), log));
  boost::system::error_code ec;
  auto address = net::ip::make_address(config.host, ec);
  if (ec) return fail(ErrorCode::kInvalidArgument, "not an IP address: " + config.host, "--host");
  tcp::endpoint endpoint(address, config.port);
  tcp::acceptor acceptor(net::make_strand(server->ioc_));
  std::string where = config.host + ":" + std::to_string(config.port);
  if (acceptor.open(endpoint.protocol(), ec); !ec)
    acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (ec == net::error::address_in_use) {
    return fail(ErrorCode::kAddressInUse,
                "port " + std::to_string(config.port) + " on " + config.host +
                    " is already in use; stop the other process or pass --port",
                "--port");
  }
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return fail(ErrorCode::kIoError, "cannot listen on " + where + ": " + ec.message(), "--host");
  server->port_ = acceptor.local_endpoint().port();
  server->listener_ =
      std::make_shared<Listener>(server->ioc_, std::move(acceptor), server->context_);
  return server;
}

void Server::run() {
  signals_.async_wait(
      [this](const boost::system::error_code& ec, int signal) { on_signal(ec, signal); });
  listener_->start();
  std::vector<std::thread> workers;
  for (int i = 1; i < config_.threads; ++i) workers.emplace_back([this] { ioc_.run(); });
  ioc_.run();
  for (auto& worker : workers) worker.join();
}

void Server::on_signal(const boost::system::error_code& ec, int signal) {
  if (ec) return;  // cancelled by finish()
  if (shutting_down_) {
    log_.warn("shutdown_forced", {{"signal", signal}, {"sessions", registry_.size()}});
    ioc_.stop();
    return;
  }
  shutting_down_ = true;
  log_.info("shutdown_started", {{"signal", signal}, {"sessions", registry_.size()}});
  listener_->stop();
  deadline_.expires_after(std::chrono::milliseconds(config_.limits.shutdown_timeout_ms));
  deadline_.async_wait([this](const boost::system::error_code& wait_ec) {
    if (wait_ec) return;  // cancelled: every session finished in time
    log_.warn("shutdown_timeout", {{"sessions", registry_.size()}});
    ioc_.stop();
  });
  signals_.async_wait(
      [this](const boost::system::error_code& next_ec, int next) { on_signal(next_ec, next); });
  registry_.drain([this] { net::post(strand_, [this] { finish(); }); });
}

void Server::finish() {
  // With the timer and signal wait cancelled, run() returns once the last handler completes.
  deadline_.cancel();
  signals_.cancel();
}

void keep_freed_memory() {
  mallopt(M_TRIM_THRESHOLD, kMallocTrimThresholdBytes);
  mallopt(M_MMAP_THRESHOLD, kMallocMmapThresholdBytes);
}

}  // namespace tollgate::server
