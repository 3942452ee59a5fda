#include "server/ai/upstream_retry.h"

#include <algorithm>
#include <charconv>
#include <random>

#include "server/ai/http_client.h"

namespace tollgate::server {

bool retryable_status(int status) { return status == 429 || status >= 500; }

bool retry_allowed(int status, int attempts) {
  return (status == 0 || retryable_status(status)) && attempts < kUpstreamAttemptsMax;
}

std::chrono::milliseconds retry_backoff(int attempt,
                                        std::optional<std::chrono::milliseconds> retry_after) {
  thread_local std::mt19937 rng{std::random_device{}()};
  auto ceiling = std::min<int64_t>(kRetryBackoffCap.count(), kRetryBackoffBase.count()
                                                                 << std::min(attempt - 1, 10));
  // Full jitter: a uniform pick up to the ceiling, so clients retrying together spread out.
  auto delay = std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(0, ceiling)(rng));
  if (retry_after) delay = std::max(delay, std::min(*retry_after, kRetryBackoffCap));
  return delay;
}

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value) {
  int64_t seconds = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec != std::errc() || end != value.data() + value.size() || seconds < 0) return std::nullopt;
  return std::chrono::seconds(std::min<int64_t>(seconds, kRetryAfterSecondsMax));
}

}  // namespace tollgate::server
