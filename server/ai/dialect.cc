#include "server/ai/dialect.h"

namespace tollgate::server {

Error malformed(std::string what) {
  // Built by append: GCC 12 misreads `literal + std::string` here as an overlapping copy
  // (-Wrestrict, a known false positive).
  std::string message = "the provider sent a malformed answer: ";
  message += what;
  return fail(ErrorCode::kUpstreamError, std::move(message));
}

Error malformed_json(std::string_view what, const Error& parse_error) {
  if (parse_error.code == ErrorCode::kJsonSyntax)
    return malformed(std::string(what) + " is not JSON");
  return malformed(std::string(what) + " nests deeper than " +
                   std::to_string(kProviderJsonDepthMax) + " levels");
}

Result<std::optional<int64_t>> token_count(const nlohmann::json& usage, std::string_view name,
                                           const json_read::Path& at) {
  return json_read::get_int64(usage, name, at, 0, kProviderTokenCountMax);
}

Result<std::optional<pricing::Usage>> read_usage(const nlohmann::json& object,
                                                 std::string_view name, const json_read::Path& at,
                                                 std::string_view input_name,
                                                 std::string_view output_name) {
  auto usage = json_read::get_object(object, name, at);
  if (!usage) return usage.error();
  if (usage.value() == nullptr) return std::optional<pricing::Usage>();
  json_read::Path where(at, name);
  auto input = token_count(*usage.value(), input_name, where);
  if (!input) return input.error();
  auto output = token_count(*usage.value(), output_name, where);
  if (!output) return output.error();
  if (!input.value() || !output.value()) return std::optional<pricing::Usage>();
  return std::optional<pricing::Usage>(pricing::Usage{*input.value(), *output.value()});
}

Result<std::string_view> tool_text(const nlohmann::json& object, std::string_view name,
                                   const json_read::Path& at) {
  auto text = json_read::need_string(object, name, at, structured::kToolCallIdBytesMax);
  if (!text) return text.error();
  if (text.value().empty()) {
    json_read::Path where(at, name);
    std::string message = "'";
    message += where.str();
    message += "' must not be empty";
    return fail(ErrorCode::kInvalidArgument, std::move(message), where.str());
  }
  return text;
}

const Dialect& dialect_for(std::string_view provider) {
  static const OpenAiDialect openai;
  static const AnthropicDialect anthropic;
  if (provider == "anthropic") return anthropic;
  return openai;
}

}  // namespace tollgate::server
