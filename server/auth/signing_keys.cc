#include "server/auth/signing_keys.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <functional>

#include <nlohmann/json.hpp>

#include "server/auth/crypto.h"

namespace tollgate::server {

namespace {

using nlohmann::json;

std::string binding(std::string_view key_id) {
  std::string out = "runtime_signing_key/";
  out += key_id;
  return out;
}

Error malformed() {
  return fail(ErrorCode::kInternal, "the stored runtime signing keys are malformed");
}

// A stored integer field; 0 when absent, nullopt when it is there but not an integer.
std::optional<int64_t> int_or_zero(const json& object, const char* name) {
  auto found = object.find(name);
  if (found == object.end()) return 0;
  if (!found->is_number_integer()) return std::nullopt;
  return found->get<int64_t>();
}

bool is_string(const json& object, const char* name) {
  auto found = object.find(name);
  return found != object.end() && found->is_string();
}

// A new key's entry in the stored set: its id, the key sealed under the master key, and when.
Result<json> new_key_entry(const SecretBox& secrets, int64_t now_ms) {
  std::string id = new_id("rtk_");
  std::vector<uint8_t> raw = random_bytes(kSigningKeyBytes);
  auto sealed = secrets.seal(std::string(raw.begin(), raw.end()), binding(id));
  if (!sealed) return sealed.error();
  return json{{"id", id}, {"sealed", sealed.value()}, {"createdAtMs", now_ms}};
}

token::Signer hmac_signer(std::shared_ptr<const void> owner, std::string_view key) {
  // `key` lives as long as `owner`, which the signer keeps.
  return [owner = std::move(owner), key](std::string_view input) -> Result<std::string> {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
             reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac,
             &length) == nullptr) {
      return fail(ErrorCode::kInternal, "HMAC-SHA256 failed");
    }
    return std::string(reinterpret_cast<char*>(mac), length);
  };
}

constexpr const char* kUnknownKeyMessage =
    "the token was signed with a key this server does not have";

Error refused(std::string message) {
  return fail(ErrorCode::kTokenSignatureInvalid, std::move(message), "token");
}

}  // namespace

Result<std::unique_ptr<SigningKeys>> SigningKeys::load_or_create(Store& store,
                                                                 const SecretBox& secrets,
                                                                 int64_t now_ms,
                                                                 SteadyNow steady_now) {
  std::unique_ptr<SigningKeys> keys(new SigningKeys(store, secrets, std::move(steady_now)));
  auto stored = store.get_setting(kSigningKeysSetting);
  if (!stored) return stored.error();
  std::string text;
  if (stored.value()) {
    text = *stored.value();
  } else {
    auto first = new_key_entry(secrets, now_ms);
    if (!first) return first.error();
    json set = {{"generation", 1},
                {"current", first.value()["id"]},
                {"keys", json::array({first.value()})}};
    auto kept = store.put_setting_if_absent(kSigningKeysSetting, set.dump());
    if (!kept) return kept.error();
    text = kept.value();  // another process's set when it was first
  }
  auto set = keys->parse(std::move(text));
  if (!set) return set.error();
  keys->adopt(std::move(set.value()));
  return keys;
}

Result<std::shared_ptr<const SigningKeys::Set>> SigningKeys::parse(std::string text) const {
  json stored = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!stored.is_object() || !is_string(stored, "current") || !stored.contains("keys") ||
      !stored["keys"].is_array()) {
    return malformed();
  }
  auto generation = int_or_zero(stored, "generation");
  if (!generation) return malformed();
  auto set = std::make_shared<Set>();
  set->generation = *generation;
  set->current = stored["current"].get<std::string>();
  for (const json& entry : stored["keys"]) {
    if (!entry.is_object() || !is_string(entry, "id") || !is_string(entry, "sealed")) {
      return malformed();
    }
    auto created = int_or_zero(entry, "createdAtMs");
    auto retired = int_or_zero(entry, "retiredAtMs");
    if (!created || !retired) return malformed();
    auto key = std::make_shared<Key>();
    key->info = {entry.find("id")->get<std::string>(), *created, *retired};
    auto raw = secrets_.open(entry.find("sealed")->get<std::string>(), binding(key->info.id));
    if (!raw) return raw.error();
    key->raw = std::move(raw.value());
    set->keys[key->info.id] = std::move(key);
  }
  if (!set->keys.contains(set->current)) {
    return fail(ErrorCode::kInternal, "the current runtime signing key is missing");
  }
  set->text = std::move(text);
  return std::shared_ptr<const Set>(std::move(set));
}

