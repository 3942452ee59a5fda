// One HTTP/1.1 connection: reads requests under the configured limits, routes them, writes
// responses, and closes gracefully.
//
// All work runs on the session's strand. Limits: header and body size (431/413); an idle timer
// re-armed before every read and write step, so a connection that makes no progress for
// idle_timeout_ms closes while a slow but steady one does not; a deadline for receiving one whole
// request (request_timeout_ms), so trickling bytes cannot hold a connection forever; and one
// response in flight at a time (no unbounded write queue).
#pragma once

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
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
  void parse_buffered();
  void read_some();
  void on_read_some(boost::beast::error_code ec, size_t bytes);
  void on_read(boost::beast::error_code ec);
  void handle(const Request& request);
  void respond(Response response);
  void reject(const Error& error, std::string_view what);
  void send(Response response, std::string method, std::string path);
  void write_some(bool close);
  void on_write_some(bool close, boost::beast::error_code ec, size_t bytes);
  void do_close();   // graceful: FIN, then wait briefly for the peer's
  void close_now();  // abrupt: nothing is owed to the peer
  void on_linger(boost::beast::error_code ec, size_t bytes);

  // Streamed responses (server-sent events): the head and then chunks, written one at a time
  // from a bounded queue, while a read on the socket watches for the client leaving.
  friend class SessionStream;
  void open_stream(Response head, std::function<void(std::shared_ptr<ResponseStream>)> ready);
  void stream_write(std::string framed);
  void stream_finish();
  void stream_on_disconnect(std::function<void()> callback);
  void pump_stream();
  void on_stream_written(boost::beast::error_code ec, size_t bytes);
  void watch_peer();
  void on_peer(boost::beast::error_code ec, size_t bytes);
  void break_stream();

  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<Response> response_;  // the one response being written
  std::optional<http::response_serializer<http::string_body>> serializer_;
  std::array<char, 4096> linger_buffer_{};
  size_t linger_bytes_ = 0;
  SessionContext& context_;
  std::string remote_;
  std::chrono::steady_clock::time_point request_started_;  // first byte of the current request
  std::chrono::steady_clock::time_point handled_at_;       // when routing began, for the log
  bool reading_ = false;
  bool draining_ = false;
  bool first_byte_seen_ = false;

  bool streaming_ = false;
  bool stream_writing_ = false;
  bool stream_finished_ = false;  // finish() queued the last chunk
  bool stream_ended_ = false;     // every byte written
  bool stream_broken_ = false;    // the client left or stalled
  std::deque<std::string> stream_chunks_;
  size_t stream_queued_bytes_ = 0;
  std::function<void()> on_disconnect_;
  std::optional<boost::asio::steady_timer> stall_timer_;
  std::array<char, 512> peer_buffer_{};
};

}  // namespace tollgate::server
