// Checked reads of untrusted JSON (provider answers, request bodies, anything from outside).
//
// nlohmann's value(), get<>(), at() and operator[] throw, or are undefined, on a value of the
// wrong type, and an exception on a server thread ends the process. These readers never throw:
// each returns a Result whose error (kInvalidArgument, param = the field's path) names the field
// and what it should have been, never the value that was found, so an error can be shown to
// anyone without echoing what the sender wrote.
//
// Every member reader tells "absent or null" from "present with the wrong type":
// - get_xxx(): absent or null is nullopt (nullptr for objects and arrays), a wrong type an error;
// - need_xxx(): absent or null is an error too ("… is required").
// Integers are int64 and range-checked: floats (even 2.0), values past int64 and values outside
// [min, max] are refused, so nothing is silently truncated.
//
// A Path names where a value sits ("choices[0].message.content") without allocating: each Path
// refers to its parent and is rendered only when an error is made, so a Path must not outlive
// the Paths it was built from (build them as locals, parent first).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "tollgate/core/result.h"

namespace tollgate::json_read {

using Json = nlohmann::json;

inline constexpr size_t kNoBytesMax = std::numeric_limits<size_t>::max();

class Path {
 public:
  // The root; `name` may be empty (then paths start at the first member).
  explicit Path(std::string_view name = {}) : name_(name) {}
  Path(const Path& parent, std::string_view member) : parent_(&parent), name_(member) {}
  Path(const Path& parent, size_t index) : parent_(&parent), index_(index), is_index_(true) {}

  // "a.b[2].c"
  std::string str() const;

 private:
  const Path* parent_ = nullptr;
  std::string_view name_;
  size_t index_ = 0;
  bool is_index_ = false;
};

// The member `name` of `value` when `value` is an object holding it (null members included);
// nullptr otherwise. Never throws, whatever `value` is.
const Json* find(const Json& value, std::string_view name);

// Parses text from outside: kJsonSyntax for text that is not one JSON value, kInvalidArgument
// (param "body") for objects and arrays nested deeper than `depth_max`. Deep nesting is refused
// because copying, dumping and destroying a value recurse once per level.
Result<Json> parse(std::string_view text, size_t depth_max);

// ---- One value, already found -------------------------------------------------------------

Result<std::string_view> as_string(const Json& value, const Path& at,
                                   size_t bytes_max = kNoBytesMax);
Result<int64_t> as_int64(const Json& value, const Path& at,
                         int64_t min = std::numeric_limits<int64_t>::min(),
                         int64_t max = std::numeric_limits<int64_t>::max());
Result<bool> as_bool(const Json& value, const Path& at);
Result<const Json*> as_object(const Json& value, const Path& at);  // never nullptr
Result<const Json*> as_array(const Json& value, const Path& at);   // never nullptr

// ---- A member of an object at `at` ------------------------------------------------------------
// `object` that is not an object reads as one without members. The string_views point into
// `object` and live as long as it does.

Result<std::optional<std::string_view>> get_string(const Json& object, std::string_view name,
                                                   const Path& at, size_t bytes_max = kNoBytesMax);
Result<std::string_view> need_string(const Json& object, std::string_view name, const Path& at,
                                     size_t bytes_max = kNoBytesMax);

Result<std::optional<int64_t>> get_int64(const Json& object, std::string_view name, const Path& at,
                                         int64_t min = std::numeric_limits<int64_t>::min(),
                                         int64_t max = std::numeric_limits<int64_t>::max());
Result<int64_t> need_int64(const Json& object, std::string_view name, const Path& at,
                           int64_t min = std::numeric_limits<int64_t>::min(),
                           int64_t max = std::numeric_limits<int64_t>::max());

Result<std::optional<bool>> get_bool(const Json& object, std::string_view name, const Path& at);
Result<bool> need_bool(const Json& object, std::string_view name, const Path& at);

// nullptr when absent or null.
Result<const Json*> get_object(const Json& object, std::string_view name, const Path& at);
Result<const Json*> get_array(const Json& object, std::string_view name, const Path& at);
// Never nullptr.
Result<const Json*> need_object(const Json& object, std::string_view name, const Path& at);
Result<const Json*> need_array(const Json& object, std::string_view name, const Path& at);

// ---- Tollgate's own stored JSON ----------------------------------------------------------------
// Records Tollgate wrote itself (settings, idempotency outcomes) are read leniently but still
// without exceptions: a member absent, null or of the wrong type reads as `fallback` (nullopt
// for the optional forms), so a damaged row degrades to defaults instead of throwing.

std::string string_or(const Json& object, std::string_view name, std::string_view fallback);
int64_t int64_or(const Json& object, std::string_view name, int64_t fallback);
bool bool_or(const Json& object, std::string_view name, bool fallback);
std::optional<int64_t> int64_if(const Json& object, std::string_view name);
// The member when it is an array, else an empty array (a static one: never nullptr).
const Json& array_or_empty(const Json& object, std::string_view name);

}  // namespace tollgate::json_read
