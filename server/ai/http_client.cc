#include "server/ai/http_client.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/version.hpp>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <variant>

namespace tollgate::server {

namespace beast = boost::beast;
namespace net = boost::asio;
namespace ssl = net::ssl;
namespace http = beast::http;
using tcp = net::ip::tcp;

std::optional<ParsedUrl> parse_url(std::string_view url) {
  ParsedUrl out;
  if (url.starts_with("https://")) {
    out.tls = true;
    url.remove_prefix(8);
  } else if (url.starts_with("http://")) {
    url.remove_prefix(7);
  } else {
    return std::nullopt;
  }
  size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  out.target = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  size_t colon = authority.rfind(':');
  size_t bracket = authority.rfind(']');
  if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
    out.host = std::string(authority.substr(0, colon));
    out.port = std::string(authority.substr(colon + 1));
    if (out.port.empty() || out.port.size() > 5 ||
        out.port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(out.port) < 1 || std::stoi(out.port) > 65535) {
      return std::nullopt;
    }
  } else {
    out.host = std::string(authority);
    out.port = out.tls ? "443" : "80";
  }
  if (out.host.size() > 2 && out.host.front() == '[' && out.host.back() == ']')
    out.host = out.host.substr(1, out.host.size() - 2);
  if (out.host.empty()) return std::nullopt;
  return out;
}

namespace {

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// One connection to an origin, plain or TLS.
struct Connection {
  std::variant<std::unique_ptr<beast::tcp_stream>, std::unique_ptr<TlsStream>> stream;
  beast::flat_buffer buffer;
  bool reused = false;

  beast::tcp_stream& tcp() {
    if (auto* plain = std::get_if<std::unique_ptr<beast::tcp_stream>>(&stream)) return **plain;
    return beast::get_lowest_layer(*std::get<std::unique_ptr<TlsStream>>(stream));
  }
  template <typename F>
  void visit(F&& f) {
    if (auto* plain = std::get_if<std::unique_ptr<beast::tcp_stream>>(&stream)) return f(**plain);
    f(*std::get<std::unique_ptr<TlsStream>>(stream));
  }
};

std::string origin_key(const ParsedUrl& url) {
  return (url.tls ? "https://" : "http://") + url.host + ":" + url.port;
}

std::chrono::milliseconds backoff(int attempt, std::optional<std::chrono::milliseconds> retry_after) {
  thread_local std::mt19937 rng{std::random_device{}()};
  auto ceiling = std::min<int64_t>(kRetryBackoffCap.count(),
                                   kRetryBackoffBase.count() << std::min(attempt - 1, 10));
  // Full jitter: a uniform pick up to the ceiling, so clients retrying together spread out.
  auto delay = std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(0, ceiling)(rng));
  if (retry_after) delay = std::max(delay, std::min(*retry_after, kRetryBackoffCap));
  return delay;
}

bool retryable_status(int status) { return status == 429 || status >= 500; }

}  // namespace

struct HttpClient::Impl : std::enable_shared_from_this<HttpClient::Impl> {
  std::optional<net::io_context> own;  // when the client runs its own threads
  net::io_context& ioc;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  ssl::context tls{ssl::context::tls_client};
  std::vector<std::thread> threads;
  std::mutex pool_mutex;
  std::map<std::string, std::deque<std::unique_ptr<Connection>>> idle;

  explicit Impl(net::io_context* shared) : ioc(shared ? *shared : own.emplace()) {
    tls.set_default_verify_paths();
    tls.set_verify_mode(ssl::verify_peer);
    tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  }

  std::unique_ptr<Connection> take_idle(const std::string& key) {
    std::lock_guard lock(pool_mutex);
    auto found = idle.find(key);
    if (found == idle.end() || found->second.empty()) return nullptr;
    auto connection = std::move(found->second.back());
    found->second.pop_back();
    connection->reused = true;
    return connection;
  }

  void give_back(const std::string& key, std::unique_ptr<Connection> connection) {
    std::lock_guard lock(pool_mutex);
    auto& list = idle[key];
    if (list.size() >= kPoolIdlePerOriginMax) return;  // closed on destruction
    connection->buffer.clear();
    list.push_back(std::move(connection));
  }
};

