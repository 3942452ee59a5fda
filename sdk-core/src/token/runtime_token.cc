#include "tollgate/token/runtime_token.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "tollgate/codec/base64url.h"
#include "tollgate/core/bytes.h"

namespace tollgate::token {
namespace {

using nlohmann::json;

Error malformed(std::string message) {
  return fail(ErrorCode::kTokenMalformed, std::move(message), "token");
}

bool is_id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

bool is_slug_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

bool is_id(std::string_view text, bool (*allowed)(char)) {
  return !text.empty() && text.size() <= kIdBytesMax &&
         std::all_of(text.begin(), text.end(), allowed);
}

bool is_end_user_id(std::string_view text) {
  if (text.empty() || text.size() > kEndUserIdBytesMax || !is_valid_utf8(text)) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x20 || byte == 0x7F) return false;  // C0 controls and DEL
    // C1 controls U+0080-U+009F are encoded as C2 80 - C2 9F.
    if (byte == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) <= 0x9F) {
      return false;
    }
  }
  return true;
}

// Checks every claim; the error names the claim so callers can report the field.
Result<void> validate(const RuntimeClaims& claims) {
  auto bad = [](std::string param, std::string message) {
    return fail(ErrorCode::kInvalidArgument, std::move(message), std::move(param));
  };
  if (!is_id(claims.key_id, is_id_char)) {
    return bad("key_id", "key_id must be 1-64 characters of A-Z a-z 0-9 _ -");
  }
  if (!is_id(claims.session_id, is_id_char)) {
    return bad("session_id", "session_id must be 1-64 characters of A-Z a-z 0-9 _ -");
  }
  if (!is_id(claims.project_id, is_id_char)) {
    return bad("project_id", "project_id must be 1-64 characters of A-Z a-z 0-9 _ -");
  }
  if (!is_end_user_id(claims.end_user_id)) {
    return bad("end_user_id",
               "end_user_id must be 1-256 bytes of UTF-8 without control characters");
  }
  if (claims.operations.empty() || claims.operations.size() > kOperationsMax) {
    return bad("operations", "operations must list 1-64 operation slugs");
  }
  for (auto it = claims.operations.begin(); it != claims.operations.end(); ++it) {
    if (!is_id(*it, is_slug_char)) {
      return bad("operations", "operation '" + *it + "' must be 1-64 characters of a-z 0-9 _ -");
    }
    if (std::find(claims.operations.begin(), it, *it) != it) {
      return bad("operations", "operation '" + *it + "' is listed twice");
    }
  }
  if (claims.issued_at_ms < 0) return bad("issued_at_ms", "issued_at_ms must not be negative");
  if (claims.expires_at_ms > kTimeMsMax) {
    return bad("expires_at_ms", "expires_at_ms must be at most 2^53 - 1");
  }
  if (claims.expires_at_ms <= claims.issued_at_ms) {
    return bad("expires_at_ms", "expires_at_ms must be after issued_at_ms");
  }
  return {};
}

// Fixed key order, so the same claims always sign to the same token.
std::string claims_json(const RuntimeClaims& claims) {
  json ops = json::array();
  for (const auto& op : claims.operations) ops.push_back(op);
  std::string out = "{\"v\":" + std::to_string(kClaimsVersion);
  out += ",\"kid\":" + json(claims.key_id).dump();
  out += ",\"sid\":" + json(claims.session_id).dump();
  out += ",\"pid\":" + json(claims.project_id).dump();
  out += ",\"sub\":" + json(claims.end_user_id).dump();
  out += ",\"ops\":" + ops.dump();
  out += ",\"iat\":" + std::to_string(claims.issued_at_ms);
  out += ",\"exp\":" + std::to_string(claims.expires_at_ms);
  out += "}";
  return out;
}

Result<RuntimeClaims> parse_claims(std::string_view text) {
  json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object())
    return malformed("token claims are not a JSON object");
  static constexpr std::string_view kKeys[] = {"v", "kid", "sid", "pid", "sub", "ops", "iat", "exp"};
  for (const auto& [key, value] : doc.items()) {
    if (std::find(std::begin(kKeys), std::end(kKeys), key) == std::end(kKeys)) {
      return malformed("token has an unknown claim '" + key + "'");
    }
  }
  auto integer = [&](const char* key) -> const json* {
    auto it = doc.find(key);
    if (it == doc.end() || !it->is_number_integer()) return nullptr;
    // Values past INT64_MAX parse as unsigned; refuse them rather than wrap.
    bool too_big = it->is_number_unsigned() && it->get<uint64_t>() > uint64_t{INT64_MAX};
    return too_big ? nullptr : &*it;
  };
  auto string = [&](const char* key) -> const json* {
    auto it = doc.find(key);
    return it != doc.end() && it->is_string() ? &*it : nullptr;
  };
  const json* version = integer("v");
  if (version == nullptr || version->get<int64_t>() != kClaimsVersion) {
    return malformed("token claims version is missing or unsupported");
  }
  const json *kid = string("kid"), *sid = string("sid"), *pid = string("pid"), *sub = string("sub");
  const json *iat = integer("iat"), *exp = integer("exp");
  auto ops = doc.find("ops");
  if (!kid || !sid || !pid || !sub || !iat || !exp || ops == doc.end() || !ops->is_array()) {
    return malformed(
        "token claims must have string kid, sid, pid, sub, integer iat, exp and array ops");
  }
  RuntimeClaims claims{sid->get<std::string>(), pid->get<std::string>(),
                       sub->get<std::string>(), {},
                       iat->get<int64_t>(),     exp->get<int64_t>(),
                       kid->get<std::string>()};
  for (const auto& op : *ops) {
    if (!op.is_string()) return malformed("token claim ops must hold strings");
    claims.operations.push_back(op.get<std::string>());
  }
  if (auto valid = validate(claims); !valid)
    return malformed("token claims are invalid: " + valid.error().message);
  return claims;
}

