#include "server/log/logger.h"

#include <chrono>

namespace tollgate::server {

int64_t unix_ms_now() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

void Logger::log(std::string_view level, std::string_view event, nlohmann::ordered_json fields) {
  nlohmann::ordered_json line = {{"ts_ms", unix_ms_now()}, {"level", level}, {"event", event}};
  for (auto& [key, value] : fields.items()) line[key] = std::move(value);
  // `replace` so a stray invalid UTF-8 byte (e.g. from a request path) cannot throw here.
  std::string text = line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  std::lock_guard lock(mutex_);
  std::fputs(text.c_str(), out_);
  std::fputc('\n', out_);
  std::fflush(out_);
}

}  // namespace tollgate::server
