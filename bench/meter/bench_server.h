// What the bench/meter comparison servers share: their command line, and a serve loop that logs
// the same "listening" line as `tollgate serve`, so the runner starts all three the same way.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "server/config/config.h"
#include "server/http/router.h"
#include "server/log/logger.h"
#include "tollgate/core/result.h"

namespace tollgate::bench {

// Flags: --port N (0 picks a free port), --threads N, --data-dir D. DATABASE_URL is read from
// the environment, as tollgate does. Listening is always on 127.0.0.1: load stays on loopback.
struct BenchFlags {
  server::ServeConfig serve;
  std::string database_url;
};

inline constexpr int kThreadsMax = 64;

// Parses argv[1..]; `default_threads` applies when --threads is absent. kInvalidArgument with
// the flag as param on a bad or unknown flag.
Result<BenchFlags> parse_bench_flags(int argc, char** argv, int default_threads);

// The io thread count `tollgate serve` uses: the core count, clamped to [1, 16].
int tollgate_default_threads();

// Serves `router` until SIGINT/SIGTERM, logging "listening" (with `fields` added) once bound.
// Returns the process exit code.
int serve(const server::ServeConfig& config, server::Router router, server::Logger& log,
          const nlohmann::ordered_json& fields);

// Prints the error as one JSON line on stderr; returns 2 for bad usage, 1 otherwise.
int exit_with(const Error& error);

}  // namespace tollgate::bench
