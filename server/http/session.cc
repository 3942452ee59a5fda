#include "server/http/session.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <cstdio>
#include <random>

#include "server/http/cors.h"
#include "server/http/error_response.h"

namespace tollgate::server {
namespace {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// Unread bytes we are willing to discard while waiting for the peer to close after our last
// response. Reading them (instead of closing at once) keeps the kernel from answering with a
// reset that could destroy the response before the client reads it.
constexpr size_t kLingerBytesMax = size_t{256} * 1024;

// Bytes asked of the socket per read; the parser's header and body limits bound the total.
constexpr size_t kReadChunkBytes = size_t{16} * 1024;

// A streamed response whose client reads slower than this much queued output is dropped.
constexpr size_t kStreamQueuedBytesMax = size_t{1} << 20;

std::string new_request_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "req_";
  uint64_t bits = rng();
  for (int i = 0; i < 16; ++i, bits >>= 4) id += kHex[bits & 0xF];
  return id;
}

}  // namespace

Session::Session(tcp::socket&& socket, SessionContext& context)
    : stream_(std::move(socket)), context_(context) {
  beast::error_code ec;
  auto endpoint = stream_.socket().remote_endpoint(ec);
  remote_ = ec ? "unknown" : endpoint.address().to_string();
}

Session::~Session() { context_.registry.remove(this); }

void Session::start() {
  if (!context_.registry.add(shared_from_this())) {
    context_.log.warn("connection_refused",
                      {{"remote", remote_}, {"reason", "draining or connections_max"}});
    return close_now();
  }
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_read(); });
}

void Session::drain() {
  net::post(stream_.get_executor(), [self = shared_from_this()] {
    self->draining_ = true;
    // Idle between requests: nothing to finish, so stop waiting for one.
    if (self->reading_ && !self->parser_->got_some() && self->buffer_.size() == 0) {
      self->stream_.cancel();
    }
  });
}

void Session::do_read() {
  // A drain that ran before this session's first read found nothing to cancel; honour it here.
  if (draining_) {
    return close_now();
  }
  parser_.emplace();
  parser_->eager(true);  // parse the body in the same put() as the header when it is buffered
  parser_->header_limit(static_cast<uint32_t>(context_.limits.header_bytes_max));
  parser_->body_limit(context_.limits.body_bytes_max);
  parse_buffered();  // a pipelined request may already be here
}

void Session::parse_buffered() {
  beast::error_code ec;
  while (buffer_.size() > 0 && !parser_->is_done()) {
    size_t used = parser_->put(buffer_.data(), ec);
    buffer_.consume(used);
    if (ec == http::error::need_more) break;
    if (ec) return on_read(ec);
    if (used == 0) break;  // no progress without more input
  }
  if (parser_->is_done()) return on_read({});
  if (parser_->got_some()) {
    auto now = std::chrono::steady_clock::now();
    if (!first_byte_seen_) {
      first_byte_seen_ = true;
      request_started_ = now;
    } else if (now - request_started_ >
               std::chrono::milliseconds(context_.limits.request_timeout_ms)) {
      context_.log.warn("request_rejected", {{"remote", remote_}, {"reason", "request_timeout"}});
      return close_now();
    }
  }
  read_some();
}

void Session::read_some() {
  // Re-armed before every read, so the timer measures silence, not the length of the request.
  stream_.expires_after(std::chrono::milliseconds(context_.limits.idle_timeout_ms));
  reading_ = true;
  stream_.async_read_some(buffer_.prepare(kReadChunkBytes),
                          beast::bind_front_handler(&Session::on_read_some, shared_from_this()));
}

void Session::on_read_some(beast::error_code ec, size_t bytes) {
  reading_ = false;
  buffer_.commit(bytes);
  if (ec == net::error::eof) {
    // Between requests this is a normal close; mid-request the client gave up.
    return on_read(parser_->got_some() || buffer_.size() > 0 ? http::error::partial_message
                                                             : http::error::end_of_stream);
  }
  if (ec) return on_read(ec);
  parse_buffered();
}

void Session::on_read(beast::error_code ec) {
  first_byte_seen_ = false;
  if (ec == http::error::end_of_stream) return do_close();
  if (ec == net::error::operation_aborted) {
    // Cancelled by drain() while idle: nothing was sent, so nothing needs a graceful close.
    return close_now();
  }
  if (ec == beast::error::timeout) return;  // tcp_stream has already closed the socket
  if (ec == http::error::body_limit) {
    return reject(
        fail(ErrorCode::kPayloadTooLarge,
             "request body exceeds " + std::to_string(context_.limits.body_bytes_max) + " bytes"),
        "body_limit");
  }
  if (ec == http::error::header_limit) {
    return reject(fail(ErrorCode::kHeadersTooLarge,
                       "request headers exceed " +
                           std::to_string(context_.limits.header_bytes_max) + " bytes"),
                  "header_limit");
  }
  if (ec == http::error::partial_message) return do_close();  // the client left mid-request
  if (ec) {
    if (!parser_->got_some()) return do_close();  // peer went away between requests
    return reject(fail(ErrorCode::kInvalidArgument, "malformed HTTP request: " + ec.message()),
                  "bad_request");
  }
  handled_at_ = std::chrono::steady_clock::now();
  handle(parser_->get());
}

