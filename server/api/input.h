// Reading request input with one clear error per problem: every failure is kInvalidArgument
// naming the field, so a client can show it next to the right input. The field checks
// themselves (string_field, int_field, only_fields …) are server/input/fields.h, shared with
// feature definitions; this adds what needs the HTTP request: its JSON body and its query string.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "server/http/query.h"
#include "server/http/types.h"
#include "server/input/fields.h"
#include "tollgate/core/result.h"

namespace tollgate::server {

// Nesting deeper than this is refused before it reaches any handler.
inline constexpr int kJsonDepthMax = 32;

// End-user ids and event names: non-empty valid UTF-8 without control characters.
inline constexpr size_t kUserIdBytesMax = 256;
inline constexpr size_t kEventBytesMax = 128;
inline constexpr size_t kReasonBytesMax = 500;
inline constexpr size_t kNameBytesMax = 200;

// The JSON object in the body. The content type must be application/json; an empty body is {}
// only when `allow_empty`.
Result<json> json_object_body(const Request& request, bool allow_empty = false);

// The same checks as string_field and int_field, for query parameters.
Result<std::string> string_param(const QueryParams& query, std::string_view name, size_t max_bytes);
// As string_param, but absent is nullopt.
Result<std::optional<std::string>> optional_string_param(const QueryParams& query,
                                                         std::string_view name, size_t max_bytes);
Result<int64_t> int_param(const QueryParams& query, std::string_view name, int64_t min, int64_t max,
                          std::optional<int64_t> fallback = std::nullopt);

}  // namespace tollgate::server
