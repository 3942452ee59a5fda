#include "server/ai/upstream_exchange.h"

#include <array>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <string>
#include <vector>

#include "server/ai/upstream_retry.h"

namespace tollgate::server {

namespace beast = boost::beast;
namespace net = boost::asio;
namespace ssl = net::ssl;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

// The Host header: an IPv6 address in brackets, the port unless it is the scheme's own.
std::string host_header(const ParsedUrl& url) {
  std::string host = url.host_kind == HostKind::kIpv6 ? "[" + url.host + "]" : url.host;
  if (url.port != (url.tls ? "443" : "80")) host += ":" + url.port;
  return host;
}

std::string endpoint_text(const tcp::endpoint& endpoint) {
  std::string address = endpoint.address().to_string();
  if (endpoint.address().is_v6()) address = "[" + address + "]";
  return address + ":" + std::to_string(endpoint.port());
}

// One request, with its retries, on a strand of the client's io_context. Every operation it
// starts (lookup, connect, TLS, reads, writes, timers) completes on that strand, whichever
// exchange opened the connection it is using.
class Exchange final : public UpstreamExchange, public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(std::shared_ptr<HttpClient::Impl> client, UpstreamTimeouts timeouts,
           Result<ParsedUrl> url, UpstreamRequest request, UpstreamHandlers handlers)
      : client_(std::move(client)),
        timeouts_(timeouts),
        strand_(net::make_strand(client_->ioc)),
        resolver_(strand_),
        retry_timer_(strand_),
        deadline_(strand_),
        io_timer_(strand_),
        handlers_(std::move(handlers)) {
    if (!url) {
      refused_ = url.error().message;
      return;
    }
    url_ = std::move(url).value();
    key_ = origin_key(url_);
    http::verb verb = http::string_to_verb(request.method);
    message_.method(verb == http::verb::unknown ? http::verb::post : verb);
    message_.target(url_.target);
    message_.version(11);
    message_.set(http::field::host, host_header(url_));
    message_.set(http::field::user_agent, "tollgate");
    message_.set(http::field::content_type, "application/json");
    message_.set(http::field::accept_encoding, "identity");
    for (auto& [name, value] : request.headers) message_.set(name, value);
    message_.body() = std::move(request.body);
    message_.keep_alive(true);
    message_.prepare_payload();
  }

