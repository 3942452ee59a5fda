// The client Tollgate calls model providers with: HTTP/1.1 over TCP or TLS (Boost.Beast and
// OpenSSL, certificates verified against the system store, SNI and host name checked). It runs
// on the server's io_context when given one, so an exchange is one more operation on the threads
// already serving requests (no hand-off to other threads, which costs wake-ups); without one it
// runs on kUpstreamThreads threads of its own.
//
// - Every connection goes through the OutboundGuard: the URL is checked, each resolved address
//   is checked and refused ones are dropped, and the connected peer is checked again before a
//   byte is sent. Redirects are never followed: a 3xx is a failure like any other non-2xx.
// - Every way of not reaching the provider (a name that does not resolve, an address the guard
//   refuses, a refused or timed-out connect, a failed TLS handshake) fails with the one message
//   kUpstreamUnreachable, so the caller learns nothing about what listens where; the failure's
//   `detail` says which, for the owner's log.
// - Each exchange runs every completion (socket, TLS, timers, cancel) on its own strand, also on
//   a pooled connection another exchange opened: sockets belong to the pool, not to a strand.
// - A pool keeps idle keep-alive connections per origin (at most kPoolIdlePerOriginMax); a
//   reused connection the provider had closed is replaced once, without counting as a retry.
// - Timeouts: connect (the name lookup and TLS handshake included), first byte of the answer,
//   silence between body reads, and the whole exchange.
// - Retries: a 429, a 5xx, not reaching the provider or a first-byte timeout is retried with
//   jittered exponential backoff (honouring Retry-After up to the cap), at most
//   kUpstreamAttemptsMax attempts in all, and only before any of the answer was handed on: a stream
//   that has started is never replayed.
// - Bodies stream: on_body gets each piece as it arrives. A non-2xx answer's body (at most
//   kErrorBodyBytesMax) comes with the failure instead, for the adapter to read.
//
// Inside: upstream_pool.h (connections and the idle pool), upstream_exchange.h (one exchange:
// connect, send, read, attempts), upstream_retry.h (which failures are retried, and the backoff).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/net/outbound_guard.h"
#include "tollgate/core/result.h"

namespace boost::asio {
class io_context;
}

namespace tollgate::server {

inline constexpr int kUpstreamAttemptsMax = 3;
inline constexpr std::chrono::milliseconds kRetryBackoffBase{200};
inline constexpr std::chrono::milliseconds kRetryBackoffCap{2'000};
inline constexpr size_t kPoolIdlePerOriginMax = 256;
inline constexpr size_t kErrorBodyBytesMax = size_t{64} << 10;
inline constexpr size_t kResponseHeaderBytesMax = size_t{64} << 10;
inline constexpr size_t kResponseBodyBytesMax = size_t{32} << 20;
inline constexpr size_t kUpstreamThreads = 2;
// What the caller is told for every way of not reaching the provider.
inline constexpr std::string_view kUpstreamUnreachable = "could not be reached";

struct UpstreamTimeouts {
  std::chrono::milliseconds connect{10'000};
  std::chrono::milliseconds first_byte{60'000};
  std::chrono::milliseconds idle{60'000};
  std::chrono::milliseconds total{300'000};
};

struct UpstreamRequest {
  std::string url;  // http(s)://host[:port]/path
  std::vector<std::pair<std::string, std::string>> headers;  // may replace Content-Type
  std::string body;  // sent with content-type application/json unless a header says otherwise
  std::string method = "POST";  // POST, GET or DELETE
};

struct UpstreamFailure {
  Error error;              // kUpstreamError or kUpstreamTimeout
  int status = 0;           // the provider's HTTP status, 0 when none arrived
  std::string body;         // a non-2xx answer's body, truncated
  bool body_started = false;  // some of a 2xx body was handed on before the failure
  std::string detail;  // for the owner's log only: why it could not be reached, when it was not
};

struct UpstreamHandlers {
  std::function<void(std::string_view piece)> on_body;  // in order
  std::function<void(std::optional<UpstreamFailure>)> on_done;  // exactly once
};

class UpstreamExchange {
 public:
  virtual ~UpstreamExchange() = default;
  // Stops the exchange; on_done then runs (if it has not) with a failure.
  virtual void cancel() = 0;
};

class HttpClient {
 public:
  // With `shared`, exchanges run on that io_context, which must outlive this client; otherwise
  // on threads of the client's own. Every URL and address goes through `guard`.
  explicit HttpClient(OutboundGuard guard, UpstreamTimeouts timeouts = {},
                      boost::asio::io_context* shared = nullptr);
  // Closes the idle connections; with its own threads, stops them (exchanges in flight end with
  // a failure).
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Starts the exchange; its handlers run on its strand, never inside this call. A URL the
  // guard refuses ends it with the kUpstreamUnreachable failure.
  std::shared_ptr<UpstreamExchange> post(UpstreamRequest request, UpstreamHandlers handlers);

  const OutboundGuard& guard() const { return guard_; }

  struct Impl;

 private:
  OutboundGuard guard_;
  UpstreamTimeouts timeouts_;
  std::shared_ptr<Impl> impl_;
};

}  // namespace tollgate::server
