#include "server/http/session.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <exception>
#include <optional>

#include "server/http/cors.h"
#include "server/http/error_response.h"
#include "server/http/request_log.h"

namespace tollgate::server {
namespace {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

int64_t steady_ns(SteadyClock::time_point when) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count();
}

ReaderLimits reader_limits(const Limits& limits) {
  ReaderLimits out;
  out.header_bytes_max = limits.header_bytes_max;
  out.body_bytes_max = limits.body_bytes_max;
  out.chunk_extension_bytes_max = limits.chunk_extension_bytes_max;
  out.header_timeout = std::chrono::milliseconds(limits.header_timeout_ms);
  out.request_timeout = std::chrono::milliseconds(limits.request_timeout_ms);
  out.body_rate_min_bytes_per_s = limits.body_rate_min_bytes_per_s;
  out.body_rate_grace = std::chrono::milliseconds(limits.body_rate_grace_ms);
  return out;
}

// The error code whose status is the reader's: the one table (http_status) maps it back.
ErrorCode code_for(http::status status) {
  switch (status) {
    case http::status::payload_too_large:
      return ErrorCode::kPayloadTooLarge;
    case http::status::request_header_fields_too_large:
      return ErrorCode::kHeadersTooLarge;
    case http::status::request_timeout:
      return ErrorCode::kRequestTimeout;
    case http::status::not_implemented:
      return ErrorCode::kNotImplemented;
    default:
      return ErrorCode::kInvalidArgument;
  }
}

std::string_view refusal_reason(Admission admission) {
  switch (admission) {
    case Admission::kDraining:
      return "draining";
    case Admission::kClientFull:
      return "connections_per_ip_max";
    case Admission::kFull:
      return "connections_max";
    case Admission::kAdmitted:
      break;
  }
  return "";
}

}  // namespace

Session::Session(tcp::socket&& socket, SessionContext& context)
    : stream_(std::move(socket)),
      reader_(reader_limits(context.limits)),
      read_timer_(stream_.get_executor()),
      context_(context) {
  beast::error_code ec;
  auto endpoint = stream_.socket().remote_endpoint(ec);
  remote_ = ec ? "unknown" : endpoint.address().to_string();
  client_ = ec ? "unknown" : client_bucket(endpoint.address());
}

Session::~Session() { context_.registry.remove(this); }

void Session::start() {
  slot_.mark_sheddable(steady_ns(SteadyClock::now()));
  Admission admission = context_.registry.add(shared_from_this(), &slot_, client_);
  if (admission != Admission::kAdmitted) {
    context_.log.warn("connection_refused",
                      {{"remote", remote_}, {"reason", refusal_reason(admission)}});
    return close_now();
  }
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_read(); });
}

void Session::drain() {
  net::post(stream_.get_executor(), [self = shared_from_this()] {
    self->draining_ = true;
    // Idle between requests: nothing to finish, so stop waiting for one.
    if (self->reading_ && !self->reader_.got_some()) {
      beast::error_code ignored;
      self->stream_.socket().cancel(ignored);
    }
  });
}

void Session::shed() {
  net::post(stream_.get_executor(), [self = shared_from_this()] {
    self->context_.log.warn("connection_shed",
                            {{"remote", self->remote_}, {"reason", "connections_max"}});
    self->close_now();
  });
}

void Session::do_read() {
  // A drain that ran before this session's first read found nothing to cancel; honour it here.
  if (draining_) {
    return close_now();
  }
  auto now = SteadyClock::now();
  waiting_since_ = now;
  slot_.mark_sheddable(steady_ns(now));
  reader_.start(now);  // a pipelined request may already be buffered
  parse_buffered();
}

void Session::parse_buffered() {
  switch (reader_.parse(SteadyClock::now())) {
    case RequestReader::Status::kReady:
      handled_at_ = SteadyClock::now();
      return handle(reader_.request());
    case RequestReader::Status::kFailed:
      return reject(reader_.failure());
    case RequestReader::Status::kNeedMore:
      return read_some();
  }
}