  // Posted, not dispatched: the handlers never run inside HttpClient::post.
  void start() {
    net::post(strand_, [self = shared_from_this()] {
      if (self->refused_) {
        return self->finish(UpstreamFailure{
            unreachable_error(), 0, {}, false, "the URL is refused: " + *self->refused_});
      }
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
  static Error unreachable_error() {
    return tollgate::fail(ErrorCode::kUpstreamError, std::string(kUpstreamUnreachable));
  }

  // Binds a completion to this exchange's strand. Sockets are made on the bare io_context (a
  // pooled one serves many exchanges), so without this their completions could run anywhere.
  template <typename F>
  auto on_strand(F&& f) {
    return net::bind_executor(strand_, std::forward<F>(f));
  }

  // Arms io_timer_ for the operation about to start on the connection. If it fires first, the
  // socket is closed, which ends the operation, and expired(ec) turns its error into a timeout.
  void arm(std::chrono::milliseconds timeout) {
    uint64_t generation = ++io_generation_;
    io_expired_ = false;
    io_timer_.expires_after(timeout);
    io_timer_.async_wait([self = shared_from_this(), generation](beast::error_code ec) {
      // A wait that completed just as the timer was re-armed is stale: its generation is old.
      if (ec || generation != self->io_generation_ || self->done_) return;
      self->io_expired_ = true;
      self->resolver_.cancel();
      if (self->connection_) {
        beast::error_code ignored;
        self->connection_->socket().close(ignored);
      }
    });
  }

  void disarm() {
    ++io_generation_;
    io_timer_.cancel();
  }

  beast::error_code expired(beast::error_code ec) const {
    return io_expired_ ? beast::error_code(beast::error::timeout) : ec;
  }

  void attempt() {
    if (done_) return;
    ++attempts_;
    detail_.clear();
    connection_ = client_->pool.take(key_);
    if (connection_) return send();
    connect();
  }

  // A fresh connection: lookup, the guard on each address, connect, the guard on the peer, TLS;
  // all within one connect timeout.
  void connect() {
    connection_ = std::make_unique<Connection>();
    if (url_.tls) {
      auto stream = std::make_unique<UpstreamTlsStream>(client_->ioc, client_->tls);
      // SNI carries names only (RFC 6066); an address is verified against the certificate's.
      if (url_.host_kind == HostKind::kName &&
          !SSL_set_tlsext_host_name(stream->native_handle(), url_.host.c_str())) {
        return unreachable("cannot set the TLS server name");
      }
      stream->set_verify_callback(ssl::host_name_verification(url_.host));
      connection_->stream = std::move(stream);
    } else {
      connection_->stream = std::make_unique<tcp::socket>(client_->ioc);
    }
    arm(timeouts_.connect);
    if (url_.host_kind != HostKind::kName) {
      // An address needs no lookup (the resolver runs lookups one at a time on its own thread).
      beast::error_code not_ip;
      auto address = net::ip::make_address(url_.host, not_ip);
      if (not_ip) return unreachable("not an address: " + url_.host);
      tcp::endpoint endpoint(address, static_cast<uint16_t>(std::stoi(url_.port)));
      return connect_to(tcp::resolver::results_type::create(endpoint, url_.host, url_.port));
    }
    resolver_.async_resolve(
        url_.host, url_.port,
        on_strand(
            [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type results) {
              if (self->done_) return;
              ec = self->expired(ec);
              if (ec) {
                return self->unreachable("looking up " + self->url_.host + ": " + ec.message());
              }
              self->connect_to(results);
            }));
  }

  // Connects to the addresses the guard allows, in the order the lookup gave them.
  void connect_to(const tcp::resolver::results_type& results) {
    endpoints_.clear();
    std::string refused;
    for (const auto& entry : results) {
      if (auto allowed = client_->guard.check_address(entry.endpoint().address()); !allowed) {
        refused += (refused.empty() ? "" : "; ") + allowed.error().message;
      } else {
        endpoints_.push_back(entry.endpoint());
      }
    }
    if (endpoints_.empty()) {
      return unreachable("every address of " + url_.host + " is refused: " + refused);
    }
    // async_connect keeps a reference to endpoints_, which lives as long as this exchange.
    net::async_connect(
        connection_->socket(), endpoints_,
        on_strand([self = shared_from_this()](beast::error_code ec, const tcp::endpoint&) {
          if (self->done_) return;
          ec = self->expired(ec);
          if (ec) {
            return self->unreachable("connecting to " + self->url_.host + ": " + ec.message());
          }
          self->on_connected();
        }));
  }

  // The guard again on the peer actually connected to, before a byte is sent.
  void on_connected() {
    beast::error_code ec;
    tcp::endpoint peer = connection_->socket().remote_endpoint(ec);
    if (ec) return unreachable("the connection to " + url_.host + " closed: " + ec.message());
    if (auto allowed = client_->guard.check_address(peer.address()); !allowed) {
      return unreachable("connected to " + endpoint_text(peer) +
                         ", refused: " + allowed.error().message);
    }
    if (!url_.tls) {
      disarm();
      return send();
    }
    auto& tls = *std::get<std::unique_ptr<UpstreamTlsStream>>(connection_->stream);
    tls.async_handshake(
        ssl::stream_base::client,
        on_strand([self = shared_from_this(), peer](beast::error_code tls_ec) {
          if (self->done_) return;
          tls_ec = self->expired(tls_ec);
          if (tls_ec) {
            return self->unreachable("TLS with " + endpoint_text(peer) + ": " + tls_ec.message());
          }
          self->disarm();
          self->send();
        }));
  }

  // Not reached: one message for the caller whatever the cause, retried like a failed connect.
  void unreachable(std::string detail) {
    detail_ = std::move(detail);
    retry_or_fail(0, std::string(kUpstreamUnreachable), {});
  }

  void send() {
    arm(timeouts_.connect + timeouts_.first_byte);
    connection_->visit([self = shared_from_this()](auto& stream) {
      http::async_write(stream, self->message_,
                        self->on_strand([self](beast::error_code ec, size_t) {
                          if (self->done_) return;
                          self->disarm();
                          if (self->expired(ec)) {
                            return self->stale_or_retry("cannot send the request to the provider");
                          }
                          self->read_head();
                        }));
    });
  }

  void read_head() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(kResponseHeaderBytesMax));
    parser_->body_limit(kResponseBodyBytesMax);
    arm(timeouts_.first_byte);
    connection_->visit([self = shared_from_this()](auto& stream) {
      http::async_read_header(stream, self->connection_->buffer, *self->parser_,
                              self->on_strand([self](beast::error_code ec, size_t) {
                                if (self->done_) return;
                                self->disarm();
                                ec = self->expired(ec);
                                if (ec == beast::error::timeout) {
                                  return self->retry_or_fail(0,
                                                             "the provider did not answer in time",
                                                             {}, ErrorCode::kUpstreamTimeout);
                                }
                                if (ec)
                                  return self->stale_or_retry("the provider closed the connection");
                                self->on_head();
                              }));
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
    if (header != parser_->get().end()) retry_after = parse_retry_after(header->value());
    read_error_body(retry_after);
  }

  // Reads the next piece of the body into chunk_; `then(ec, bytes)` runs on the strand unless
  // the exchange has finished meanwhile.
  template <typename Then>
  void read_chunk(Then then) {
    parser_->get().body().data = chunk_.data();
    parser_->get().body().size = chunk_.size();
    arm(timeouts_.idle);
    connection_->visit([self = shared_from_this(), then = std::move(then)](auto& stream) mutable {
      http::async_read_some(
          stream, self->connection_->buffer, *self->parser_,
          self->on_strand([self, then = std::move(then)](beast::error_code ec, size_t) mutable {
            if (self->done_) return;
            self->disarm();
            ec = self->expired(ec);
            if (ec == http::error::need_buffer) ec = {};
            then(ec, self->chunk_.size() - self->parser_->get().body().size);
          }));
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
    disarm();
    bool retry = retry_allowed(status, attempts_);
    if (status != 0 && connection_ && parser_ && parser_->is_done() && parser_->keep_alive()) {
      client_->pool.give_back(key_, std::move(connection_));
    }
    connection_.reset();
    if (!retry) {
      return finish(UpstreamFailure{fail_error(code, std::move(what)), status,
                                    std::move(error_body_), false, std::move(detail_)});
    }
    error_body_.clear();
    retry_timer_.expires_after(retry_backoff(attempts_, retry_after));
    retry_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec && !self->done_) self->attempt();
    });
  }

  static Error fail_error(ErrorCode code, std::string what) {
    return tollgate::fail(code, std::move(what));
  }

  void fail(ErrorCode code, std::string what) {
    if (done_) return;
    UpstreamFailure failure{fail_error(code, std::move(what)), status_, {}, body_started_, {}};
    finish(std::move(failure));
  }

  void finish_ok() {
    if (parser_->keep_alive()) client_->pool.give_back(key_, std::move(connection_));
    connection_.reset();
    finish(std::nullopt);
  }

  void finish(std::optional<UpstreamFailure> failure) {
    if (done_) return;
    done_ = true;
    deadline_.cancel();
    retry_timer_.cancel();
    resolver_.cancel();
    disarm();
    // Closing (not destroying) the socket ends any read in flight, whose handler still holds
    // this exchange and so the connection; a provider whose client left stops generating.
    if (connection_) {
      beast::error_code ignored;
      connection_->socket().close(ignored);
    }
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
  net::steady_timer io_timer_;  // the timeout of the operation in flight on the connection
  uint64_t io_generation_ = 0;
  bool io_expired_ = false;
  std::optional<std::string> refused_;  // why the URL may not be called
  ParsedUrl url_;
  std::string key_;
  UpstreamHandlers handlers_;
  http::request<http::string_body> message_;
  std::unique_ptr<Connection> connection_;
  std::vector<tcp::endpoint> endpoints_;  // the allowed addresses being connected to
  std::optional<http::response_parser<http::buffer_body>> parser_;
  std::array<char, 16 * 1024> chunk_{};
  std::string error_body_;
  std::string detail_;  // why this attempt did not reach the provider, for the owner's log
  int attempts_ = 0;
  int status_ = 0;
  bool body_started_ = false;
  bool done_ = false;
};

}  // namespace

HttpClient::Impl::Impl(net::io_context* shared, OutboundGuard outbound)
    : ioc(shared ? *shared : own.emplace()), guard(outbound) {
  tls.set_default_verify_paths();
  tls.set_verify_mode(ssl::verify_peer);
  tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
}

std::shared_ptr<UpstreamExchange> start_exchange(std::shared_ptr<HttpClient::Impl> client,
                                                 UpstreamTimeouts timeouts, Result<ParsedUrl> url,
                                                 UpstreamRequest request,
                                                 UpstreamHandlers handlers) {
  auto exchange = std::make_shared<Exchange>(std::move(client), timeouts, std::move(url),
                                             std::move(request), std::move(handlers));
  exchange->start();
  return exchange;
}

}  // namespace tollgate::server
