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

token::Signer hmac_signer(std::string key) {
  return [key = std::move(key)](std::string_view input) -> Result<std::string> {
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

// A first key set: one fresh key, current.
Result<std::string> new_key_set(const SecretBox& secrets) {
  std::string id = new_id("rtk_");
  std::vector<uint8_t> raw = random_bytes(kSigningKeyBytes);
  auto sealed = secrets.seal(std::string(raw.begin(), raw.end()), binding(id));
  if (!sealed) return sealed.error();
  json set = {{"current", id}, {"keys", json::array({{{"id", id}, {"sealed", sealed.value()}}})}};
  return set.dump();
}

}  // namespace

Result<SigningKeys> SigningKeys::load_or_create(Store& store, const SecretBox& secrets) {
  auto stored = store.get_setting(kSigningKeysSetting);
  if (!stored) return stored.error();
  std::string text;
  if (stored.value()) {
    text = *stored.value();
  } else {
    auto fresh = new_key_set(secrets);
    if (!fresh) return fresh.error();
    auto kept = store.put_setting_if_absent(kSigningKeysSetting, fresh.value());
    if (!kept) return kept.error();
    text = kept.value();  // another process's set when it was first
  }
  json set = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!set.is_object() || !set["current"].is_string() || !set["keys"].is_array()) {
    return fail(ErrorCode::kInternal, "the stored runtime signing keys are malformed");
  }
  SigningKeys keys;
  keys.current_ = set["current"].get<std::string>();
  for (const json& entry : set["keys"]) {
    if (!entry.is_object() || !entry["id"].is_string() || !entry["sealed"].is_string()) {
      return fail(ErrorCode::kInternal, "the stored runtime signing keys are malformed");
    }
    std::string id = entry["id"].get<std::string>();
    auto raw = secrets.open(entry["sealed"].get<std::string>(), binding(id));
    if (!raw) return raw.error();
    keys.keys_[id] = raw.value();
  }
  if (!keys.keys_.contains(keys.current_)) {
    return fail(ErrorCode::kInternal, "the current runtime signing key is missing");
  }
  return keys;
}

token::Signer SigningKeys::current_signer() const { return hmac_signer(keys_.at(current_)); }

Result<token::Signer> SigningKeys::signer_for(std::string_view key_id) const {
  auto key = keys_.find(key_id);
  if (key == keys_.end()) {
    return fail(ErrorCode::kTokenSignatureInvalid,
                "the token was signed with a key this server does not have", "token");
  }
  return hmac_signer(key->second);
}

}  // namespace tollgate::server
