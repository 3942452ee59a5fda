#include "server/input/fields.h"

#include <algorithm>

#include "tollgate/core/bytes.h"

namespace tollgate::server {

Error invalid_field(std::string message, std::string_view field) {
  return fail(ErrorCode::kInvalidArgument, std::move(message), std::string(field));
}

std::string quoted_field(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 2);
  out.append(1, '\'').append(name).append(1, '\'');
  return out;
}

Result<void> only_fields(const json& body, const std::function<bool(std::string_view)>& known) {
  for (const auto& [name, value] : body.items()) {
    if (name != "key" && !known(name))
      return invalid_field("unknown field " + quoted_field(name), name);
  }
  return {};
}

Result<void> only_fields(const json& body, std::initializer_list<std::string_view> known) {
  return only_fields(body, [known](std::string_view name) {
    return std::find(known.begin(), known.end(), name) != known.end();
  });
}

Result<void> check_text(std::string_view value, std::string_view name, size_t max_bytes) {
  if (value.empty()) return invalid_field(quoted_field(name) + " must not be empty", name);
  if (value.size() > max_bytes) {
    return invalid_field(
        quoted_field(name) + " must be at most " + std::to_string(max_bytes) + " bytes", name);
  }
  if (!is_valid_utf8(value))
    return invalid_field(quoted_field(name) + " must be valid UTF-8", name);
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7F) {
      return invalid_field(quoted_field(name) + " must not contain control characters", name);
    }
  }
  return {};
}

Result<std::string> string_field(const json& body, std::string_view name, size_t max_bytes) {
  auto field = body.find(name);
  if (field == body.end() || field->is_null()) {
    return invalid_field(quoted_field(name) + " is required", name);
  }
  if (!field->is_string()) return invalid_field(quoted_field(name) + " must be a string", name);
  const auto& value = field->get_ref<const std::string&>();
  if (auto checked = check_text(value, name, max_bytes); !checked) return checked.error();
  return value;
}

Result<std::optional<std::string>> optional_string_field(const json& body, std::string_view name,
                                                         size_t max_bytes) {
  auto field = body.find(name);
  if (field == body.end() || field->is_null()) return std::optional<std::string>();
  auto value = string_field(body, name, max_bytes);
  if (!value) return value.error();
  return std::optional<std::string>(std::move(value).value());
}

Result<int64_t> int_field(const json& body, std::string_view name, int64_t min, int64_t max,
                          std::optional<int64_t> fallback) {
  auto field = body.find(name);
  if (field == body.end() || field->is_null()) {
    if (fallback) return *fallback;
    return invalid_field(quoted_field(name) + " is required", name);
  }
  std::string range = "between " + std::to_string(min) + " and " + std::to_string(max);
  if (!field->is_number_integer()) {
    return invalid_field(quoted_field(name) + " must be an integer " + range, name);
  }
  // Values past int64 arrive as unsigned; they are out of range either way.
  if (field->is_number_unsigned() && field->get<uint64_t>() > static_cast<uint64_t>(max)) {
    return invalid_field(quoted_field(name) + " must be " + range, name);
  }
  int64_t value = field->get<int64_t>();
  if (value < min || value > max)
    return invalid_field(quoted_field(name) + " must be " + range, name);
  return value;
}

Result<bool> bool_field(const json& body, std::string_view name, bool fallback) {
  auto field = body.find(name);
  if (field == body.end()) return fallback;
  if (!field->is_boolean())
    return invalid_field(quoted_field(name) + " must be true or false", name);
  return field->get<bool>();
}

Result<std::vector<std::string>> origins_field(const json& body, std::string_view name) {
  std::vector<std::string> origins;
  auto field = body.find(name);
  if (field == body.end() || field->is_null()) return origins;
  if (!field->is_array())
    return invalid_field(quoted_field(name) + " must be an array of origins", name);
  if (field->size() > kAllowedOriginsMax) {
    return invalid_field(
        quoted_field(name) + " may list at most " + std::to_string(kAllowedOriginsMax), name);
  }
  for (size_t i = 0; i < field->size(); ++i) {
    std::string where(name);
    where += '[';
    where += std::to_string(i);
    where += ']';
    const json& origin = (*field)[i];
    if (!origin.is_string()) return invalid_field(quoted_field(where) + " must be a string", where);
    std::string text = origin.get<std::string>();
    std::string_view rest(text);
    bool ok = text.size() <= kOriginBytesMax &&
              (rest.starts_with("https://") || rest.starts_with("http://"));
    if (ok) {
      rest.remove_prefix(rest.find("://") + 3);
      ok = !rest.empty();
      for (char c : rest) {
        ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
                    c == ':' || c == '[' || c == ']');
      }
    }
    if (!ok) {
      return invalid_field(
          quoted_field(where) +
              " must be an origin such as 'https://app.example.com' (lowercase, no path)",
          where);
    }
    origins.push_back(std::move(text));
  }
  return origins;
}

}  // namespace tollgate::server
