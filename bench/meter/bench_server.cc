#include "bench/meter/bench_server.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <iostream>
#include <string_view>
#include <thread>

#include "server/http/error_response.h"
#include "server/http/server.h"

namespace tollgate::bench {
namespace {

Result<int64_t> parse_int(std::string_view flag, std::string_view text, int64_t min, int64_t max) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    return fail(ErrorCode::kInvalidArgument,
                std::string(flag) + " must be an integer in [" + std::to_string(min) + ", " +
                    std::to_string(max) + "]",
                std::string(flag));
  }
  return value;
}

Result<void> apply_flag(std::string_view flag, std::string_view value, BenchFlags& out) {
  if (flag == "--port") {
    auto port = parse_int(flag, value, 0, 65535);
    if (!port) return port.error();
    out.serve.port = static_cast<uint16_t>(port.value());
  } else if (flag == "--threads") {
    auto threads = parse_int(flag, value, 1, kThreadsMax);
    if (!threads) return threads.error();
    out.serve.threads = static_cast<int>(threads.value());
  } else if (flag == "--data-dir") {
    if (value.empty())
      return fail(ErrorCode::kInvalidArgument, "--data-dir is empty", "--data-dir");
    out.serve.data_dir = std::string(value);
  } else {
    return fail(ErrorCode::kInvalidArgument,
                "unknown flag '" + std::string(flag) + "'; flags: --port, --threads, --data-dir",
                std::string(flag));
  }
  return {};
}

}  // namespace

int tollgate_default_threads() {
  return static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 16u));
}

Result<BenchFlags> parse_bench_flags(int argc, char** argv, int default_threads) {
  BenchFlags out;
  out.serve.port = 0;
  out.serve.threads = default_threads;
  if (const char* url = std::getenv("DATABASE_URL"); url != nullptr) out.database_url = url;
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    if (i + 1 >= argc) {
      return fail(ErrorCode::kInvalidArgument, std::string(flag) + " needs a value",
                  std::string(flag));
    }
    if (auto applied = apply_flag(flag, argv[++i], out); !applied) return applied.error();
  }
  return out;
}

int serve(const server::ServeConfig& config, server::Router router, server::Logger& log,
          const nlohmann::ordered_json& fields) {
  server::keep_freed_memory();  // as `tollgate serve` does
  auto server = server::Server::create(config, std::move(router), log);
  if (!server) return exit_with(server.error());
  nlohmann::ordered_json line = {
      {"host", config.host}, {"port", server.value()->port()}, {"threads", config.threads}};
  line.update(fields);
  log.info("listening", std::move(line));
  server.value()->run();
  log.info("stopped");
  return 0;
}

int exit_with(const Error& error) {
  std::cerr << server::error_body(error).dump(-1, ' ', false,
                                              nlohmann::json::error_handler_t::replace)
            << std::endl;
  return error.code == ErrorCode::kInvalidArgument ? 2 : 1;
}

}  // namespace tollgate::bench
