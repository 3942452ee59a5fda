// One HTTP/1.1 connection: reads requests under the configured limits, routes them, writes
// responses, and closes gracefully.
//
// All work runs on the session's strand. Limits: header and body size (431/413), an idle timer on
// every read and write, and one response in flight at a time (no unbounded write queue).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "server/config/config.h"
#include "server/http/router.h"
#include "server/http/session_registry.h"
#include "server/http/types.h"
#include "server/log/logger.h"

namespace tollgate::server {

// What every session shares; owned by the Server and outliving all sessions.
struct SessionContext {
  const Router& router;
  Logger& log;
  const Limits& limits;
  SessionRegistry& registry;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(boost::asio::ip::tcp::socket&& socket, SessionContext& context);
  ~Session();

  // Registers with the registry and starts reading; drops the connection if over capacity.
  void start();

  // Asks the session to finish: an idle connection closes now, a request in progress gets its
  // response (with Connection: close) and then the connection closes. Thread-safe.
  void drain();

 private:
  void do_read();
  void on_read(boost::beast::error_code ec, size_t bytes);
  void handle(const Request& request);
  void reject(const Error& error, std::string_view what);
  void send(Response response, std::string method, std::string path);
  void on_write(bool close, boost::beast::error_code ec, size_t bytes);
  void do_close();
  void on_linger(boost::beast::error_code ec, size_t bytes);

  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<Response> response_;  // the one response being written
  std::array<char, 4096> linger_buffer_{};
  size_t linger_bytes_ = 0;
  SessionContext& context_;
  std::string remote_;
  std::chrono::steady_clock::time_point request_started_;
  bool reading_ = false;
  bool draining_ = false;
};

}  // namespace tollgate::server
