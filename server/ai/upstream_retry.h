// When HttpClient tries an upstream exchange again, and after how long (the rules are in
// server/ai/http_client.h): a 429 or 5xx answer, or not reaching the provider, is retried, at
// most kUpstreamAttemptsMax attempts in all, after a jittered exponential backoff that a
// Retry-After can lengthen up to kRetryBackoffCap.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace tollgate::server {

// A Retry-After beyond this is read as this (the backoff caps it far lower anyway).
inline constexpr int64_t kRetryAfterSecondsMax = 3'600;

// Whether an answer with this HTTP status is worth another attempt: 429 and every 5xx.
bool retryable_status(int status);

// Whether an attempt that failed with `status` (0: no answer arrived) is followed by another,
// `attempts` having been made so far.
bool retry_allowed(int status, int attempts);

// The wait before attempt `attempt` + 1: a uniform pick ("full jitter", so clients retrying
// together spread out) up to kRetryBackoffBase × 2^(attempt - 1), capped at kRetryBackoffCap;
// at least `retry_after`, when the provider sent one, up to the same cap.
std::chrono::milliseconds retry_backoff(int attempt,
                                        std::optional<std::chrono::milliseconds> retry_after);

// A Retry-After header in delay-seconds ("120"), at most kRetryAfterSecondsMax; nullopt for
// anything else, an HTTP date included (then the backoff alone decides).
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value);

}  // namespace tollgate::server
