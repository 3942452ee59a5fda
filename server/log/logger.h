// Structured logging: one JSON object per line on stdout.
//
// Thread-safe. Callers must never pass secrets (keys, tokens, query strings, bodies).
#pragma once

#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string_view>

namespace tollgate::server {

class Logger {
 public:
  explicit Logger(std::FILE* out) : out_(out) {}

  // Writes {"ts_ms":…,"level":…,"event":…, …fields} and flushes, so lines survive a crash.
  void log(std::string_view level, std::string_view event,
           nlohmann::ordered_json fields = nlohmann::ordered_json::object());

  void info(std::string_view event,
            nlohmann::ordered_json fields = nlohmann::ordered_json::object()) {
    log("info", event, std::move(fields));
  }
  void warn(std::string_view event,
            nlohmann::ordered_json fields = nlohmann::ordered_json::object()) {
    log("warn", event, std::move(fields));
  }

 private:
  std::mutex mutex_;
  std::FILE* out_;
};

// Milliseconds since the Unix epoch.
int64_t unix_ms_now();

}  // namespace tollgate::server