Result<std::shared_ptr<const SigningKeys::Set>> SigningKeys::read() {
  auto stored = store_.get_setting(kSigningKeysSetting);
  if (!stored) return stored.error();
  if (!stored.value()) return fail(ErrorCode::kInternal, "the runtime signing keys are missing");
  return parse(std::move(*stored.value()));
}

void SigningKeys::adopt(std::shared_ptr<const Set> set) {
  std::lock_guard lock(mutex_);
  loaded_at_ = steady_now_();
  if (set_ && set_->generation > set->generation) return;  // a reread that started earlier
  set_ = std::move(set);
}

std::shared_ptr<const SigningKeys::Set> SigningKeys::snapshot() {
  std::lock_guard lock(mutex_);
  return set_;
}

std::shared_ptr<const SigningKeys::Set> SigningKeys::fresh_snapshot() {
  bool stale = false;
  {
    std::lock_guard lock(mutex_);
    stale = steady_now_() - loaded_at_ >= kSigningKeysRefresh;
    if (stale) loaded_at_ = steady_now_();  // one reader rereads; the others go on meanwhile
  }
  if (stale) {
    if (auto fresh = read(); fresh) adopt(std::move(fresh.value()));
  }
  return snapshot();
}

SigningKeys::Current SigningKeys::current() {
  auto set = fresh_snapshot();
  const auto& key = set->keys.at(set->current);
  return {key->info.id, hmac_signer(key, key->raw)};
}

Result<token::Signer> SigningKeys::signer_for(std::string_view key_id) {
  auto set = fresh_snapshot();
  auto found = set->keys.find(key_id);
  if (found == set->keys.end()) {
    // One reread at a time: a miss that waited here looks again at what the reread brought.
    std::lock_guard reloading(miss_reload_);
    set = snapshot();
    found = set->keys.find(key_id);
    bool reread = false;
    if (found == set->keys.end()) {
      std::lock_guard lock(mutex_);
      if (steady_now_() - last_miss_reload_ >= kSigningKeysMissReloadGap) {
        last_miss_reload_ = steady_now_();
        reread = true;
      }
    }
    if (reread) {
      if (auto fresh = read(); fresh) {
        adopt(std::move(fresh.value()));
        set = snapshot();
        found = set->keys.find(key_id);
      }
    }
  }
  if (found == set->keys.end()) {
    return refused(kUnknownKeyMessage);
  }
  return hmac_signer(found->second, found->second->raw);
}

Result<void> SigningKeys::check_issued(const token::RuntimeClaims& claims) {
  if (claims.expires_at_ms - claims.issued_at_ms >
      std::chrono::milliseconds(kSessionTtlMax).count()) {
    return refused("the runtime token claims a lifetime over a day, which no server issues");
  }
  // Fresh: a remembered token reaches only this check, and another process's revocation must
  // still show here within kSigningKeysRefresh.
  auto set = fresh_snapshot();
  auto found = set->keys.find(claims.key_id);
  if (found == set->keys.end()) {
    return refused(kUnknownKeyMessage);
  }
  int64_t retired = found->second->info.retired_at_ms;
  if (retired > 0 && claims.issued_at_ms > retired + kRetiredKeyGrace.count()) {
    return refused("the token was signed with a retired key after it was retired");
  }
  return {};
}

