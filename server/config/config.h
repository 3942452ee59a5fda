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
  size_t connections_max = 1024;    // further connections are closed on accept
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

struct ServeConfig {
  std::string host = "127.0.0.1";
  uint16_t port = kDefaultPort;
  std::string data_dir = "./data";
  std::string database_url;                // DATABASE_URL: PostgreSQL instead of SQLite
  std::optional<std::string> admin_token;  // TOLLGATE_ADMIN_TOKEN
  std::optional<std::string> master_key;   // TOLLGATE_MASTER_KEY, 64 hex characters
  std::optional<std::string> pricing_file; // TOLLGATE_PRICING_FILE: replaces the model prices
  int64_t upstream_connect_timeout_ms = 10'000;
  int64_t upstream_first_byte_timeout_ms = 60'000;
  int64_t upstream_idle_timeout_ms = 60'000;
  bool demo = false;                       // --demo: a demo project, used by keyless calls
  int threads = 1;
  Limits limits;
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
