// The instance's keys for signing runtime-session tokens (HMAC-SHA256, 32 random bytes each).
//
// They live in the store's settings, sealed under the master key (SecretBox), so every process
// on one database signs and verifies alike. Each key has an id that tokens carry ("kid"): new
// tokens are signed with the current key, and a token is verified with the key it names.
//
// Rotation (rotate(), POST /v1/signing-keys/rotate): a fresh key becomes current and the old
// one is retired, not deleted: tokens it signed stay valid until they expire. A retired key
// verifies only tokens issued before it was retired (give or take kRetiredKeyGrace: other
// processes may sign with it until they reread, and clocks differ), and no token lives longer
// than kSessionTtlMax, so a leaked key stops forging a day after it is retired at the latest;
// rotating with `revoke_previous` drops every older key at once. A retired key is pruned by a
// later rotation once no token it signed can still be valid (kRetiredKeyKeep after it was
// retired). Rotations are compare-and-set on the stored set, so two processes rotating at once
// both land and neither loses a key; each stored set carries a generation, and a process never
// goes back to an older one.
//
// Other processes learn of a rotation on their own: a token naming a key id this process does
// not have makes it reread the set (one reread at a time, which concurrent misses wait for; at
// most one per kSigningKeysMissReloadGap, so made-up ids cannot turn into a stream of store
// reads), and any use of the keys rereads them once the set is older than kSigningKeysRefresh.
// Thread-safe; a reader takes a snapshot of the set.
#pragma once

#include <chrono>
#include <functional>
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
// The longest session a token may carry: minting refuses more, and so does verifying.
inline constexpr std::chrono::minutes kSessionTtlMax{24 * 60};
// How long after a rotation another process may still sign with the old key.
inline constexpr std::chrono::seconds kSigningKeysRefresh{60};
inline constexpr std::chrono::milliseconds kSigningKeysMissReloadGap{250};
// A retired key's tokens must be issued before its retirement plus this: the refresh window
// plus a minute of clock difference between processes.
inline constexpr std::chrono::milliseconds kRetiredKeyGrace =
    kSigningKeysRefresh + std::chrono::seconds(60);
// After this a retired key can have signed no valid token: a later rotation prunes it.
inline constexpr std::chrono::milliseconds kRetiredKeyKeep{std::chrono::hours(25)};
static_assert(kRetiredKeyKeep >= kSessionTtlMax + kRetiredKeyGrace);
inline constexpr int kRotateAttemptsMax = 5;  // compare-and-set retries against other rotators
inline constexpr size_t kVerifiedTokensPerThread = 256;
inline constexpr size_t kVerifiedTokenBytesMax = 1024;

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
  using SteadyNow = std::function<std::chrono::steady_clock::time_point()>;
  static Result<std::unique_ptr<SigningKeys>> load_or_create(
      Store& store, const SecretBox& secrets, int64_t now_ms,
      SteadyNow steady_now = std::chrono::steady_clock::now);

  struct Current {
    std::string id;
    token::Signer signer;
  };
  // The key new tokens are signed with (rereading the set when it is older than
  // kSigningKeysRefresh; a failed reread keeps the set this process has).
  Current current();
  // kTokenSignatureInvalid for an id this instance does not know, even after a reread.
  Result<token::Signer> signer_for(std::string_view key_id);
  // For claims whose signature verified: kTokenSignatureInvalid when they claim a lifetime over
  // kSessionTtlMax, or were issued after their (retired) key stopped signing.
  Result<void> check_issued(const token::RuntimeClaims& claims);
  // The whole check of a presented runtime token, with errors worded for its caller (param
  // "token"): the key its kid names (rereading the keys when unknown), the signature in constant
  // time, the expiry and check_issued(). A token that verified on this thread before (at most
  // kVerifiedTokensPerThread, each at most kVerifiedTokenBytesMax) is recognised by comparing
  // the whole token in constant time and skips the signature and the claims' parse; its expiry
  // and its key's state are checked again on every call.
  Result<token::RuntimeClaims> verify(std::string_view token, int64_t now_ms);
  // Rereads the set first, so another process's rotation shows.
  Result<std::vector<SigningKeyInfo>> list();
  // Makes a fresh key current and retires the old one (or, with `revoke_previous`, drops every
  // older key now), and prunes retired keys older than kRetiredKeyKeep. kConflict when other
  // rotations kept winning kRotateAttemptsMax times.
  Result<SigningKeyRotation> rotate(int64_t now_ms, bool revoke_previous = false);

 private:
  struct Key {
    SigningKeyInfo info;
    std::string raw;  // the key bytes, opened
  };
  struct Set {
    std::string text;  // as stored: the compare-and-set's expected value
    int64_t generation = 0;  // one more with each rotation
    std::string current;
    std::map<std::string, std::shared_ptr<const Key>, std::less<>> keys;
  };
  using Clock = std::chrono::steady_clock;

  SigningKeys(Store& store, const SecretBox& secrets, SteadyNow steady_now)
      : store_(store), secrets_(secrets), steady_now_(std::move(steady_now)) {}
  Result<std::shared_ptr<const Set>> read();
  Result<std::shared_ptr<const Set>> parse(std::string text) const;
  // The set, reread first when it is older than kSigningKeysRefresh (a failed reread keeps it).
  std::shared_ptr<const Set> fresh_snapshot();
  std::shared_ptr<const Set> snapshot();
  static std::vector<SigningKeyInfo> infos(const Set& set);
  // Takes `set` unless this process already has a later generation.
  void adopt(std::shared_ptr<const Set> set);

  Store& store_;
  const SecretBox& secrets_;
  SteadyNow steady_now_;
  std::mutex mutex_;        // guards the three below
  std::shared_ptr<const Set> set_;
  Clock::time_point loaded_at_;
  Clock::time_point last_miss_reload_;
  std::mutex miss_reload_;  // one reread on an unknown id at a time
};

}  // namespace tollgate::server
