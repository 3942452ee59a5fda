#include "tollgate/core/json_read.h"

#include <vector>

namespace tollgate::json_read {
namespace {

constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

std::string quoted(const Path& at) {
  std::string path = at.str();
  return path.empty() ? std::string("the value") : "'" + path + "'";
}

Error invalid(const Path& at, std::string_view what) {
  std::string message = quoted(at);
  message += ' ';
  message += what;
  return fail(ErrorCode::kInvalidArgument, std::move(message), at.str());
}

Error required(const Path& at) { return invalid(at, "is required"); }

// True when objects and arrays in `text` nest deeper than `depth_max`. Brackets inside strings
// do not count. Text that is not JSON may be misjudged; the parse refuses it anyway.
bool nests_deeper(std::string_view text, size_t depth_max) {
  size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > depth_max) return true;
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return false;
}

}  // namespace

std::string Path::str() const {
  std::vector<const Path*> chain;
  for (const Path* p = this; p != nullptr; p = p->parent_) chain.push_back(p);
  std::string out;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    const Path& p = **it;
    if (p.is_index_) {
      out += '[';
      out += std::to_string(p.index_);
      out += ']';
    } else if (!p.name_.empty()) {
      if (!out.empty()) out += '.';
      out.append(p.name_);
    }
  }
  return out;
}

const Json* find(const Json& value, std::string_view name) {
  if (!value.is_object()) return nullptr;
  auto found = value.find(name);
  return found == value.end() ? nullptr : &*found;
}

Result<Json> parse(std::string_view text, size_t depth_max) {
  if (nests_deeper(text, depth_max)) {
    return fail(ErrorCode::kInvalidArgument,
                "the JSON nests deeper than " + std::to_string(depth_max), "body");
  }
  Json value = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return fail(ErrorCode::kJsonSyntax, "the text is not valid JSON");
  return value;
}

Result<std::string_view> as_string(const Json& value, const Path& at, size_t bytes_max) {
  const auto* text = value.get_ptr<const Json::string_t*>();
  if (text == nullptr) return invalid(at, "must be a string");
  if (text->size() > bytes_max) {
    return invalid(at, "must be at most " + std::to_string(bytes_max) + " bytes");
  }
  return std::string_view(*text);
}

Result<int64_t> as_int64(const Json& value, const Path& at, int64_t min, int64_t max) {
  std::string expected = "must be an integer";
  if (min != kInt64Min || max != kInt64Max) {
    expected += " between " + std::to_string(min) + " and " + std::to_string(max);
  }
  // Unsigned first: nlohmann's signed pointer also answers for an unsigned value, whose bits it
  // would then read as a negative number.
  int64_t number = 0;
  if (const auto* unsigned_value = value.get_ptr<const Json::number_unsigned_t*>()) {
    if (*unsigned_value > static_cast<uint64_t>(kInt64Max)) return invalid(at, expected);
    number = static_cast<int64_t>(*unsigned_value);
  } else if (const auto* signed_value = value.get_ptr<const Json::number_integer_t*>()) {
    number = *signed_value;
  } else {
    return invalid(at, expected);
  }
  if (number < min || number > max) return invalid(at, expected);
  return number;
}

Result<bool> as_bool(const Json& value, const Path& at) {
  const auto* flag = value.get_ptr<const Json::boolean_t*>();
  if (flag == nullptr) return invalid(at, "must be true or false");
  return *flag;
}

Result<const Json*> as_object(const Json& value, const Path& at) {
  if (!value.is_object()) return invalid(at, "must be an object");
  return &value;
}

Result<const Json*> as_array(const Json& value, const Path& at) {
  if (!value.is_array()) return invalid(at, "must be an array");
  return &value;
}

namespace {

// The member when present and not null.
const Json* present(const Json& object, std::string_view name) {
  const Json* member = find(object, name);
  return member == nullptr || member->is_null() ? nullptr : member;
}

}  // namespace

Result<std::optional<std::string_view>> get_string(const Json& object, std::string_view name,
                                                   const Path& at, size_t bytes_max) {
  const Json* member = present(object, name);
  if (member == nullptr) return std::optional<std::string_view>();
  auto text = as_string(*member, Path(at, name), bytes_max);
  if (!text) return text.error();
  return std::optional<std::string_view>(text.value());
}

Result<std::string_view> need_string(const Json& object, std::string_view name, const Path& at,
                                     size_t bytes_max) {
  const Json* member = present(object, name);
  if (member == nullptr) return required(Path(at, name));
  return as_string(*member, Path(at, name), bytes_max);
}

Result<std::optional<int64_t>> get_int64(const Json& object, std::string_view name, const Path& at,
                                         int64_t min, int64_t max) {
  const Json* member = present(object, name);
  if (member == nullptr) return std::optional<int64_t>();
  auto number = as_int64(*member, Path(at, name), min, max);
  if (!number) return number.error();
  return std::optional<int64_t>(number.value());
}

Result<int64_t> need_int64(const Json& object, std::string_view name, const Path& at, int64_t min,
                           int64_t max) {
  const Json* member = present(object, name);
  if (member == nullptr) return required(Path(at, name));
  return as_int64(*member, Path(at, name), min, max);
}

Result<std::optional<bool>> get_bool(const Json& object, std::string_view name, const Path& at) {
  const Json* member = present(object, name);
  if (member == nullptr) return std::optional<bool>();
  auto flag = as_bool(*member, Path(at, name));
  if (!flag) return flag.error();
  return std::optional<bool>(flag.value());
}

Result<bool> need_bool(const Json& object, std::string_view name, const Path& at) {
  const Json* member = present(object, name);
  if (member == nullptr) return required(Path(at, name));
  return as_bool(*member, Path(at, name));
}

Result<const Json*> get_object(const Json& object, std::string_view name, const Path& at) {
  const Json* member = present(object, name);
  if (member == nullptr) return static_cast<const Json*>(nullptr);
  return as_object(*member, Path(at, name));
}

Result<const Json*> get_array(const Json& object, std::string_view name, const Path& at) {
  const Json* member = present(object, name);
  if (member == nullptr) return static_cast<const Json*>(nullptr);
  return as_array(*member, Path(at, name));
}

Result<const Json*> need_object(const Json& object, std::string_view name, const Path& at) {
  const Json* member = present(object, name);
  if (member == nullptr) return required(Path(at, name));
  return as_object(*member, Path(at, name));
}

Result<const Json*> need_array(const Json& object, std::string_view name, const Path& at) {
  const Json* member = present(object, name);
  if (member == nullptr) return required(Path(at, name));
  return as_array(*member, Path(at, name));
}

std::string string_or(const Json& object, std::string_view name, std::string_view fallback) {
  auto value = get_string(object, name, Path());
  return std::string(value && value.value() ? *value.value() : fallback);
}

int64_t int64_or(const Json& object, std::string_view name, int64_t fallback) {
  return int64_if(object, name).value_or(fallback);
}

bool bool_or(const Json& object, std::string_view name, bool fallback) {
  auto value = get_bool(object, name, Path());
  return value && value.value() ? *value.value() : fallback;
}

std::optional<int64_t> int64_if(const Json& object, std::string_view name) {
  auto value = get_int64(object, name, Path());
  return value ? value.value() : std::nullopt;
}

const Json& array_or_empty(const Json& object, std::string_view name) {
  static const Json kEmpty = Json::array();
  const Json* member = find(object, name);
  return member != nullptr && member->is_array() ? *member : kEmpty;
}

}  // namespace tollgate::json_read
