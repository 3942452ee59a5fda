#include "tollgate/keys/api_key.h"

#include <array>

namespace tollgate::keys {
namespace {

constexpr std::string_view kBase62 =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

constexpr std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t n = 0; n < 256; ++n) {
    uint32_t c = n;
    for (int k = 0; k < 8; ++k) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[n] = c;
  }
  return table;
}
constexpr auto kCrcTable = make_crc_table();

std::string checksum_chars(uint32_t crc) {
  std::string out(kKeyChecksumChars, '0');
  for (size_t i = kKeyChecksumChars; i-- > 0; crc /= 62) out[i] = kBase62[crc % 62];
  return out;
}

bool is_base62(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

bool valid_prefix(std::string_view prefix) {
  if (prefix.empty() || prefix.size() > kKeyPrefixCharsMax) return false;
  for (char c : prefix) {
    if (c < 'a' || c > 'z') return false;
  }
  return true;
}

}  // namespace

std::string base62(std::span<const uint8_t> random) {
  std::string out;
  out.reserve(random.size());
  for (uint8_t byte : random) out += kBase62[byte % 62];
  return out;
}

uint32_t crc32(std::string_view data) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char byte : data) c = kCrcTable[(c ^ byte) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

Result<std::string> format_key(std::string_view prefix, std::span<const uint8_t> random) {
  if (!valid_prefix(prefix)) {
    return fail(ErrorCode::kInvalidArgument, "a key prefix is 1 to 8 lowercase letters", "prefix");
  }
  if (random.size() < kKeyRandomChars) {
    return fail(ErrorCode::kInvalidArgument,
                "a key needs " + std::to_string(kKeyRandomChars) + " random bytes", "random");
  }
  std::string key(prefix);
  key += '_';
  key += base62(random.first(kKeyRandomChars));
  key += checksum_chars(crc32(key));
  return key;
}

Result<std::string_view> parse_key(std::string_view key) {
  auto malformed = [] { return fail(ErrorCode::kUnauthenticated, "malformed API key"); };
  size_t underscore = key.find('_');
  if (underscore == std::string_view::npos) return malformed();
  std::string_view prefix = key.substr(0, underscore);
  std::string_view rest = key.substr(underscore + 1);
  if (!valid_prefix(prefix) || rest.size() != kKeyRandomChars + kKeyChecksumChars) {
    return malformed();
  }
  for (char c : rest) {
    if (!is_base62(c)) return malformed();
  }
  std::string_view body = key.substr(0, key.size() - kKeyChecksumChars);
  if (checksum_chars(crc32(body)) != key.substr(body.size())) return malformed();
  return prefix;
}

}  // namespace tollgate::keys