void Session::handle(const Request& request) {
  // The request stays alive in parser_ until the response is written: nothing reads meanwhile.
  auto self = shared_from_this();
  // CORS preflight; the handlers of browser routes answer CORS on the real requests.
  if (request.method() == http::verb::options) {
    return respond(preflight_response(context_.router, request));
  }
  context_.router.route(
      request,
      [self](Response response) {
        net::dispatch(self->stream_.get_executor(),
                      [self, response = std::move(response)]() mutable {
                        self->respond(std::move(response));
                      });
      },
      [self](Response head, std::function<void(std::shared_ptr<ResponseStream>)> ready) {
        net::dispatch(self->stream_.get_executor(),
                      [self, head = std::move(head), ready = std::move(ready)]() mutable {
                        self->open_stream(std::move(head), std::move(ready));
                      });
      });
}

// ---- Streamed responses ----------------------------------------------------------------------

// What a handler writes through; every call hops onto the session's strand. Once the session
// is gone, writes are dropped.
class SessionStream final : public ResponseStream {
 public:
  explicit SessionStream(std::weak_ptr<Session> session, net::any_io_executor executor)
      : session_(std::move(session)), executor_(std::move(executor)) {}

  void write(std::string data) override {
    if (data.empty()) return;
    char size[20];
    int length = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    std::string framed(size, static_cast<size_t>(length));
    framed += data;
    framed += "\r\n";
    run([framed = std::move(framed)](Session& s) mutable { s.stream_write(std::move(framed)); });
  }
  void finish() override {
    run([](Session& s) { s.stream_finish(); });
  }
  void on_disconnect(std::function<void()> callback) override {
    run([callback = std::move(callback)](Session& s) mutable {
      s.stream_on_disconnect(std::move(callback));
    });
  }

 private:
  template <typename F>
  void run(F f) {
    net::dispatch(executor_, [weak = session_, f = std::move(f)]() mutable {
      if (auto session = weak.lock()) f(*session);
    });
  }
  std::weak_ptr<Session> session_;
  net::any_io_executor executor_;
};

void Session::open_stream(Response head,
                          std::function<void(std::shared_ptr<ResponseStream>)> ready) {
  const Request& request = parser_->get();
  std::string request_id = new_request_id();
  // A streamed answer ends the connection: the socket is watched for the client leaving, so
  // it cannot also wait for the next request.
  std::string text = "HTTP/1.1 " + std::to_string(head.result_int()) + " " +
                     std::string(http::obsolete_reason(head.result())) + "\r\n";
  for (const auto& field : head) {
    text += std::string(field.name_string()) + ": " + std::string(field.value()) + "\r\n";
  }
  text += "x-request-id: " + request_id + "\r\nserver: tollgate\r\n";
  text += "transfer-encoding: chunked\r\nconnection: close\r\n\r\n";
  auto elapsed = std::chrono::steady_clock::now() - handled_at_;
  context_.log.info(
      "http_request",
      {{"request_id", request_id},
       {"method", std::string(request.method_string())},
       {"path", std::string(target_path(request.target()))},
       {"status", head.result_int()},
       {"duration_us", std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count()},
       {"streamed", true},
       {"remote", remote_}});
  streaming_ = true;
  stall_timer_.emplace(stream_.get_executor());
  stream_.expires_never();  // the stall timer and the peer watch take over
  stream_write(std::move(text));
  watch_peer();
  ready(std::make_shared<SessionStream>(weak_from_this(), stream_.get_executor()));
}

void Session::stream_write(std::string framed) {
  if (stream_broken_ || stream_finished_) return;
  stream_queued_bytes_ += framed.size();
  stream_chunks_.push_back(std::move(framed));
  if (stream_queued_bytes_ > kStreamQueuedBytesMax) {
    context_.log.warn("stream_dropped", {{"remote", remote_}, {"reason", "client too slow"}});
    return break_stream();
  }
  pump_stream();
}

void Session::stream_finish() {
  if (stream_broken_ || stream_finished_) return;
  stream_chunks_.push_back("0\r\n\r\n");
  stream_finished_ = true;
  pump_stream();
}

void Session::stream_on_disconnect(std::function<void()> callback) {
  if (stream_broken_) return callback();
  if (!stream_ended_) on_disconnect_ = std::move(callback);
}