namespace {

// Tokens that verified on this thread, one per slot by the token's hash. A slot names the
// SigningKeys that verified it, so two instances in one process never share an answer.
struct VerifiedToken {
  const SigningKeys* keys = nullptr;
  std::string token;
  token::RuntimeClaims claims;
};
using VerifiedTokens = std::array<VerifiedToken, kVerifiedTokensPerThread>;

VerifiedToken& slot_for(VerifiedTokens& cache, std::string_view token) {
  return cache[std::hash<std::string_view>{}(token) % cache.size()];
}

bool same_token(const VerifiedToken& slot, const SigningKeys* keys, std::string_view token) {
  return slot.keys == keys && slot.token.size() == token.size() &&
         CRYPTO_memcmp(slot.token.data(), token.data(), token.size()) == 0;
}

// The caller's wording for a failed check: what went wrong and what to do.
Error for_caller(Error error, bool unknown_key) {
  if (unknown_key) return error;  // signer_for() words it already
  if (error.code == ErrorCode::kTokenMalformed) {
    return fail(ErrorCode::kTokenMalformed, "the runtime token is malformed", "token");
  }
  error.param = "token";
  if (error.code == ErrorCode::kTokenExpired) {
    error.message = "the runtime token has expired; mint a new session";
  } else if (error.code == ErrorCode::kTokenSignatureInvalid) {
    error.message = "the runtime token's signature does not verify";
  }
  return error;
}

}  // namespace

Result<token::RuntimeClaims> SigningKeys::verify(std::string_view token, int64_t now_ms) {
  thread_local VerifiedTokens verified;
  VerifiedToken& slot = slot_for(verified, token);
  if (same_token(slot, this, token)) {
    if (auto fresh = token::check_expiry(slot.claims, now_ms); !fresh)
      return for_caller(fresh.error(), false);
    if (auto issued = check_issued(slot.claims); !issued) return issued.error();
    return slot.claims;
  }
  bool unknown_key = false;
  auto claims = token::verify_keyed(
      token,
      [&](std::string_view key_id) {
        auto signer = signer_for(key_id);
        unknown_key = !signer;
        return signer;
      },
      now_ms);
  if (!claims) return for_caller(claims.error(), unknown_key);
  if (auto issued = check_issued(claims.value()); !issued) return issued.error();
  if (token.size() <= kVerifiedTokenBytesMax) {
    slot = VerifiedToken{this, std::string(token), claims.value()};
  }
  return claims;
}

std::vector<SigningKeyInfo> SigningKeys::infos(const Set& set) {
  std::vector<SigningKeyInfo> out{set.keys.at(set.current)->info};
  for (const auto& [id, key] : set.keys) {
    if (id != set.current) out.push_back(key->info);
  }
  return out;
}

Result<std::vector<SigningKeyInfo>> SigningKeys::list() {
  auto fresh = read();
  if (!fresh) return fresh.error();
  adopt(fresh.value());
  return infos(*snapshot());
}

Result<SigningKeyRotation> SigningKeys::rotate(int64_t now_ms, bool revoke_previous) {
  for (int attempt = 1; attempt <= kRotateAttemptsMax; ++attempt) {
    auto before = read();
    if (!before) return before.error();
    auto fresh = new_key_entry(secrets_, now_ms);
    if (!fresh) return fresh.error();
    SigningKeyRotation rotation;
    rotation.current = fresh.value()["id"].get<std::string>();
    json kept = json::array({fresh.value()});
    for (const auto& [id, key] : before.value()->keys) {
      SigningKeyInfo info = key->info;
      if (id == before.value()->current || info.retired_at_ms == 0) info.retired_at_ms = now_ms;
      if (revoke_previous || now_ms - info.retired_at_ms >= kRetiredKeyKeep.count()) {
        rotation.pruned.push_back(id);
        continue;
      }
      auto sealed = secrets_.seal(key->raw, binding(id));
      if (!sealed) return sealed.error();
      kept.push_back({{"id", id},
                      {"sealed", sealed.value()},
                      {"createdAtMs", info.created_at_ms},
                      {"retiredAtMs", info.retired_at_ms}});
    }
    json next = {{"generation", before.value()->generation + 1},
                 {"current", rotation.current},
                 {"keys", std::move(kept)}};
    std::string next_text = next.dump();
    auto swapped = store_.replace_setting(kSigningKeysSetting, before.value()->text, next_text);
    if (!swapped) return swapped.error();
    if (!swapped.value()) continue;  // another process rotated first: start from its set
    auto set = parse(std::move(next_text));
    if (!set) return set.error();
    rotation.keys = infos(*set.value());
    adopt(std::move(set.value()));
    return rotation;
  }
  return fail(ErrorCode::kConflict,
              "other rotations of the signing keys kept landing first; retry the rotation");
}

}  // namespace tollgate::server
