// libFuzzer target for the runtime-token codec (sdk-core token/runtime_token), signing with
// HMAC-SHA256 (OpenSSL, as the server does) under the fixed key of tests/vectors/token.json, so
// the vectors' tokens verify. Every input is read two ways:
//
// 1. As a token. decode_unverified, verify and verify_keyed never crash and refuse with the
//    codes runtime_token.h names; claims they accept are valid (they encode again, and that token
//    decodes to the same claims); verify and verify_keyed agree; a token that verifies is the
//    one encode() makes from its claims (one encoding per claims, so none can be forged by
//    re-spelling the claims around a valid signature).
// 2. As claims, one per line: kid, sid, pid, sub, ops (comma-separated), iat, exp. encode()
//    refuses them naming a claim, or makes a token of at most kRuntimeTokenBytesMax bytes that
//    decodes and verifies to the same claims, is refused at its expiry and under another key.
// Build and run with `make fuzz`.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.h"
#include "tollgate/token/runtime_token.h"

using tollgate::ErrorCode;
using tollgate::Result;
using tollgate::fuzz::check;
namespace token = tollgate::token;

namespace {

constexpr std::string_view kKeyId = "rtk_1";  // the vectors' key id

token::Signer hmac_signer(std::string key) {
  return [key = std::move(key)](std::string_view input) -> Result<std::string> {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
             reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest,
             &length) == nullptr) {
      return tollgate::fail(ErrorCode::kInternal, "HMAC-SHA256 failed");
    }
    return std::string(reinterpret_cast<const char*>(digest), length);
  };
}

// tests/vectors/token.json's key_hex: the bytes 0x00 to 0x1f.
std::string vector_key() {
  std::string key;
  for (int i = 0; i < 32; ++i) key += static_cast<char>(i);
  return key;
}

const token::Signer& signer() {
  static const token::Signer sign = hmac_signer(vector_key());
  return sign;
}

const token::Signer& other_signer() {
  static const token::Signer sign = hmac_signer(std::string(32, 'k'));
  return sign;
}

Result<token::Signer> lookup(std::string_view key_id) {
  if (key_id == kKeyId) return signer();
  return tollgate::fail(ErrorCode::kTokenSignatureInvalid, "unknown signing key", "token");
}

bool is_token_error(ErrorCode code) {
  return code == ErrorCode::kTokenMalformed || code == ErrorCode::kTokenSignatureInvalid ||
         code == ErrorCode::kTokenExpired;
}

// Claims that decoded must be valid: they encode (unless the canonical token would be longer
// than the limit, possible when the presented signature was short), and decode back unchanged.
void check_decoded(const token::RuntimeClaims& claims) {
  auto again = token::encode(claims, signer());
  if (!again) {
    check(again.error().code == ErrorCode::kInvalidArgument &&
              again.error().message.find("longer than") != std::string::npos,
          "decoded claims encode again (or only the token length is refused)");
    return;
  }
  auto decoded = token::decode_unverified(again.value());
  check(decoded.ok() && decoded.value() == claims, "re-encoded claims decode unchanged");
  check(token::check_scope(claims, claims.operations.front()).ok(),
        "a claimed operation is granted");
  check(!token::check_expiry(claims, claims.expires_at_ms).ok(),
        "a token is refused at its expiry");
}

void check_as_token(std::string_view text) {
  auto decoded = token::decode_unverified(text);
  if (!decoded) {
    check(decoded.error().code == ErrorCode::kTokenMalformed, "decode refuses as kTokenMalformed");
  } else {
    check_decoded(decoded.value());
  }
  int64_t now_ms = decoded ? decoded.value().issued_at_ms : 0;
  auto verified = token::verify(text, signer(), now_ms);
  auto keyed = token::verify_keyed(text, lookup, now_ms);
  if (!verified) {
    check(is_token_error(verified.error().code), "verify refuses with a token error");
    check(!keyed.ok(), "verify_keyed refuses what verify refuses");
    return;
  }
  check(decoded.ok() && verified.value() == decoded.value(),
        "verify reads the claims decode reads");
  check(keyed.ok() && keyed.value() == verified.value(), "verify_keyed agrees with verify");
  auto canonical = token::encode(verified.value(), signer());
  check(canonical.ok() && canonical.value() == text,
        "a token that verifies is the one encode() makes from its claims");
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  while (true) {
    size_t at = text.find(separator);
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return parts;
    text.remove_prefix(at + 1);
  }
}

int64_t number(std::string_view text) {
  int64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;  // 0 when the text is not a number
}

void check_as_claims(std::string_view text) {
  auto lines = split(text, '\n');
  if (lines.size() < 7) return;
  token::RuntimeClaims claims;
  claims.key_id = lines[0];
  claims.session_id = lines[1];
  claims.project_id = lines[2];
  claims.end_user_id = lines[3];
  for (std::string_view op : split(lines[4], ',')) claims.operations.emplace_back(op);
  claims.issued_at_ms = number(lines[5]);
  claims.expires_at_ms = number(lines[6]);

  auto encoded = token::encode(claims, signer());
  if (!encoded) {
    static const std::vector<std::string> kClaimParams = {
        "key_id",     "session_id",   "project_id",   "end_user_id",
        "operations", "issued_at_ms", "expires_at_ms"};
    const auto& error = encoded.error();
    check(error.code == ErrorCode::kInvalidArgument, "encode refuses with kInvalidArgument");
    check(std::find(kClaimParams.begin(), kClaimParams.end(), error.param) != kClaimParams.end(),
          "encode names the claim it refuses");
    return;
  }
  const std::string& minted = encoded.value();
  check(minted.size() <= token::kRuntimeTokenBytesMax, "a token is at most kRuntimeTokenBytesMax");
  check(minted.starts_with(token::kRuntimeTokenPrefix), "a token starts with tg_rt_");
  auto decoded = token::decode_unverified(minted);
  check(decoded.ok() && decoded.value() == claims, "encode then decode gives the same claims");
  auto verified = token::verify(minted, signer(), claims.issued_at_ms);
  check(verified.ok() && verified.value() == claims, "encode then verify gives the same claims");
  auto expired = token::verify(minted, signer(), claims.expires_at_ms);
  check(!expired && expired.error().code == ErrorCode::kTokenExpired,
        "a token is refused at its expiry");
  auto forged = token::verify(minted, other_signer(), claims.issued_at_ms);
  check(!forged && forged.error().code == ErrorCode::kTokenSignatureInvalid,
        "a token does not verify under another key");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input = tollgate::fuzz::as_text(data, size);
  check_as_token(input);
  check_as_claims(input);
  return 0;
}
