// The instance's keys for signing runtime-session tokens (HMAC-SHA256, 32 random bytes each).
//
// They live in the store's settings, sealed under the master key (SecretBox), so every process
// on one database signs and verifies alike. Each key has an id that tokens carry ("kid"): new
// tokens are signed with the current key, and a token is verified with the key it names.
//
// Rotation (rotate(), POST /v1/signing-keys/rotate): a fresh key becomes current and the old
// one is retired, not deleted: tokens it signed stay valid until they expire. A retired key is
// pruned by a later rotation once no token it signed can still be valid (kRetiredKeyKeep after
// it was retired). Rotations are compare-and-set on the stored set, so two processes rotating
// at once both land and neither loses a key.
//
// Other processes learn of a rotation on their own: a token naming a key id this process does
// not have makes it reread the set (at most once per kSigningKeysMissReloadGap, so made-up ids
// cannot turn into a stream of store reads), and the current key is reread when the set is
// older than kSigningKeysRefresh. Thread-safe; a reader takes a snapshot of the set.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "server/auth/secret_box.h"
#include "server/store/store.h"
#include "tollgate/token/runtime_token.h"

namespace tollgate::server {

inline constexpr std::string_view kSigningKeysSetting = "runtime_signing_keys";
inline constexpr size_t kSigningKeyBytes = 32;
// How long after a rotation another process may still sign with the old key.
inline constexpr std::chrono::seconds kSigningKeysRefresh{60};
inline constexpr std::chrono::seconds kSigningKeysMissReloadGap{1};
// The longest session a token can carry (24 h) plus the refresh window, with a margin.
inline constexpr std::chrono::milliseconds kRetiredKeyKeep{std::chrono::hours(25)};
inline constexpr int kRotateAttemptsMax = 5;  // compare-and-set retries against other rotators

struct SigningKeyInfo {
  std::string id;
  int64_t created_at_ms = 0;
  int64_t retired_at_ms = 0;  // 0 while current
};

struct SigningKeyRotation {
  std::string current;                // the new current key's id
  std::vector<SigningKeyInfo> keys;   // every key kept, current first
  std::vector<std::string> pruned;    // retired keys dropped by this rotation
};

class SigningKeys {
 public:
  // Reads the keys, or makes the first one when there are none (two processes starting at
  // once agree on one). kStoreUnavailable when the store fails; kInternal when a key cannot be
  // opened (another master key) or the stored set is malformed.
  static Result<std::unique_ptr<SigningKeys>> load_or_create(Store& store,
                                                             const SecretBox& secrets,
                                                             int64_t now_ms);

  struct Current {
    std::string id;
    token::Signer signer;
  };
  // The key new tokens are signed with (rereading the set when it is older than
  // kSigningKeysRefresh; a failed reread keeps the set this process has).
  Current current();
  // kTokenSignatureInvalid for an id this instance does not know, even after a reread.
  Result<token::Signer> signer_for(std::string_view key_id);
  std::vector<SigningKeyInfo> list();
  // Makes a fresh key current, retires the old one and prunes retired keys older than
  // kRetiredKeyKeep. kConflict when other rotations kept winning kRotateAttemptsMax times.
  Result<SigningKeyRotation> rotate(int64_t now_ms);

 private:
  struct Key {
    SigningKeyInfo info;
    std::string raw;  // the key bytes, opened
  };
  struct Set {
    std::string text;  // as stored: the compare-and-set's expected value
    std::string current;
    std::map<std::string, std::shared_ptr<const Key>, std::less<>> keys;
  };
  using Clock = std::chrono::steady_clock;

  SigningKeys(Store& store, const SecretBox& secrets) : store_(store), secrets_(secrets) {}
  Result<std::shared_ptr<const Set>> read();
  Result<std::shared_ptr<const Set>> parse(std::string text) const;
  std::shared_ptr<const Set> snapshot();
  static std::vector<SigningKeyInfo> infos(const Set& set);
  void adopt(std::shared_ptr<const Set> set);

  Store& store_;
  const SecretBox& secrets_;
  std::mutex mutex_;
  std::shared_ptr<const Set> set_;
  Clock::time_point loaded_at_;
  Clock::time_point last_miss_reload_;
};

}  // namespace tollgate::server
