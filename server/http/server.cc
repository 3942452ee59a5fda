#include "server/http/server.h"

#include <malloc.h>
#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

namespace tollgate::server {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

// The connection cap that fits the open-files limit, lowered from the default if need be; an
// explicit --connections-max is kept, with a warning, since the operator asked for it.
ServeConfig fit_open_files(const ServeConfig& config, Logger& log) {
  ServeConfig fitted = config;
  OpenFilesLimit limit = raise_open_files_limit();
  uint64_t open = open_files_now();
  size_t fits = connections_max_for(limit, open);
  if (fits < config.limits.connections_max) {
    if (config.connections_max_set) {
      log.warn("open_files_limit_low",
               {{"soft", limit.soft},
                {"connections_max", config.limits.connections_max},
                {"connections_max_fitting", fits},
                {"hint",
                 "raise the hard open-files limit (ulimit -Hn, LimitNOFILE=) or lower "
                 "--connections-max"}});
    } else {
      fitted.limits.connections_max = fits;
    }
  }
  log.info("open_files_limit", {{"soft", limit.soft},
                                {"hard", limit.hard},
                                {"open", open},
                                {"connections_max", fitted.limits.connections_max}});
  return fitted;
}

}  // namespace

OpenFilesLimit raise_open_files_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return {};
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    // An unlimited hard limit cannot be the soft one on Linux: the ceiling is fs.nr_open.
    if (setrlimit(RLIMIT_NOFILE, &raised) != 0 && limit.rlim_max == RLIM_INFINITY) {
      std::ifstream nr_open("/proc/sys/fs/nr_open");
      uint64_t ceiling = 0;
      if (nr_open >> ceiling && ceiling > limit.rlim_cur) {
        raised.rlim_cur = static_cast<rlim_t>(ceiling);
        (void)setrlimit(RLIMIT_NOFILE, &raised);
      }
    }
    (void)getrlimit(RLIMIT_NOFILE, &limit);
  }
  return {static_cast<uint64_t>(limit.rlim_cur), static_cast<uint64_t>(limit.rlim_max)};
}

uint64_t open_files_now() {
  std::error_code ec;
  uint64_t count = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++count;
  }
  return count;
}

size_t connections_max_for(OpenFilesLimit limit, uint64_t open) {
  uint64_t reserved = open + kFdHeadroom;
  uint64_t fits = limit.soft > reserved ? (limit.soft - reserved) / kFdsPerConnection : 0;
  return static_cast<size_t>(std::clamp<uint64_t>(fits, 1, kConnectionsMaxCeiling));
}

Server::Server(const ServeConfig& config, Router router, Logger& log, Metrics* metrics)
    : config_(fit_open_files(config, log)),
      router_(std::move(router)),
      log_(log),
      registry_(config_.limits.connections_max, config_.limits.connections_per_ip_max),
      context_{router_, log_, config_.limits, registry_, metrics},
      ioc_(config_.threads),
      strand_(net::make_strand(ioc_)),
      signals_(strand_, SIGINT, SIGTERM),
      deadline_(strand_) {}

Server::~Server() {
  // Sessions destroyed with ioc_ must not fire the drain callback: it posts to strand_, which
  // is gone by then.
  registry_.disarm();
}

Result<std::unique_ptr<Server>> Server::create(const ServeConfig& config, Router router,
                                               Logger& log, Metrics* metrics) {
  std::unique_ptr<Server> server(new Server(config, std::move(router), log, metrics));
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
  for (int i = 1; i < config_.threads; ++i) workers.emplace_back([this] { run_thread(); });
  run_thread();
  for (auto& worker : workers) worker.join();
}

void Server::run_thread() {
  // run() may be called again after a handler threw: the io_context is not stopped by it.
  while (true) {
    try {
      ioc_.run();
      return;
    } catch (...) {
      log_.log("error", "unhandled_exception", {{"what", exception_text(std::current_exception())}});
    }
  }
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
