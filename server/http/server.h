// The HTTP server: binds the port, runs the io_context on N threads, and shuts down gracefully.
//
// On SIGINT or SIGTERM it stops accepting, lets in-flight requests finish (bounded by
// Limits::shutdown_timeout_ms), then returns from run(). A second signal stops at once.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <memory>

#include "server/config/config.h"
#include "server/http/listener.h"
#include "server/http/router.h"
#include "server/http/session_registry.h"
#include "server/log/logger.h"
#include "tollgate/core/result.h"

namespace tollgate::server {

class Server {
 public:
  // Binds config.host:config.port. kAddressInUse when the port is taken, kIoError otherwise.
  static Result<std::unique_ptr<Server>> create(const ServeConfig& config, Router router,
                                                Logger& log);

  // The bound port (useful with port 0).
  uint16_t port() const { return port_; }

  // Serves until shut down by a signal. Blocks.
  void run();

  // The io_context the server's threads run; other clients (the upstream client) may run on it
  // if they are destroyed before the server.
  boost::asio::io_context& io_context() { return ioc_; }

  ~Server();

 private:
  Server(const ServeConfig& config, Router router, Logger& log);
  void on_signal(const boost::system::error_code& ec, int signal);
  void finish();

  // Declaration order is destruction order in reverse: everything a Session touches (config,
  // router, log, registry, context) is declared before ioc_, so it outlives the sessions that
  // ~io_context destroys when a forced shutdown leaves them pending.
  ServeConfig config_;
  Router router_;
  Logger& log_;
  SessionRegistry registry_;
  SessionContext context_;
  boost::asio::io_context ioc_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer deadline_;
  std::shared_ptr<Listener> listener_;
  uint16_t port_ = 0;
  bool shutting_down_ = false;
};

// Keeps freed memory in the process instead of handing it back to the kernel after every burst.
// glibc otherwise trims each thread's heap (and unmaps large blocks) as soon as they are freed,
// and each of those calls flushes the TLB of every core: under load that cost more than the
// requests themselves. Memory stays bounded by the peak a server reaches. Call once at start.
inline constexpr int kMallocTrimThresholdBytes = 256 << 20;
inline constexpr int kMallocMmapThresholdBytes = 32 << 20;
void keep_freed_memory();

}  // namespace tollgate::server
