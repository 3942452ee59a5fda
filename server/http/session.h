// One HTTP/1.1 connection: reads requests through a RequestReader (limits and framing rules are
// there), routes them, writes responses, and closes gracefully.
//
// All work runs on the session's strand. Time limits while reading: a request's first byte must
// come within keepalive_timeout_ms of the wait's start (then the connection just closes); from
// that byte the reader's deadlines apply (headers, minimum body rate, whole request: 408); and
// any silence of idle_timeout_ms ends the read (408 mid-request). Writes are bounded by
// idle_timeout_ms of no progress, and one response is in flight at a time (no unbounded write
// queue). An answer sent with the request's body unread is followed by a lingering close: the
// send side is shut and the client's remaining bytes read and dropped (bounded in time and
// bytes), so its kernel does not reset the connection before it reads the answer.
//
// While waiting for or reading a request, and while lingering, the session may be shed by the
// registry to make room for a new connection; while handling a request or writing, never.
//
// session.cc reads requests, writes whole responses and closes; session_stream.cc streams;
// request_log.h is the log line and metrics sample of every answered request.
#pragma once

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "server/config/config.h"
#include "server/http/request_reader.h"
#include "server/http/router.h"
#include "server/http/session_registry.h"
#include "server/metrics/metrics.h"
#include "server/http/types.h"
#include "server/log/logger.h"

namespace tollgate::server {

// What every session shares; owned by the Server and outliving all sessions.
struct SessionContext {
  const Router& router;
  Logger& log;
  const Limits& limits;
  SessionRegistry& registry;
  Metrics* metrics = nullptr;  // counts every answered request when set
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
  void on_read_timer(uint64_t read);
  void on_read_timeout();
  void handle(const Request& request);
  void respond_to(uint64_t request, Response response);
  void respond(Response response);
  void reject(const ReadFailure& failure);
  void send(Response response, std::string method, std::optional<std::string> path);
  void write_some(bool close);
  void on_write_some(bool close, boost::beast::error_code ec, size_t bytes);
  void do_close(bool body_unread);  // graceful: FIN, then read and drop what the peer still sends
  void close_now();                 // abrupt: nothing is owed to the peer
  void on_linger(boost::beast::error_code ec, size_t bytes);

  // Called by the registry from any thread once it has claimed this session: closes it.
  friend class SessionRegistry;
  void shed();

  // Streamed responses (server-sent events, session_stream.cc): the head and then chunks,
  // written one at a time from a bounded queue, while a read on the socket watches for the
  // client leaving.
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
  RequestReader reader_;
  boost::asio::steady_timer read_timer_;  // the earliest of the read's time limits
  uint64_t read_seq_ = 0;                 // which read the timer belongs to
  bool read_timed_out_ = false;
  std::chrono::steady_clock::time_point waiting_since_;  // the wait for this request began
  uint64_t request_seq_ = 0;  // the request being handled; late answers to others are dropped
  bool answered_ = false;
  bool reject_sent_ = false;  // the response in flight answers a request that was not read whole
  std::optional<Response> response_;  // the one response being written
  std::optional<http::response_serializer<http::string_body>> serializer_;
  std::array<char, 4096> linger_buffer_{};
  size_t linger_bytes_ = 0;
  SessionContext& context_;
  std::string remote_;
  std::string client_;  // the registry's per-client bucket
  SessionSlot slot_;
  std::chrono::steady_clock::time_point handled_at_;  // when routing began, for the log
  bool reading_ = false;
  bool draining_ = false;

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
