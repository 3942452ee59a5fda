#include "server/config/master_key.h"

#include <string>

namespace tollgate::server {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<MasterKey> parse_master_key(std::string_view hex, std::string_view name) {
  MasterKey key{};
  bool ok = hex.size() == kMasterKeyBytes * 2;
  for (size_t i = 0; ok && i < kMasterKeyBytes; ++i) {
    int high = hex_value(hex[2 * i]), low = hex_value(hex[2 * i + 1]);
    ok = high >= 0 && low >= 0;
    key[i] = static_cast<uint8_t>(high * 16 + low);
  }
  if (!ok) {
    std::string message(name);
    message += " must be 64 hex characters (32 random bytes, e.g. from `openssl rand -hex 32`)";
    return fail(ErrorCode::kInvalidArgument, std::move(message), std::string(name));
  }
  return key;
}

}  // namespace tollgate::server
