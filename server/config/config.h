// Command-line and environment configuration of the tollgate binary.
//
// Flags override environment variables, which override defaults. Every bad value is an
// kInvalidArgument Error whose param names the flag or variable, so the CLI can print one line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tollgate/core/result.h"

namespace tollgate::server {

inline constexpr uint16_t kDefaultPort = 8787;

// Per-connection and per-process limits. Every one is finite.
struct Limits {
  size_t body_bytes_max = size_t{1024} * 1024;  // request body; larger gets 413
  size_t header_bytes_max = size_t{16} * 1024;  // request line + headers; larger gets 431
  int64_t idle_timeout_ms = 30'000;             // no byte read or written for this long closes it
  int64_t request_timeout_ms = 300'000;         // one request must arrive whole within this long
  int64_t shutdown_timeout_ms = 10'000;         // in-flight requests get this long after SIGTERM
  int64_t close_linger_ms = 1'000;  // after the last response, wait this long for the peer's FIN
  size_t connections_max = 1024;    // at the cap, idle or slow ones are shed, else new ones refused
  // Slow and hostile clients (server/http/request_reader.h, session.h).
  size_t connections_per_ip_max = 256;       // per client address, IPv6 per /64; more are closed
  int64_t keepalive_timeout_ms = 5'000;      // waiting for a request's first byte (capped by idle)
  int64_t header_timeout_ms = 10'000;        // first byte to the end of the headers, else 408
  int64_t body_rate_min_bytes_per_s = 1024;  // a body averaging less (after the grace) gets 408
  int64_t body_rate_grace_ms = 5'000;
  size_t chunk_extension_bytes_max = size_t{4} * 1024;  // per request; more gets 400
  // After an answer sent with the request body unread (413, 408, 400), the client's remaining
  // bytes are read and dropped for this long and this many bytes, so it sees the answer.
  int64_t linger_timeout_ms = 5'000;
  size_t linger_bytes_max = size_t{32} * 1024 * 1024;
};

inline constexpr size_t kBodyBytesCeiling = size_t{64} * 1024 * 1024;
inline constexpr int64_t kIdleTimeoutMsMin = 100;
inline constexpr int64_t kIdleTimeoutMsMax = 600'000;
// Calls to model providers: connecting (with TLS), the first byte of an answer, and silence
// between the pieces of a streamed one.
inline constexpr int64_t kUpstreamTimeoutMsMin = 50;
inline constexpr int64_t kUpstreamTimeoutMsMax = 600'000;
// Threads running the server's io_context (HTTP and provider calls); the ledger writer and the
// logger have their own.
inline constexpr int64_t kThreadsMax = 16;
// Ranges of the connection limits and timeouts above.
inline constexpr int64_t kConnectionsMaxCeiling = 1'000'000;
inline constexpr int64_t kTimeoutMsMax = 600'000;
inline constexpr int64_t kLingerTimeoutMsMax = 60'000;
inline constexpr int64_t kLingerBytesCeiling = int64_t{1} << 30;
inline constexpr int64_t kBodyRateCeiling = int64_t{1} << 30;

struct ServeConfig {
  std::string host = "127.0.0.1";
  uint16_t port = kDefaultPort;
  std::string data_dir = "./data";
  std::string database_url;                 // DATABASE_URL: PostgreSQL instead of SQLite
  std::optional<std::string> admin_token;   // TOLLGATE_ADMIN_TOKEN
  std::optional<std::string> master_key;    // TOLLGATE_MASTER_KEY, 64 hex characters
  std::optional<std::string> pricing_file;  // TOLLGATE_PRICING_FILE: replaces the model prices
  // TOLLGATE_PUBLIC_URL: where browsers and Stripe reach this server (webhook and checkout page
  // URLs); empty: http://<host>:<port>.
  std::string public_url;
  std::string stripe_api_base = "https://api.stripe.com";  // STRIPE_API_BASE, for tests
  // --demo only: STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET become the demo project's keys.
  std::optional<std::string> demo_stripe_secret_key;
  std::optional<std::string> demo_stripe_webhook_secret;
  int64_t upstream_connect_timeout_ms = 10'000;
  int64_t upstream_first_byte_timeout_ms = 60'000;
  int64_t upstream_idle_timeout_ms = 60'000;
  bool demo = false;  // --demo: a demo project, used by keyless calls
  // --allow-private-upstreams: providers may be on loopback, private, link-local or CGNAT
  // addresses, and plain http may go to a loopback address (server/net/outbound_guard.h).
  bool allow_private_upstreams = false;
  int threads = 1;
  Limits limits;
  bool connections_max_set = false;  // given by flag or environment: kept even if fds are short
};

// `tollgate projects create --name N [--json] [--data-dir D]`.
struct ProjectsCreate {
  std::string name;
  bool json = false;
};

enum class Command { kServe, kVersion, kHelp, kProjectsCreate };

struct Invocation {
  Command command = Command::kHelp;
  ServeConfig serve;  // also where `projects create` finds the store
  ProjectsCreate projects_create;
};

// An admin token set in the environment must be at least this long.
inline constexpr size_t kAdminTokenBytesMin = 16;

// Looks up an environment variable; injected so tests need not touch the real environment.
using Environment = std::function<std::optional<std::string>(std::string_view name)>;

// The process environment.
Environment process_environment();

// Parses argv (without argv[0]).
Result<Invocation> parse_invocation(const std::vector<std::string_view>& args,
                                    const Environment& env);

// The text of `tollgate --help`.
std::string usage();

}  // namespace tollgate::server
