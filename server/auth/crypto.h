// The server's few cryptographic helpers, on OpenSSL: digests, randomness, ids and key strings.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tollgate/core/result.h"

namespace tollgate::server {

// SHA-256 of `data`, as 64 lowercase hex characters.
std::string sha256_hex(std::string_view data);

// Cryptographically secure random bytes (OpenSSL RAND_bytes). Aborts if the generator fails:
// continuing without randomness would mint guessable secrets.
std::vector<uint8_t> random_bytes(size_t count);

// Ids draw their randomness from a per-thread pool that RAND_bytes refills kIdRandomPoolBytes
// at a time: one generator call (a fork check and a lock) per few hundred ids instead of one
// each. Secrets (keys, nonces) never come from the pool.
inline constexpr size_t kIdRandomPoolBytes = 4096;

// A random id such as "proj_7Qm2…": `prefix` followed by kIdRandomChars base62 characters.
inline constexpr size_t kIdRandomChars = 20;
std::string new_id(std::string_view prefix);

// A new id that sorts by creation time: `prefix`, the Unix time in milliseconds as
// kIdTimeChars base62 digits (fixed width, so text order is time order), then
// kIdRandomChars - kIdTimeChars random base62 characters (about 71 bits). For rows written
// and looked up at a high rate (holds): new keys land at the end of the primary-key index, so
// a batch of them touches a few index pages instead of one random page each.
inline constexpr size_t kIdTimeChars = 8;  // 62^8 ms is about 6,900 years
std::string new_time_ordered_id(std::string_view prefix, int64_t unix_ms);

// A new API key with the given prefix (see tollgate/keys/api_key.h).
std::string new_api_key(std::string_view prefix);

}  // namespace tollgate::server
