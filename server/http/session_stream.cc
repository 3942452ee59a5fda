// Streamed responses (server-sent events): the head and then chunks, written one at a time
// from a bounded queue, while a read on the socket watches for the client leaving. The rest of
// the session (reading requests, whole responses, closing) is session.cc.
#include <boost/asio/dispatch.hpp>
#include <boost/asio/write.hpp>
#include <cstdio>

#include "server/http/request_log.h"
#include "server/http/session.h"

namespace tollgate::server {
namespace {

namespace beast = boost::beast;
namespace net = boost::asio;

// A streamed response whose client reads slower than this much queued output is dropped.
constexpr size_t kStreamQueuedBytesMax = size_t{1} << 20;

}  // namespace

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
  const Request& request = reader_.request();
  std::string request_id = new_request_id();
  std::string project(head[kProjectLogHeader]);  // for the log line only
  head.erase(kProjectLogHeader);
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
  std::optional<std::string> route = context_.router.template_of(request.target());
  nlohmann::ordered_json line = {
      {"request_id", request_id},
      {"method", std::string(request.method_string())},
      {"path", route ? nlohmann::ordered_json(*route) : nlohmann::ordered_json(nullptr)},
      {"status", head.result_int()},
      {"duration_us", std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count()},
      {"streamed", true},
      {"remote", remote_},
      {"project", project.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(project)}};
  record_request(context_.log, context_.metrics, request.method_string(),
                 route ? std::string_view(*route) : std::string_view(), head.result_int(), elapsed,
                 std::move(line));
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
  stream_.socket().async_read_some(
      net::buffer(peer_buffer_), beast::bind_front_handler(&Session::on_peer, shared_from_this()));
}

void Session::on_peer(beast::error_code ec, size_t) {
  if (stream_ended_) return do_close(false);  // cancelled after the last chunk: close gracefully
  if (ec) return break_stream();              // the client closed or reset the connection
  watch_peer();                               // bytes after the request are ignored
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

}  // namespace tollgate::server
