#include "server/auth/crypto.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <cstdlib>

#include "tollgate/keys/api_key.h"

namespace tollgate::server {

std::string sha256_hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1) {
    std::abort();
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xF];
  }
  return out;
}

std::vector<uint8_t> random_bytes(size_t count) {
  std::vector<uint8_t> bytes(count);
  if (RAND_bytes(bytes.data(), static_cast<int>(count)) != 1) std::abort();
  return bytes;
}

namespace {

std::vector<uint8_t> id_random_bytes(size_t count) {
  thread_local std::array<uint8_t, kIdRandomPoolBytes> pool;
  thread_local size_t used = kIdRandomPoolBytes;
  if (count > pool.size()) return random_bytes(count);
  if (pool.size() - used < count) {
    if (RAND_bytes(pool.data(), static_cast<int>(pool.size())) != 1) std::abort();
    used = 0;
  }
  std::vector<uint8_t> bytes(pool.begin() + static_cast<std::ptrdiff_t>(used),
                             pool.begin() + static_cast<std::ptrdiff_t>(used + count));
  used += count;
  return bytes;
}

}  // namespace

std::string new_id(std::string_view prefix) {
  return std::string(prefix) + keys::base62(id_random_bytes(kIdRandomChars));
}

std::string new_time_ordered_id(std::string_view prefix, int64_t unix_ms) {
  static constexpr char kDigits[] =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";  // ascending in ASCII
  std::string time(kIdTimeChars, '0');
  uint64_t rest = unix_ms > 0 ? static_cast<uint64_t>(unix_ms) : 0;
  for (size_t i = kIdTimeChars; i-- > 0 && rest > 0; rest /= 62) time[i] = kDigits[rest % 62];
  return std::string(prefix) + time + keys::base62(id_random_bytes(kIdRandomChars - kIdTimeChars));
}

std::string new_api_key(std::string_view prefix) {
  auto key = keys::format_key(prefix, random_bytes(keys::kKeyRandomChars));
  if (!key) std::abort();  // only a bad prefix fails, and prefixes are constants
  return std::move(key).value();
}

}  // namespace tollgate::server