// The two base64url parts of a token, split and size-checked.
struct TokenParts {
  std::string_view signing_input;  // "tg_rt_<claims>"
  std::string_view claims;
  std::string_view signature;
};

Result<TokenParts> split(std::string_view token) {
  if (token.size() > kRuntimeTokenBytesMax) return malformed("token is longer than 4096 bytes");
  if (token.substr(0, kRuntimeTokenPrefix.size()) != kRuntimeTokenPrefix) {
    return malformed("runtime token must start with tg_rt_");
  }
  size_t dot = token.find('.');
  if (dot == std::string_view::npos || token.find('.', dot + 1) != std::string_view::npos) {
    return malformed("runtime token must have exactly one '.'");
  }
  TokenParts parts{token.substr(0, dot),
                   token.substr(kRuntimeTokenPrefix.size(), dot - kRuntimeTokenPrefix.size()),
                   token.substr(dot + 1)};
  if (parts.claims.empty() || parts.signature.empty())
    return malformed("runtime token has an empty part");
  return parts;
}

Result<RuntimeClaims> decode_claims(std::string_view claims_b64) {
  auto text = codec::base64url_decode(claims_b64);
  if (!text) return malformed("token claims are not base64url");
  return parse_claims(text.value());
}

Error no_signer() {
  return fail(ErrorCode::kInvalidArgument, "a signer function is required", "signer");
}

}  // namespace

Result<std::string> encode(const RuntimeClaims& claims, const Signer& sign) {
  if (!sign) return no_signer();
  if (auto valid = validate(claims); !valid) return valid.error();
  std::string token(kRuntimeTokenPrefix);
  token += codec::base64url_encode(claims_json(claims));
  auto signature = sign(token);
  if (!signature) return signature.error();
  token += '.';
  token += codec::base64url_encode(signature.value());
  if (token.size() > kRuntimeTokenBytesMax) {
    return fail(ErrorCode::kInvalidArgument, "claims make a token longer than 4096 bytes",
                "operations");
  }
  return token;
}

Result<RuntimeClaims> decode_unverified(std::string_view token) {
  auto parts = split(token);
  if (!parts) return parts.error();
  if (!codec::base64url_decode(parts.value().signature))
    return malformed("token signature is not base64url");
  return decode_claims(parts.value().claims);
}

namespace {

Result<void> check_signature(const TokenParts& parts, const Result<std::string>& presented,
                             const Signer& sign) {
  if (!sign) return no_signer();
  auto expected = sign(parts.signing_input);
  if (!expected) return expected.error();
  if (!presented || !constant_time_equal(presented.value(), expected.value())) {
    return fail(ErrorCode::kTokenSignatureInvalid, "runtime token signature does not verify",
                "token");
  }
  return {};
}

}  // namespace

Result<RuntimeClaims> verify(std::string_view token, const Signer& sign, int64_t now_ms) {
  if (!sign) return no_signer();
  auto parts = split(token);
  if (!parts) return parts.error();
  auto presented = codec::base64url_decode(parts.value().signature);
  if (auto checked = check_signature(parts.value(), presented, sign); !checked)
    return checked.error();
  auto claims = decode_claims(parts.value().claims);
  if (!claims) return claims.error();
  if (auto fresh = check_expiry(claims.value(), now_ms); !fresh) return fresh.error();
  return claims;
}

Result<RuntimeClaims> verify_keyed(std::string_view token, const SignerLookup& signer_for,
                                   int64_t now_ms) {
  auto parts = split(token);
  if (!parts) return parts.error();
  auto presented = codec::base64url_decode(parts.value().signature);
  if (!presented) return malformed("token signature is not base64url");
  auto claims = decode_claims(parts.value().claims);
  if (!claims) return claims.error();
  auto sign = signer_for(claims.value().key_id);
  if (!sign) return sign.error();
  if (auto checked = check_signature(parts.value(), presented, sign.value()); !checked)
    return checked.error();
  if (auto fresh = check_expiry(claims.value(), now_ms); !fresh) return fresh.error();
  return claims;
}

Result<void> check_expiry(const RuntimeClaims& claims, int64_t now_ms) {
  if (now_ms >= claims.expires_at_ms) {
    return fail(ErrorCode::kTokenExpired,
                "runtime token expired at " + std::to_string(claims.expires_at_ms) + " ms",
                "token");
  }
  return {};
}

Result<void> check_scope(const RuntimeClaims& claims, std::string_view operation) {
  if (std::find(claims.operations.begin(), claims.operations.end(), operation) ==
      claims.operations.end()) {
    return fail(ErrorCode::kTokenScopeDenied,
                "runtime token does not grant operation '" + std::string(operation) + "'",
                "operation");
  }
  return {};
}

}  // namespace tollgate::token
