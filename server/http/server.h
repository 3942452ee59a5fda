// The HTTP server: binds the port, runs the io_context on N threads, and shuts down gracefully.
//
// On SIGINT or SIGTERM it stops accepting, lets in-flight requests finish (bounded by
// Limits::shutdown_timeout_ms), then returns from run(). A second signal stops at once.
// An exception escaping a completion handler is logged ("unhandled_exception") and the thread
// runs on: unwinding destroyed that handler and with it at most that one connection.
// At creation the open-files limit is raised to its hard limit, and connections_max lowered to
// fit it unless it was set explicitly (both logged as "open_files_limit").
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
  // `metrics`, when given, counts every request and must outlive the server; its connection
  // figures are read from this server until it is destroyed.
  static Result<std::unique_ptr<Server>> create(const ServeConfig& config, Router router,
                                                Logger& log, Metrics* metrics = nullptr);

  // Connections shed and refused so far (for /metrics).
  SessionCounters session_counters() const { return registry_.counters(); }
  size_t open_connections() const { return registry_.size(); }

  // The bound port (useful with port 0).
  uint16_t port() const { return port_; }

  // Serves until shut down by a signal. Blocks.
  void run();

  // The io_context the server's threads run; other clients (the upstream client) may run on it
  // if they are destroyed before the server.
  boost::asio::io_context& io_context() { return ioc_; }

  ~Server();

 private:
  Server(const ServeConfig& config, Router router, Logger& log, Metrics* metrics);
  void on_signal(const boost::system::error_code& ec, int signal);
  void run_thread();
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
// Descriptors the process needs besides one per client connection: each connection may also
// hold one upstream call (kFdsPerConnection), and this much room is kept for the store's files,
// the pool's idle upstream connections and accept() itself.
inline constexpr uint64_t kFdsPerConnection = 2;
inline constexpr uint64_t kFdHeadroom = 64;

struct OpenFilesLimit {
  uint64_t soft = 0;  // in effect after raising
  uint64_t hard = 0;
};

// Raises RLIMIT_NOFILE's soft limit to the hard limit (as nginx and Node do).
OpenFilesLimit raise_open_files_limit();

// Descriptors this process has open now.
uint64_t open_files_now();

// The connections_max that fits `limit` with `open` descriptors already in use.
size_t connections_max_for(OpenFilesLimit limit, uint64_t open);

inline constexpr int kMallocTrimThresholdBytes = 256 << 20;
inline constexpr int kMallocMmapThresholdBytes = 32 << 20;
void keep_freed_memory();

}  // namespace tollgate::server
