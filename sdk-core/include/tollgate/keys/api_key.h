// API key strings: "<prefix>_<random><checksum>", e.g. "sk_3kT…Qz01aB".
//
// The random part is kKeyRandomChars base62 characters (about 190 bits); the checksum is the
// CRC32 of everything before it, as kKeyChecksumChars base62 characters. A typo or a truncated
// paste fails parse_key() before any lookup, and a key is easy to spot in logs by its prefix.
// The prefixes in use: "pk" (publishable), "sk" (secret), "tgadm" (instance admin token).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "tollgate/core/result.h"

namespace tollgate::keys {

inline constexpr size_t kKeyRandomChars = 32;
inline constexpr size_t kKeyChecksumChars = 6;
inline constexpr size_t kKeyPrefixCharsMax = 8;

// One base62 character (0-9A-Za-z) per byte. 256 is not a multiple of 62, so some characters
// are slightly likelier; each still carries over 5.9 bits of the byte's randomness.
std::string base62(std::span<const uint8_t> random);

// CRC-32 (IEEE 802.3, as zlib computes it).
uint32_t crc32(std::string_view data);

// Builds a key from `prefix` (1 to kKeyPrefixCharsMax lowercase letters) and at least
// kKeyRandomChars random bytes. kInvalidArgument for a bad prefix or too few bytes.
Result<std::string> format_key(std::string_view prefix, std::span<const uint8_t> random);

// Checks the shape and the checksum and returns the prefix. kUnauthenticated ("malformed key")
// otherwise; the message never repeats the key.
Result<std::string_view> parse_key(std::string_view key);

}  // namespace tollgate::keys
