// Runtime-session tokens: `tg_rt_<base64url(claims JSON)>.<base64url(signature)>`.
// The claims are {"v":1,"kid","sid","pid","sub","ops","iat","exp"} in that order; any other
// claim (an "alg", say) or another version is refused as malformed.
//
// A token lets one end user of one project call a fixed set of operations until it expires.
// The codec is pure: the signature function is injected. The server signs and verifies with
// HMAC-SHA256 from OpenSSL; the browser only decodes (it never holds the key) to show expiry
// and scope, and the server re-verifies every token it is handed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "tollgate/core/result.h"

namespace tollgate::token {

inline constexpr std::string_view kRuntimeTokenPrefix = "tg_rt_";
inline constexpr size_t kRuntimeTokenBytesMax = 4096;
inline constexpr size_t kOperationsMax = 64;
inline constexpr size_t kIdBytesMax = 64;
inline constexpr size_t kEndUserIdBytesMax = 256;
inline constexpr int64_t kClaimsVersion = 1;
// Times stay within 2^53 - 1 ms (year 287396) so JavaScript numbers hold them exactly.
inline constexpr int64_t kTimeMsMax = 9'007'199'254'740'991;

// What a runtime token asserts. All fields are required.
struct RuntimeClaims {
  std::string session_id;               // "sid": the runtime session, for revocation and audit
  std::string project_id;               // "pid": the project (tenant)
  std::string end_user_id;              // "sub": the project's own user id, UTF-8, no controls
  std::vector<std::string> operations;  // "ops": operation slugs this token may invoke
  int64_t issued_at_ms = 0;             // "iat"
  int64_t expires_at_ms = 0;            // "exp": the token is refused at and after this instant
  std::string key_id;                   // "kid": which signing key signed it, so keys can rotate

  friend bool operator==(const RuntimeClaims&, const RuntimeClaims&) = default;
};

// Computes the raw signature bytes of `signing_input` (everything before the '.').
// It may fail, e.g. when the key is unavailable; the codec then fails with that error.
using Signer = std::function<Result<std::string>(std::string_view signing_input)>;

// Validates the claims and returns a signed token. kInvalidArgument names the bad claim, or
// "signer" when `sign` is empty.
Result<std::string> encode(const RuntimeClaims& claims, const Signer& sign);

// Parses a token's claims WITHOUT checking its signature. For display on untrusted clients.
// kTokenMalformed for anything that is not a well-formed token with valid claims.
Result<RuntimeClaims> decode_unverified(std::string_view token);

// Checks the signature in constant time, then parses the claims and checks expiry at `now_ms`.
// With several signing keys, read the "kid" with decode_unverified() first and pass that key's
// signer; the signature check then decides.
// kTokenSignatureInvalid, kTokenMalformed or kTokenExpired.
Result<RuntimeClaims> verify(std::string_view token, const Signer& sign, int64_t now_ms);

// verify() with several signing keys in one pass: reads the claims once, asks `signer_for` for
// the signer of their "kid" (its error is returned as is), then checks the signature in
// constant time and the expiry.
using SignerLookup = std::function<Result<Signer>(std::string_view key_id)>;
Result<RuntimeClaims> verify_keyed(std::string_view token, const SignerLookup& signer_for,
                                   int64_t now_ms);

// kTokenExpired when `now_ms` is at or past the expiry.
Result<void> check_expiry(const RuntimeClaims& claims, int64_t now_ms);

// kTokenScopeDenied unless `operation` is one of the claimed operations.
Result<void> check_scope(const RuntimeClaims& claims, std::string_view operation);

}  // namespace tollgate::token