namespace {

// One request, with its retries, on a strand of the client's io_context.
class Exchange final : public UpstreamExchange, public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(std::shared_ptr<HttpClient::Impl> client, UpstreamTimeouts timeouts, ParsedUrl url,
           UpstreamRequest request, UpstreamHandlers handlers)
      : client_(std::move(client)),
        timeouts_(timeouts),
        strand_(net::make_strand(client_->ioc)),
        resolver_(strand_),
        retry_timer_(strand_),
        deadline_(strand_),
        url_(std::move(url)),
        key_(origin_key(url_)),
        handlers_(std::move(handlers)) {
    message_.method(http::verb::post);
    message_.target(url_.target);
    message_.version(11);
    bool default_port = url_.port == (url_.tls ? "443" : "80");
    message_.set(http::field::host, default_port ? url_.host : url_.host + ":" + url_.port);
    message_.set(http::field::user_agent, "tollgate");
    message_.set(http::field::content_type, "application/json");
    message_.set(http::field::accept_encoding, "identity");
    for (auto& [name, value] : request.headers) message_.set(name, value);
    message_.body() = std::move(request.body);
    message_.keep_alive(true);
    message_.prepare_payload();
  }

  void start() {
    net::dispatch(strand_, [self = shared_from_this()] {
      self->deadline_.expires_after(self->timeouts_.total);
      self->deadline_.async_wait([self](beast::error_code ec) {
        if (!ec) self->fail(ErrorCode::kUpstreamTimeout, "the provider did not finish in time");
      });
      self->attempt();
    });
  }

  void cancel() override {
    net::dispatch(strand_, [self = shared_from_this()] {
      self->fail(ErrorCode::kUpstreamError, "cancelled");
    });
  }

 private:
  void attempt() {
    if (done_) return;
    ++attempts_;
    connection_ = client_->take_idle(key_);
    if (connection_) return send();
    connect();
  }

  void connect() {
    connection_ = std::make_unique<Connection>();
    if (url_.tls) {
      auto stream = std::make_unique<TlsStream>(strand_, client_->tls);
      if (!SSL_set_tlsext_host_name(stream->native_handle(), url_.host.c_str())) {
        return fail(ErrorCode::kUpstreamError, "cannot set the TLS server name");
      }
      stream->set_verify_callback(ssl::host_name_verification(url_.host));
      connection_->stream = std::move(stream);
    } else {
      connection_->stream = std::make_unique<beast::tcp_stream>(strand_);
    }
    // An IP address needs no lookup (the resolver runs lookups one at a time on its own thread).
    beast::error_code not_ip;
    auto address = net::ip::make_address(url_.host, not_ip);
    if (!not_ip) {
      tcp::endpoint endpoint(address, static_cast<uint16_t>(std::stoi(url_.port)));
      return connect_to(tcp::resolver::results_type::create(endpoint, url_.host, url_.port));
    }
    resolver_.async_resolve(
        url_.host, url_.port,
        [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type results) {
          if (self->done_) return;
          if (ec) return self->retry_or_fail(0, "cannot resolve the provider's host", {});
          self->connect_to(results);
        });
  }

  void connect_to(const tcp::resolver::results_type& results) {
    auto self = shared_from_this();
    connection_->tcp().expires_after(timeouts_.connect);
    connection_->tcp().async_connect(results, [self](beast::error_code ec, const tcp::endpoint&) {
      if (self->done_) return;
      if (ec) return self->retry_or_fail(0, "cannot connect to the provider", {});
      if (!self->url_.tls) return self->send();
      auto& tls = *std::get<std::unique_ptr<TlsStream>>(self->connection_->stream);
      self->connection_->tcp().expires_after(self->timeouts_.connect);
      tls.async_handshake(ssl::stream_base::client, [self](beast::error_code tls_ec) {
        if (self->done_) return;
        if (tls_ec) {
          // A certificate that does not verify is not retried: it will not change.
          return self->fail(ErrorCode::kUpstreamError,
                            "TLS with the provider failed: " + tls_ec.message());
        }
        self->send();
      });
    });
  }

