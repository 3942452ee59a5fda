// The master key's text form: TOLLGATE_MASTER_KEY, and <data dir>/master.key, hold 64 hex
// characters (32 random bytes). Read here, below everything that uses the key, so the
// configuration refuses a malformed one at start-up; server/auth/secret_box.h seals and opens
// with it and makes the file.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tollgate/core/result.h"

namespace tollgate::server {

inline constexpr size_t kMasterKeyBytes = 32;
using MasterKey = std::array<uint8_t, kMasterKeyBytes>;

// 64 hex characters to a key; kInvalidArgument (param = `name`) otherwise.
Result<MasterKey> parse_master_key(std::string_view hex, std::string_view name);

}  // namespace tollgate::server
