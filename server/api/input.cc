#include "server/api/input.h"

#include <algorithm>
#include <charconv>

namespace tollgate::server {

Result<json> json_object_body(const Request& request, bool allow_empty) {
  if (request.body().empty() && allow_empty) return json::object();
  auto type = request.find(http::field::content_type);
  std::string_view content_type;
  if (type != request.end())
    content_type = std::string_view(type->value().data(), type->value().size());
  std::string_view media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  if (media != "application/json") {
    return invalid_field("the body must be JSON with 'Content-Type: application/json'",
                         "content-type");
  }
  int depth = 0;
  bool too_deep = false;
  json body = json::parse(
      request.body(),
      [&](int d, json::parse_event_t event, json&) {
        if (event == json::parse_event_t::object_start || event == json::parse_event_t::array_start)
          depth = std::max(depth, d + 1);
        if (depth > kJsonDepthMax) too_deep = true;
        return !too_deep;
      },
      false);
  if (too_deep) {
    return invalid_field("the JSON body nests deeper than " + std::to_string(kJsonDepthMax),
                         "body");
  }
  if (body.is_discarded()) return invalid_field("the body is not valid JSON", "body");
  if (!body.is_object()) return invalid_field("the body must be a JSON object", "body");
  return body;
}

Result<std::string> string_param(const QueryParams& query, std::string_view name,
                                 size_t max_bytes) {
  auto found = query.find(name);
  if (found == query.end()) return invalid_field(quoted_field(name) + " is required", name);
  if (auto checked = check_text(found->second, name, max_bytes); !checked) return checked.error();
  return found->second;
}

Result<std::optional<std::string>> optional_string_param(const QueryParams& query,
                                                         std::string_view name, size_t max_bytes) {
  if (query.find(name) == query.end()) return std::optional<std::string>();
  auto value = string_param(query, name, max_bytes);
  if (!value) return value.error();
  return std::optional<std::string>(std::move(value).value());
}

Result<int64_t> int_param(const QueryParams& query, std::string_view name, int64_t min, int64_t max,
                          std::optional<int64_t> fallback) {
  auto found = query.find(name);
  if (found == query.end() || found->second.empty()) {
    if (fallback) return *fallback;
    return invalid_field(quoted_field(name) + " is required", name);
  }
  const std::string& text = found->second;
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  std::string range = "between " + std::to_string(min) + " and " + std::to_string(max);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return invalid_field(quoted_field(name) + " must be an integer " + range, name);
  }
  if (value < min || value > max)
    return invalid_field(quoted_field(name) + " must be " + range, name);
  return value;
}

}  // namespace tollgate::server