  void send() {
    connection_->tcp().expires_after(timeouts_.connect + timeouts_.first_byte);
    connection_->visit([self = shared_from_this()](auto& stream) {
      http::async_write(stream, self->message_, [self](beast::error_code ec, size_t) {
        if (self->done_) return;
        if (ec) return self->stale_or_retry("cannot send the request to the provider");
        self->read_head();
      });
    });
  }

  void read_head() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(kResponseHeaderBytesMax));
    parser_->body_limit(kResponseBodyBytesMax);
    connection_->tcp().expires_after(timeouts_.first_byte);
    connection_->visit([self = shared_from_this()](auto& stream) {
      http::async_read_header(
          stream, self->connection_->buffer, *self->parser_,
          [self](beast::error_code ec, size_t) {
            if (self->done_) return;
            if (ec == beast::error::timeout) {
              return self->retry_or_fail(0, "the provider did not answer in time", {},
                                         ErrorCode::kUpstreamTimeout);
            }
            if (ec) return self->stale_or_retry("the provider closed the connection");
            self->on_head();
          });
    });
  }

  // A reused connection the provider had already closed: try a fresh one, not counted.
  void stale_or_retry(const char* what) {
    if (connection_ && connection_->reused) {
      connection_.reset();
      return connect();
    }
    retry_or_fail(0, what, {});
  }

  void on_head() {
    status_ = static_cast<int>(parser_->get().result_int());
    if (status_ >= 200 && status_ < 300) return read_body();
    std::optional<std::chrono::milliseconds> retry_after;
    auto header = parser_->get().find(http::field::retry_after);
    if (header != parser_->get().end()) {
      try {
        retry_after = std::chrono::seconds(std::stol(std::string(header->value())));
      } catch (...) {
      }
    }
    read_error_body(retry_after);
  }

  // Reads the next piece of the body into chunk_; `then(ec, bytes)` runs on the strand unless
  // the exchange has finished meanwhile.
  template <typename Then>
  void read_chunk(Then then) {
    parser_->get().body().data = chunk_.data();
    parser_->get().body().size = chunk_.size();
    connection_->tcp().expires_after(timeouts_.idle);
    connection_->visit([self = shared_from_this(), then = std::move(then)](auto& stream) mutable {
      http::async_read_some(
          stream, self->connection_->buffer, *self->parser_,
          [self, then = std::move(then)](beast::error_code ec, size_t) mutable {
            if (self->done_) return;
            if (ec == http::error::need_buffer) ec = {};
            then(ec, self->chunk_.size() - self->parser_->get().body().size);
          });
    });
  }

  void read_body() {
    read_chunk([self = shared_from_this()](beast::error_code ec, size_t got) {
      if (got > 0 && self->handlers_.on_body) {
        self->body_started_ = true;
        self->handlers_.on_body(std::string_view(self->chunk_.data(), got));
      }
      if (self->done_) return;
      if (ec == beast::error::timeout) {
        return self->fail(ErrorCode::kUpstreamTimeout, "the provider stopped sending");
      }
      if (ec) return self->fail(ErrorCode::kUpstreamError, "the provider's answer broke off");
      if (!self->parser_->is_done()) return self->read_body();
      self->finish_ok();
    });
  }

  void read_error_body(std::optional<std::chrono::milliseconds> retry_after) {
    read_chunk([self = shared_from_this(), retry_after](beast::error_code ec, size_t got) {
      if (self->error_body_.size() < kErrorBodyBytesMax) {
        self->error_body_.append(self->chunk_.data(),
                                 std::min(got, kErrorBodyBytesMax - self->error_body_.size()));
      }
      if (!ec && !self->parser_->is_done()) return self->read_error_body(retry_after);
      bool reusable = !ec && self->parser_->keep_alive();
      if (!reusable) self->connection_.reset();
      self->retry_or_fail(self->status_,
                          "the provider answered HTTP " + std::to_string(self->status_),
                          retry_after);
    });
  }

  void retry_or_fail(int status, std::string what,
                     std::optional<std::chrono::milliseconds> retry_after,
                     ErrorCode code = ErrorCode::kUpstreamError) {
    bool retry = (status == 0 || retryable_status(status)) && attempts_ < kUpstreamAttemptsMax;
    if (status != 0 && connection_ && parser_ && parser_->is_done() && parser_->keep_alive()) {
      client_->give_back(key_, std::move(connection_));
    }
    connection_.reset();
    if (!retry) {
      UpstreamFailure failure{fail_error(code, std::move(what)), status, std::move(error_body_), false};
      return finish(std::move(failure));
    }
    error_body_.clear();
    retry_timer_.expires_after(backoff(attempts_, retry_after));
    retry_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec && !self->done_) self->attempt();
    });
  }

  static Error fail_error(ErrorCode code, std::string what) { return tollgate::fail(code, std::move(what)); }

  void fail(ErrorCode code, std::string what) {
    if (done_) return;
    UpstreamFailure failure{fail_error(code, std::move(what)), status_, {}, body_started_};
    finish(std::move(failure));
  }

  void finish_ok() {
    if (parser_->keep_alive()) client_->give_back(key_, std::move(connection_));
    connection_.reset();
    finish(std::nullopt);
  }

  void finish(std::optional<UpstreamFailure> failure) {
    if (done_) return;
    done_ = true;
    deadline_.cancel();
    retry_timer_.cancel();
    resolver_.cancel();
    // Closing (not destroying) the socket ends any read in flight, whose handler still holds
    // this exchange and so the connection; a provider whose client left stops generating.
    if (connection_) connection_->tcp().close();
    auto on_done = std::move(handlers_.on_done);
    handlers_ = {};
    if (on_done) on_done(std::move(failure));
  }

  std::shared_ptr<HttpClient::Impl> client_;
  UpstreamTimeouts timeouts_;
  net::strand<net::io_context::executor_type> strand_;
  tcp::resolver resolver_;
  net::steady_timer retry_timer_;
  net::steady_timer deadline_;
  ParsedUrl url_;
  std::string key_;
  UpstreamHandlers handlers_;
  http::request<http::string_body> message_;
  std::unique_ptr<Connection> connection_;
  std::optional<http::response_parser<http::buffer_body>> parser_;
  std::array<char, 16 * 1024> chunk_{};
  std::string error_body_;
  int attempts_ = 0;
  int status_ = 0;
  bool body_started_ = false;
  bool done_ = false;
};

}  // namespace