void Session::pump_stream() {
  if (stream_writing_ || stream_broken_) return;
  if (stream_chunks_.empty()) {
    if (stream_finished_ && !stream_ended_) {
      stream_ended_ = true;
      on_disconnect_ = nullptr;
      beast::error_code ignored;
      stream_.socket().cancel(ignored);  // stops the peer watch, which then closes gracefully
    }
    return;
  }
  stream_writing_ = true;
  stall_timer_->expires_after(std::chrono::milliseconds(context_.limits.idle_timeout_ms));
  stall_timer_->async_wait([weak = weak_from_this()](beast::error_code ec) {
    auto self = weak.lock();
    if (!ec && self && self->stream_writing_) {
      self->context_.log.warn("stream_dropped", {{"remote", self->remote_}, {"reason", "stalled"}});
      self->break_stream();
    }
  });
  net::async_write(stream_.socket(), net::buffer(stream_chunks_.front()),
                   beast::bind_front_handler(&Session::on_stream_written, shared_from_this()));
}

void Session::on_stream_written(beast::error_code ec, size_t) {
  stream_writing_ = false;
  stall_timer_->cancel();
  // Broken meanwhile (the peer watch saw the client leave): what is queued goes nowhere.
  if (ec || stream_broken_) {
    stream_chunks_.clear();
    return break_stream();
  }
  stream_queued_bytes_ -= stream_chunks_.front().size();
  stream_chunks_.pop_front();
  pump_stream();
}

void Session::watch_peer() {
  stream_.socket().async_read_some(net::buffer(peer_buffer_),
                                   beast::bind_front_handler(&Session::on_peer, shared_from_this()));
}

void Session::on_peer(beast::error_code ec, size_t) {
  if (stream_ended_) return do_close();  // cancelled after the last chunk: close gracefully
  if (ec) return break_stream();         // the client closed or reset the connection
  watch_peer();                          // bytes after the request are ignored
}

void Session::break_stream() {
  if (stream_broken_) return;
  stream_broken_ = true;
  // A chunk being written stays until its write completes: the write still reads it.
  while (stream_chunks_.size() > (stream_writing_ ? 1 : 0)) stream_chunks_.pop_back();
  stream_queued_bytes_ = 0;
  if (auto callback = std::move(on_disconnect_)) {
    on_disconnect_ = nullptr;
    callback();
  }
  close_now();
}

void Session::respond(Response response) {
  const Request& request = parser_->get();
  response.version(request.version());
  response.keep_alive(request.keep_alive() && !draining_);
  send(std::move(response), std::string(request.method_string()),
       std::string(target_path(request.target())));
}

void Session::reject(const Error& error, std::string_view what) {
  handled_at_ = std::chrono::steady_clock::now();
  Response response = error_response(error);
  response.keep_alive(false);  // the stream is no longer at a request boundary
  std::string method = parser_->is_header_done() ? std::string(parser_->get().method_string()) : "";
  std::string path =
      parser_->is_header_done() ? std::string(target_path(parser_->get().target())) : "";
  context_.log.warn("request_rejected", {{"remote", remote_}, {"reason", what}});
  send(std::move(response), std::move(method), std::move(path));
}

void Session::send(Response response, std::string method, std::string path) {
  std::string request_id = new_request_id();
  response.set("x-request-id", request_id);
  response.set(http::field::server, "tollgate");
  response.prepare_payload();
  auto elapsed = std::chrono::steady_clock::now() - handled_at_;
  // The path only, never the query string: keys may travel in ?key=.
  context_.log.info(
      "http_request",
      {{"request_id", request_id},
       {"method", method},
       {"path", path},
       {"status", response.result_int()},
       {"duration_us", std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count()},
       {"bytes_out", response.body().size()},
       {"remote", remote_}});
  bool close = !response.keep_alive();
  response_.emplace(std::move(response));
  serializer_.emplace(*response_);
  write_some(close);
}

void Session::write_some(bool close) {
  stream_.expires_after(std::chrono::milliseconds(context_.limits.idle_timeout_ms));
  http::async_write_some(
      stream_, *serializer_,
      beast::bind_front_handler(&Session::on_write_some, shared_from_this(), close));
}

void Session::on_write_some(bool close, beast::error_code ec, size_t) {
  if (!ec && !serializer_->is_done()) return write_some(close);
  serializer_.reset();
  response_.reset();
  if (ec) return;  // the peer is gone; the socket closes when the session is destroyed
  if (close || draining_) return do_close();
  do_read();
}

void Session::close_now() {
  beast::error_code ignored;
  stream_.socket().close(ignored);
}

void Session::do_close() {
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) return;
  stream_.expires_after(std::chrono::milliseconds(context_.limits.close_linger_ms));
  stream_.async_read_some(net::buffer(linger_buffer_),
                          beast::bind_front_handler(&Session::on_linger, shared_from_this()));
}

void Session::on_linger(beast::error_code ec, size_t bytes) {
  linger_bytes_ += bytes;
  if (ec || linger_bytes_ > kLingerBytesMax)
    return;  // EOF, timeout or enough: the socket closes with us
  stream_.async_read_some(net::buffer(linger_buffer_),
                          beast::bind_front_handler(&Session::on_linger, shared_from_this()));
}

}  // namespace tollgate::server
