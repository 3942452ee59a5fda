// The instance's keys for signing runtime-session tokens (HMAC-SHA256, 32 random bytes each).
//
// They live in the store's settings, sealed under the master key (SecretBox), so every process
// on one database signs and verifies alike. Each key has an id that tokens carry ("kid"): new
// tokens are signed with the current key, and a token is verified with the key it names, so a
// new key can be made current while tokens signed with the old one stay valid until they expire.
// Immutable after loading; thread-safe.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "server/auth/secret_box.h"
#include "server/store/store.h"
#include "tollgate/token/runtime_token.h"

namespace tollgate::server {

inline constexpr std::string_view kSigningKeysSetting = "runtime_signing_keys";
inline constexpr size_t kSigningKeyBytes = 32;

class SigningKeys {
 public:
  // Reads the keys, or makes the first one when there are none (two processes starting at
  // once agree on one). kStoreUnavailable when the store fails; kInternal when a key cannot be
  // opened (another master key).
  static Result<SigningKeys> load_or_create(Store& store, const SecretBox& secrets);

  const std::string& current_id() const { return current_; }
  token::Signer current_signer() const;
  // kTokenSignatureInvalid for an id this instance does not know.
  Result<token::Signer> signer_for(std::string_view key_id) const;

 private:
  std::string current_;
  std::map<std::string, std::string, std::less<>> keys_;  // id -> raw key bytes
};

}  // namespace tollgate::server
