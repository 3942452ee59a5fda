#include "server/http/request_log.h"

#include <cstdint>
#include <random>

#include "server/http/error_response.h"

namespace tollgate::server {

std::string new_request_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "req_";
  uint64_t bits = rng();
  for (int i = 0; i < 16; ++i, bits >>= 4) id += kHex[bits & 0xF];
  return id;
}

std::optional<std::string> error_code_of(const Response& response) {
  if (response.result_int() < 400 || response.body().size() > kErrorBodyScanBytesMax) {
    return std::nullopt;
  }
  auto body = nlohmann::json::parse(response.body(), nullptr, false);
  if (!body.is_object()) return std::nullopt;
  auto error = body.find("error");
  if (error == body.end() || !error->is_object()) return std::nullopt;
  auto code = error->find("code");
  if (code == error->end() || !code->is_string()) return std::nullopt;
  return code->get<std::string>();
}

void record_request(Logger& log, Metrics* metrics, std::string_view method, std::string_view route,
                    unsigned status, std::chrono::steady_clock::duration elapsed,
                    nlohmann::ordered_json line) {
  if (metrics != nullptr) {
    metrics->request(method, route, static_cast<int>(status),
                     std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count());
  }
  log.log(request_log_level(status), "http_request", std::move(line));
}

}  // namespace tollgate::server