HttpClient::HttpClient(UpstreamTimeouts timeouts, net::io_context* shared)
    : timeouts_(timeouts), impl_(std::make_shared<Impl>(shared)) {
  if (shared) return;
  impl_->work.emplace(net::make_work_guard(impl_->ioc));
  for (size_t i = 0; i < kUpstreamThreads; ++i) {
    impl_->threads.emplace_back([impl = impl_.get()] { impl->ioc.run(); });
  }
}

HttpClient::~HttpClient() {
  if (impl_->own) {
    impl_->work.reset();
    impl_->ioc.stop();
    for (std::thread& thread : impl_->threads) thread.join();
  }
  // A shared io_context outlives the client: its pooled sockets close now, while it exists.
  std::lock_guard lock(impl_->pool_mutex);
  impl_->idle.clear();
}

Result<std::shared_ptr<UpstreamExchange>> HttpClient::post(UpstreamRequest request,
                                                          UpstreamHandlers handlers) {
  auto url = parse_url(request.url);
  if (!url) {
    return fail(ErrorCode::kInvalidArgument, "the provider URL must be http(s)://host[:port]/path",
                "baseUrl");
  }
  auto exchange = std::make_shared<Exchange>(impl_, timeouts_, std::move(*url), std::move(request),
                                             std::move(handlers));
  exchange->start();
  return std::shared_ptr<UpstreamExchange>(exchange);
}

}  // namespace tollgate::server
