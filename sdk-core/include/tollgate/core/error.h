// Error model shared by every Tollgate component: one ErrorCode enum and an Error value.
//
// TOLLGATE_ERROR_CODES is the single source of truth for the code list. The server's HTTP status
// table, the wasm bindings and the generated TypeScript `ErrorCode` union are all derived from it,
// so adding a code here is the only edit needed (the compiler flags the status table).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tollgate {

// X(enumerator, wire name, what it means). The wire name appears in API errors and in
// TollgateError.code in JavaScript; it never changes once released.
#define TOLLGATE_ERROR_CODES(X)                                                                  \
  X(kInvalidArgument, "invalid_argument", "A field is missing, malformed or out of range.")      \
  X(kOverflow, "overflow", "An amount would leave the int64 range.")                             \
  X(kBase64Invalid, "base64_invalid", "Text is not canonical unpadded base64url.")               \
  X(kTokenMalformed, "token_malformed", "A token does not have the expected shape or claims.")   \
  X(kTokenSignatureInvalid, "token_signature_invalid", "A token's signature does not verify.")   \
  X(kTokenExpired, "token_expired", "A token's expiry time has passed.")                         \
  X(kTokenScopeDenied, "token_scope_denied", "A token does not grant the requested operation.")  \
  X(kTemplateSyntax, "template_syntax", "A template has an unclosed or malformed {{variable}}.") \
  X(kTemplateVariableMissing, "template_variable_missing",                                       \
    "A template variable was given no value.")                                                   \
  X(kUnauthenticated, "unauthenticated", "No valid credential was presented.")                   \
  X(kForbidden, "forbidden", "The credential may not perform this action.")                      \
  X(kInsufficientCredits, "insufficient_credits",                                                \
    "The balance or spend cap does not cover the cost.")                                         \
  X(kNotFound, "not_found", "The resource or route does not exist.")                             \
  X(kMethodNotAllowed, "method_not_allowed", "The route exists but not for this HTTP method.")   \
  X(kConflict, "conflict", "The request conflicts with the current state.")                      \
  X(kPayloadTooLarge, "payload_too_large", "The request body exceeds its limit.")                \
  X(kHeadersTooLarge, "headers_too_large", "The request headers exceed their limit.")            \
  X(kRateLimited, "rate_limited", "Too many requests; retry later.")                             \
  X(kUpstreamError, "upstream_error", "The model provider or payment API failed.")               \
  X(kUpstreamTimeout, "upstream_timeout", "The model provider or payment API did not answer.")   \
  X(kStoreUnavailable, "store_unavailable", "The database cannot answer; nothing was run.")      \
  X(kAddressInUse, "address_in_use", "The listening port is already taken.")                     \
  X(kIoError, "io_error", "A file or directory could not be created, read or written.")          \
  X(kInternal, "internal", "An invariant broke inside Tollgate; this is a bug.")               \
  X(kJsonSyntax, "json_syntax", "Text is not well-formed JSON.")                                 \
  X(kRequestTimeout, "request_timeout",                                                          \
    "The request did not arrive in time, or its body arrived too slowly.")                       \
  X(kNotImplemented, "not_implemented",                                                          \
    "The request uses an HTTP feature Tollgate does not implement.")

// Every way a Tollgate operation can fail. Values are stable and never reused.
enum class ErrorCode : int32_t {
#define TOLLGATE_ERROR_ENUM(name, wire, doc) name,
  TOLLGATE_ERROR_CODES(TOLLGATE_ERROR_ENUM)
#undef TOLLGATE_ERROR_ENUM
};

// Number of ErrorCode values; codes are dense from 0.
inline constexpr int32_t kErrorCodeCount = 0
#define TOLLGATE_ERROR_COUNT(name, wire, doc) +1
    TOLLGATE_ERROR_CODES(TOLLGATE_ERROR_COUNT)
#undef TOLLGATE_ERROR_COUNT
    ;

// The stable wire name of a code, e.g. "token_expired".
std::string_view error_code_name(ErrorCode code);

// The code with this wire name, if any.
std::optional<ErrorCode> error_code_from_name(std::string_view name);

// A failure: what kind, a human message, and the input field it concerns (empty if none).
struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  std::string param;
};

}  // namespace tollgate