void Session::read_some() {
  // The timer measures silence (re-armed before every read), the wait for a first byte, and the
  // reader's deadlines, whichever ends first.
  auto now = SteadyClock::now();
  SteadyClock::time_point deadline = now + std::chrono::milliseconds(context_.limits.idle_timeout_ms);
  if (!reader_.got_some()) {
    deadline = std::min(
        deadline, waiting_since_ + std::chrono::milliseconds(context_.limits.keepalive_timeout_ms));
  }
  if (auto reader_deadline = reader_.deadline()) deadline = std::min(deadline, *reader_deadline);
  read_timed_out_ = false;
  read_timer_.expires_at(deadline);
  read_timer_.async_wait([weak = weak_from_this(), read = ++read_seq_](beast::error_code ec) {
    if (auto self = weak.lock(); self && !ec) self->on_read_timer(read);
  });
  reading_ = true;
  stream_.expires_never();  // the read timer above bounds reads; tcp_stream's bounds writes
  stream_.socket().async_read_some(
      reader_.prepare(kReadBytesMax),
      beast::bind_front_handler(&Session::on_read_some, shared_from_this()));
}

void Session::on_read_timer(uint64_t read) {
  if (read != read_seq_ || !reading_) return;  // that read has completed meanwhile
  read_timed_out_ = true;
  beast::error_code ignored;
  stream_.socket().cancel(ignored);
}

void Session::on_read_some(beast::error_code ec, size_t bytes) {
  reading_ = false;
  read_timer_.cancel();
  reader_.commit(bytes);
  bool timed_out = std::exchange(read_timed_out_, false);
  // Between requests EOF is a normal close; mid-request the client gave up: nothing to answer.
  if (ec == net::error::eof) return do_close(false);
  if (ec == net::error::operation_aborted && timed_out) return on_read_timeout();
  if (ec) return close_now();  // cancelled by drain() or shed(), or the connection broke
  parse_buffered();
}

void Session::on_read_timeout() {
  // Waiting for a request that never started: nothing is owed, and nothing is unread.
  if (!reader_.got_some()) return close_now();
  reject(
      reader_.timed_out(SteadyClock::now(), std::chrono::milliseconds(context_.limits.idle_timeout_ms)));
}

void Session::handle(const Request& request) {
  if (!slot_.mark_busy()) return close_now();  // shed between its last byte and now
  ++request_seq_;
  answered_ = false;
  // The request stays alive in reader_ until the response is written: nothing reads meanwhile.
  auto self = shared_from_this();
  // CORS preflight; the handlers of browser routes answer CORS on the real requests.
  if (request.method() == http::verb::options) {
    return respond(preflight_response(context_.router, request));
  }
  // Answers are matched to this request: after a synchronous throw answered 500, a late answer
  // from the handler must not be taken for the next request's.
  uint64_t current = request_seq_;
  try {
    context_.router.route(
        request,
        [self, current](Response response) {
          net::dispatch(self->stream_.get_executor(),
                        [self, current, response = std::move(response)]() mutable {
                          self->respond_to(current, std::move(response));
                        });
        },
        [self, current](Response head, std::function<void(std::shared_ptr<ResponseStream>)> ready) {
          net::dispatch(self->stream_.get_executor(), [self, current, head = std::move(head),
                                                       ready = std::move(ready)]() mutable {
            if (current != self->request_seq_ || self->answered_) return;
            self->answered_ = true;
            self->open_stream(std::move(head), std::move(ready));
          });
        });
  } catch (...) {
    // Never echo exception text: it may carry internal detail.
    respond_to(current, error_response(fail(ErrorCode::kInternal, "internal error")));
  }
}

void Session::respond_to(uint64_t request, Response response) {
  if (request != request_seq_ || answered_) return;
  answered_ = true;
  respond(std::move(response));
}

