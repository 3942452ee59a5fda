// Encryption at rest for provider API keys: AES-256-GCM under the instance's master key.
//
// A sealed value is "tgsb1." followed by base64url of key_id (8 bytes: the start of the master
// key's SHA-256) || nonce (12 random bytes) || ciphertext || tag (16 bytes). The associated data
// binds a ciphertext to where it is stored (e.g. "<project id>/<provider>"), so a sealed key
// copied to another row does not open. open() refuses a value sealed under another master key
// with a message that says so, and never echoes the plaintext or the sealed text.
//
// The master key comes from TOLLGATE_MASTER_KEY (64 hex characters, read by
// server/config/master_key.h) or, when that is unset, from `<data dir>/master.key`, made on
// first start with mode 0600. Thread-safe after construction.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "server/config/master_key.h"
#include "tollgate/core/result.h"

namespace tollgate::server {

inline constexpr size_t kSealedPlaintextBytesMax = 16 * 1024;
inline constexpr std::string_view kMasterKeyFileName = "master.key";

class SecretBox {
 public:
  using Key = MasterKey;
  explicit SecretBox(const Key& key);

  // kInvalidArgument for a plaintext over kSealedPlaintextBytesMax.
  Result<std::string> seal(std::string_view plaintext, std::string_view associated) const;
  // kInternal when the value is malformed, sealed under another master key, or altered.
  Result<std::string> open(std::string_view sealed, std::string_view associated) const;

 private:
  Key key_;
  std::array<uint8_t, 8> key_id_;
};

// The configured key, or the one in `<data_dir>/master.key`, created (0600, exclusively, so two
// processes starting at once agree) when missing. kIoError naming --data-dir when the file cannot
// be made or read; kInvalidArgument when it holds something other than a key.
Result<SecretBox::Key> load_master_key(const std::optional<std::string>& configured_hex,
                                       const std::string& data_dir);

}  // namespace tollgate::server
