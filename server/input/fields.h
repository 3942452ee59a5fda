// Checked reads of the fields of a JSON object from outside (a request body, a feature
// definition), with one clear error per problem: every failure is kInvalidArgument naming the
// field, so a client can show it next to the right input. Nothing here throws.
//
// The lowest server layer: it knows JSON and nothing of HTTP, so feature definitions
// (server/features/) and the API (server/api/input.h, which adds the body and the query string)
// share the same checks and messages.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tollgate/core/result.h"

namespace tollgate::server {

using json = nlohmann::json;

// kInvalidArgument naming `field`: the one error every input check here returns.
Error invalid_field(std::string message, std::string_view field);
// A field's name as messages quote it: 'userId'.
std::string quoted_field(std::string_view name);

// Refuses fields not in `known` (a typo should not be silently ignored). "key" is always
// allowed: it may carry the API key.
Result<void> only_fields(const json& body, std::initializer_list<std::string_view> known);
// The same, with `known` deciding each name.
Result<void> only_fields(const json& body, const std::function<bool(std::string_view)>& known);

// A required or optional string field of 1..max_bytes bytes of valid UTF-8 without control
// characters.
Result<std::string> string_field(const json& body, std::string_view name, size_t max_bytes);
Result<std::optional<std::string>> optional_string_field(const json& body, std::string_view name,
                                                         size_t max_bytes);

// An integer field in [min, max]; `fallback` when absent (or required when nullopt).
Result<int64_t> int_field(const json& body, std::string_view name, int64_t min, int64_t max,
                          std::optional<int64_t> fallback = std::nullopt);

// A boolean field; `fallback` when absent. Present but not true or false (null included) is
// refused, naming it.
Result<bool> bool_field(const json& body, std::string_view name, bool fallback);

// Browser origins ("https://app.example.com", "http://localhost:3000": a scheme, a lowercase
// host and maybe a port, no path), at most kAllowedOriginsMax; absent or null is none.
inline constexpr size_t kAllowedOriginsMax = 20;
inline constexpr size_t kOriginBytesMax = 255;
Result<std::vector<std::string>> origins_field(const json& body, std::string_view name);

// Checks a text value (user id, event …) the same way string_field does.
Result<void> check_text(std::string_view value, std::string_view name, size_t max_bytes);

}  // namespace tollgate::server