void Session::respond(Response response) {
  const Request& request = reader_.request();
  response.version(request.version());
  response.keep_alive(request.keep_alive() && !draining_);
  send(std::move(response), std::string(request.method_string()),
       context_.router.template_of(request.target()));
}

void Session::reject(const ReadFailure& failure) {
  if (!slot_.mark_busy()) return close_now();  // shed meanwhile: nobody waits for the answer
  handled_at_ = SteadyClock::now();
  reject_sent_ = true;
  Response response = error_response(fail(code_for(failure.status), failure.message));
  response.keep_alive(false);  // the stream is no longer at a request boundary
  bool header = reader_.header_done();
  std::string method = header ? std::string(reader_.request().method_string()) : "";
  std::optional<std::string> path =
      header ? context_.router.template_of(reader_.request().target()) : std::nullopt;
  context_.log.warn("request_rejected", {{"remote", remote_},
                                         {"reason", failure.reason},
                                         {"status", static_cast<int>(failure.status)}});
  send(std::move(response), std::move(method), std::move(path));
}

void Session::send(Response response, std::string method, std::optional<std::string> path) {
  std::string request_id = new_request_id();
  // The project the request was authenticated to, for its log line only (server/api/route.h).
  std::string project(response[kProjectLogHeader]);
  response.erase(kProjectLogHeader);
  response.set("x-request-id", request_id);
  response.set(http::field::server, "tollgate");
  if (response.keep_alive()) {
    // Tells clients when an idle connection will be closed, so they do not reuse it just then.
    response.set(http::field::keep_alive,
                 "timeout=" + std::to_string(std::min(context_.limits.keepalive_timeout_ms,
                                                      context_.limits.idle_timeout_ms) /
                                             1000));
  }
  response.prepare_payload();
  auto elapsed = SteadyClock::now() - handled_at_;
  // The route template only, never the raw path (user ids are often emails) nor the query
  // string (keys may travel in ?key=); null when no route matched.
  nlohmann::ordered_json line = {
      {"request_id", request_id},
      {"method", method},
      {"path", path ? nlohmann::ordered_json(*path) : nlohmann::ordered_json(nullptr)},
      {"status", response.result_int()},
      {"duration_us", std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count()},
      {"bytes_out", response.body().size()},
      {"remote", remote_}};
  if (!project.empty()) line["project"] = std::move(project);
  if (auto code = error_code_of(response)) line["error_code"] = std::move(*code);
  record_request(context_.log, context_.metrics, method,
                 path ? std::string_view(*path) : std::string_view(), response.result_int(),
                 elapsed, std::move(line));
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
  if (close || draining_) return do_close(std::exchange(reject_sent_, false));
  do_read();
}

void Session::close_now() {
  beast::error_code ignored;
  read_timer_.cancel();
  stream_.socket().close(ignored);
}

void Session::do_close(bool body_unread) {
  slot_.mark_sheddable(steady_ns(SteadyClock::now()));
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) return;
  // Closing with unread bytes makes the kernel send a reset, which can destroy the answer before
  // the client reads it: read and drop them first. A client still sending a body it was told is
  // refused gets longer than one that only owes its FIN.
  linger_bytes_ = 0;
  stream_.expires_after(std::chrono::milliseconds(body_unread ? context_.limits.linger_timeout_ms
                                                              : context_.limits.close_linger_ms));
  stream_.async_read_some(net::buffer(linger_buffer_),
                          beast::bind_front_handler(&Session::on_linger, shared_from_this()));
}

void Session::on_linger(beast::error_code ec, size_t bytes) {
  linger_bytes_ += bytes;
  // EOF, timeout or enough: the socket closes with us.
  if (ec || linger_bytes_ >= context_.limits.linger_bytes_max) return;
  stream_.async_read_some(net::buffer(linger_buffer_),
                          beast::bind_front_handler(&Session::on_linger, shared_from_this()));
}

}  // namespace tollgate::server
