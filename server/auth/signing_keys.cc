#include "server/auth/signing_keys.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

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

Error malformed() { return fail(ErrorCode::kInternal, "the stored runtime signing keys are malformed"); }

// A new key's entry in the stored set: its id, the key sealed under the master key, and when.
Result<json> new_key_entry(const SecretBox& secrets, int64_t now_ms) {
  std::string id = new_id("rtk_");
  std::vector<uint8_t> raw = random_bytes(kSigningKeyBytes);
  auto sealed = secrets.seal(std::string(raw.begin(), raw.end()), binding(id));
  if (!sealed) return sealed.error();
  return json{{"id", id}, {"sealed", sealed.value()}, {"createdAtMs", now_ms}};
}

}  // namespace

Result<std::unique_ptr<SigningKeys>> SigningKeys::load_or_create(Store& store,
                                                                 const SecretBox& secrets,
                                                                 int64_t now_ms) {
  std::unique_ptr<SigningKeys> keys(new SigningKeys(store, secrets));
  auto stored = store.get_setting(kSigningKeysSetting);
  if (!stored) return stored.error();
  std::string text;
  if (stored.value()) {
    text = *stored.value();
  } else {
    auto first = new_key_entry(secrets, now_ms);
    if (!first) return first.error();
    json set = {{"current", first.value()["id"]}, {"keys", json::array({first.value()})}};
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
  if (!stored.is_object() || !stored["current"].is_string() || !stored["keys"].is_array()) {
    return malformed();
  }
  auto set = std::make_shared<Set>();
  set->current = stored["current"].get<std::string>();
  for (const json& entry : stored["keys"]) {
    if (!entry.is_object() || !entry["id"].is_string() || !entry["sealed"].is_string()) {
      return malformed();
    }
    auto key = std::make_shared<Key>();
    key->info.id = entry["id"].get<std::string>();
    key->info.created_at_ms = entry.value("createdAtMs", int64_t{0});
    key->info.retired_at_ms = entry.value("retiredAtMs", int64_t{0});
    auto raw = secrets_.open(entry["sealed"].get<std::string>(), binding(key->info.id));
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
  set_ = std::move(set);
  loaded_at_ = Clock::now();
}

std::shared_ptr<const SigningKeys::Set> SigningKeys::snapshot() {
  std::lock_guard lock(mutex_);
  return set_;
}

namespace {

token::Signer hmac_signer(std::shared_ptr<const void> owner, std::string_view key) {
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

}  // namespace

SigningKeys::Current SigningKeys::current() {
  bool stale = false;
  {
    std::lock_guard lock(mutex_);
    stale = Clock::now() - loaded_at_ >= kSigningKeysRefresh;
    if (stale) loaded_at_ = Clock::now();  // one reader rereads; the others go on meanwhile
  }
  if (stale) {
    if (auto fresh = read(); fresh) adopt(std::move(fresh.value()));
  }
  auto set = snapshot();
  const auto& key = set->keys.at(set->current);
  return {key->info.id, hmac_signer(key, key->raw)};
}

Result<token::Signer> SigningKeys::signer_for(std::string_view key_id) {
  auto set = snapshot();
  auto found = set->keys.find(key_id);
  if (found == set->keys.end()) {
    bool reread = false;
    {
      std::lock_guard lock(mutex_);
      if (Clock::now() - last_miss_reload_ >= kSigningKeysMissReloadGap) {
        last_miss_reload_ = Clock::now();
        reread = true;
      }
    }
    if (reread) {
      if (auto fresh = read(); fresh) {
        adopt(fresh.value());
        set = std::move(fresh.value());
        found = set->keys.find(key_id);
      }
    }
  }
  if (found == set->keys.end()) {
    return fail(ErrorCode::kTokenSignatureInvalid,
                "the token was signed with a key this server does not have", "token");
  }
  return hmac_signer(found->second, found->second->raw);
}

std::vector<SigningKeyInfo> SigningKeys::infos(const Set& set) {
  std::vector<SigningKeyInfo> out{set.keys.at(set.current)->info};
  for (const auto& [id, key] : set.keys) {
    if (id != set.current) out.push_back(key->info);
  }
  return out;
}

std::vector<SigningKeyInfo> SigningKeys::list() { return infos(*snapshot()); }

Result<SigningKeyRotation> SigningKeys::rotate(int64_t now_ms) {
  for (int attempt = 1; attempt <= kRotateAttemptsMax; ++attempt) {
    auto before = read();
    if (!before) return before.error();
    json stored = json::parse(before.value()->text, nullptr, /*allow_exceptions=*/false);
    auto fresh = new_key_entry(secrets_, now_ms);
    if (!fresh) return fresh.error();
    SigningKeyRotation rotation;
    rotation.current = fresh.value()["id"].get<std::string>();
    json kept = json::array({fresh.value()});
    for (json entry : stored["keys"]) {
      std::string id = entry["id"].get<std::string>();
      if (id == before.value()->current) entry["retiredAtMs"] = now_ms;
      int64_t retired = entry.value("retiredAtMs", int64_t{0});
      if (retired > 0 && now_ms - retired >= kRetiredKeyKeep.count()) {
        rotation.pruned.push_back(id);
        continue;
      }
      kept.push_back(std::move(entry));
    }
    json next = {{"current", rotation.current}, {"keys", std::move(kept)}};
    auto swapped = store_.replace_setting(kSigningKeysSetting, before.value()->text, next.dump());
    if (!swapped) return swapped.error();
    if (!swapped.value()) continue;  // another process rotated first: start from its set
    auto set = parse(next.dump());
    if (!set) return set.error();
    rotation.keys = infos(*set.value());
    adopt(std::move(set.value()));
    return rotation;
  }
  return fail(ErrorCode::kConflict,
              "other rotations of the signing keys kept landing first; retry the rotation");
}

}  // namespace tollgate::server
