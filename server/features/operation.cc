#include "server/features/operation.h"

#include <cmath>

#include "server/input/fields.h"
#include "tollgate/core/bytes.h"
#include "tollgate/prompt/template.h"
#include "tollgate/structured/json_schema.h"

namespace tollgate::server {

using nlohmann::json;
using nlohmann::ordered_json;

const std::initializer_list<std::string_view> kOperationFields = {
    "slug", "title", "model", "fallbackModel", "systemPrompt", "userTemplate", "temperature", "maxTokens",
    "responseFormat", "tools", "monthlyInvocationLimit", "perUserDailyLimit",
    "perUserMonthlyLimit", "allowedOrigins", "price", "status"};

namespace {

constexpr double kTemperatureMax = 2.0;

std::string in_quotes(std::string_view name) {
  std::string out = "'";
  out += name;
  out += "'";
  return out;
}

// Prefixes an error's param with where the nested value sits, e.g. "tools[2]." + "name".
Error scoped(Error error, const std::string& where) {
  error.param = error.param.empty() ? where : where + "." + error.param;
  return error;
}

bool is_slug_char(char c, bool first) {
  if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
  return !first && (c == '_' || c == '-');
}

Result<std::string> slug_of(const json& definition) {
  auto slug = string_field(definition, "slug", kSlugBytesMax);
  if (!slug) return slug.error();
  const std::string& text = slug.value();
  for (size_t i = 0; i < text.size(); ++i) {
    if (!is_slug_char(text[i], i == 0)) {
      return invalid_field("'slug' must be lowercase letters, digits, '_' and '-', starting with a "
                     "letter or digit",
                     "slug");
    }
  }
  return text;
}

// Free text that may hold newlines and tabs (prompts): a string of valid UTF-8.
Result<std::string> prompt_text(const json& definition, std::string_view name) {
  auto field = definition.find(name);
  if (field == definition.end() || field->is_null()) return std::string();
  if (!field->is_string()) return invalid_field(in_quotes(name) + " must be a string", std::string(name));
  const auto& text = field->get_ref<const std::string&>();
  if (text.size() > kSystemPromptBytesMax) {
    return invalid_field(in_quotes(name) + " must be at most " + std::to_string(kSystemPromptBytesMax) +
                       " bytes",
                   std::string(name));
  }
  if (!is_valid_utf8(text)) return invalid_field(in_quotes(name) + " must be valid UTF-8", std::string(name));
  return text;
}

// "provider/model" in `field`: (provider, model).
Result<std::pair<std::string, std::string>> model_ref(const json& definition,
                                                      std::string_view field) {
  auto model = string_field(definition, field, kProviderNameBytesMax + 1 + kModelBytesMax);
  if (!model) return model.error();
  const std::string& text = model.value();
  size_t slash = text.find('/');
  std::string provider = slash == std::string::npos ? "" : text.substr(0, slash);
  std::string name = slash == std::string::npos ? "" : text.substr(slash + 1);
  bool provider_ok = !provider.empty() && provider.size() <= kProviderNameBytesMax;
  for (size_t i = 0; provider_ok && i < provider.size(); ++i) {
    provider_ok = is_slug_char(provider[i], i == 0);
  }
  if (!provider_ok || name.empty() || name.find(' ') != std::string::npos) {
    return invalid_field(in_quotes(field) +
                       " must be 'provider/model', e.g. 'openai/gpt-4o-mini' or 'demo/echo'",
                   std::string(field));
  }
  return std::make_pair(std::move(provider), std::move(name));
}

Result<void> parse_model(const json& definition, Operation& op) {
  auto model = model_ref(definition, "model");
  if (!model) return model.error();
  op.provider = std::move(model.value().first);
  op.model = std::move(model.value().second);
  if (auto fallback = definition.find("fallbackModel");
      fallback != definition.end() && !fallback->is_null()) {
    auto ref = model_ref(definition, "fallbackModel");
    if (!ref) return ref.error();
    op.fallback = ModelRef{std::move(ref.value().first), std::move(ref.value().second)};
  }
  return {};
}

Result<std::optional<int64_t>> optional_limit(const json& definition, std::string_view name) {
  auto field = definition.find(name);
  if (field == definition.end() || field->is_null()) return std::optional<int64_t>();
  auto value = int_field(definition, name, 1, kInvocationLimitMax);
  if (!value) return value.error();
  return std::optional<int64_t>(value.value());
}

Result<json> schema_field(const json& value, const std::string& field) {
  if (!value.is_object()) return invalid_field(in_quotes(field) + " must be a JSON Schema object", field);
  auto compiled = structured::JsonSchema::compile(value, field);
  if (!compiled) return compiled.error();
  return value;
}

Result<std::vector<ToolDefinition>> parse_tools(const json& definition) {
  std::vector<ToolDefinition> tools;
  auto field = definition.find("tools");
  if (field == definition.end() || field->is_null()) return tools;
  if (!field->is_array()) return invalid_field("'tools' must be an array", "tools");
  if (field->size() > kToolsMax) {
    return invalid_field("'tools' may list at most " + std::to_string(kToolsMax) + " tools", "tools");
  }
  for (size_t i = 0; i < field->size(); ++i) {
    const json& tool = (*field)[i];
    std::string where = "tools[" + std::to_string(i) + "]";
    if (!tool.is_object()) return invalid_field(in_quotes(where) + " must be an object", where);
    if (auto known = only_fields(tool, {"name", "description", "parameters"}); !known)
      return scoped(known.error(), where);
    auto name = string_field(tool, "name", kToolNameBytesMax);
    if (!name) return scoped(name.error(), where);
    for (char c : name.value()) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-';
      if (!ok) return invalid_field("a tool name may hold only letters, digits, '_' and '-'", where + ".name");
    }
    for (const ToolDefinition& earlier : tools) {
      if (earlier.name == name.value())
        return invalid_field("tool '" + name.value() + "' is listed twice", where + ".name");
    }
    auto description = optional_string_field(tool, "description", kToolDescriptionBytesMax);
    if (!description) return scoped(description.error(), where);
    json parameters = tool.value("parameters", json{{"type", "object"}});
    auto checked = schema_field(parameters, where + ".parameters");
    if (!checked) return checked.error();
    tools.push_back({name.value(), description.value().value_or(""), std::move(parameters)});
  }
  return tools;
}

Result<FeaturePricing> parse_price(const json& definition) {
  FeaturePricing price;
  auto field = definition.find("price");
  if (field == definition.end() || field->is_null()) return price;
  if (!field->is_object()) return invalid_field("'price' must be an object", "price");
  if (auto known = only_fields(*field, {"type", "credits", "markupBasisPoints", "microsPerCredit"}); !known)
    return scoped(known.error(), "price");
  auto type = string_field(*field, "type", 16);
  if (!type) return scoped(type.error(), "price");
  if (type.value() == "fixed") {
    for (const char* name : {"markupBasisPoints", "microsPerCredit"}) {
      if (field->contains(name))
        return invalid_field(std::string("a fixed price has no '") + name + "'",
                       std::string("price.") + name);
    }
    auto credits = int_field(*field, "credits", 0, kFeatureCreditsMax);
    if (!credits) return scoped(credits.error(), "price");
    price.credits = credits.value();
  } else if (type.value() == "tokens") {
    if (field->contains("credits"))
      return invalid_field("a token price has no 'credits'", "price.credits");
    auto markup = int_field(*field, "markupBasisPoints", 0, kFeatureMarkupBasisPointsMax, 10'000);
    if (!markup) return scoped(markup.error(), "price");
    auto micros_per_credit =
        int_field(*field, "microsPerCredit", 1, kMicrosPerCreditMax, kMicrosPerCreditDefault);
    if (!micros_per_credit) return scoped(micros_per_credit.error(), "price");
    price.kind = FeaturePricing::Kind::kTokens;
    price.markup_basis_points = markup.value();
    price.micros_per_credit = micros_per_credit.value();
  } else {
    return invalid_field("'price.type' must be \"fixed\" or \"tokens\"", "price.type");
  }
  return price;
}

Result<void> parse_parameters(const json& definition, Operation& op) {
  if (auto t = definition.find("temperature"); t != definition.end() && !t->is_null()) {
    if (!t->is_number() || !std::isfinite(t->get<double>()) || t->get<double>() < 0 ||
        t->get<double>() > kTemperatureMax) {
      return invalid_field("'temperature' must be a number from 0 to 2", "temperature");
    }
    op.temperature = t->get<double>();
  }
  auto max_tokens = int_field(definition, "maxTokens", 1, kMaxTokensMax, kMaxTokensDefault);
  if (!max_tokens) return max_tokens.error();
  op.max_tokens = max_tokens.value();
  if (auto format = definition.find("responseFormat");
      format != definition.end() && !format->is_null()) {
    auto schema = schema_field(*format, "responseFormat");
    if (!schema) return schema.error();
    op.response_format = std::move(schema).value();
  }
  return {};
}

Result<void> parse_limits(const json& definition, Operation& op) {
  auto monthly = optional_limit(definition, "monthlyInvocationLimit");
  if (!monthly) return monthly.error();
  auto user_daily = optional_limit(definition, "perUserDailyLimit");
  if (!user_daily) return user_daily.error();
  auto user_monthly = optional_limit(definition, "perUserMonthlyLimit");
  if (!user_monthly) return user_monthly.error();
  op.monthly_invocation_limit = monthly.value();
  op.per_user_daily_limit = user_daily.value();
  op.per_user_monthly_limit = user_monthly.value();
  return {};
}

template <typename T>
json nullable(const std::optional<T>& value) {
  return value ? json(*value) : json(nullptr);
}

}  // namespace

Result<Operation> parse_operation(const json& definition) {
  if (!definition.is_object()) return invalid_field("a feature definition must be an object", "body");
  if (auto known = only_fields(definition, kOperationFields); !known) return known.error();
  Operation op;
  auto slug = slug_of(definition);
  if (!slug) return slug.error();
  op.slug = slug.value();
  auto title = optional_string_field(definition, "title", kTitleBytesMax);
  if (!title) return title.error();
  op.title = title.value().value_or(op.slug);
  if (auto model = parse_model(definition, op); !model) return model.error();
  auto system = prompt_text(definition, "systemPrompt");
  if (!system) return system.error();
  op.system_prompt = system.value();
  auto user = prompt_text(definition, "userTemplate");
  if (!user) return user.error();
  op.user_template = user.value();
  auto parsed = prompt::Template::parse(op.user_template);
  if (!parsed) {
    Error error = parsed.error();
    error.param = "userTemplate";
    return error;
  }
  op.variables = parsed.value().variables();
  if (auto parameters = parse_parameters(definition, op); !parameters) return parameters.error();
  auto tools = parse_tools(definition);
  if (!tools) return tools.error();
  op.tools = std::move(tools).value();
  if (auto limits = parse_limits(definition, op); !limits) return limits.error();
  auto origins = origins_field(definition, "allowedOrigins");
  if (!origins) return origins.error();
  op.allowed_origins = std::move(origins).value();
  auto price = parse_price(definition);
  if (!price) return price.error();
  op.price = price.value();
  auto status = optional_string_field(definition, "status", 16);
  if (!status) return status.error();
  std::string state = status.value().value_or("active");
  if (state != "active" && state != "paused") {
    return invalid_field("'status' must be \"active\" or \"paused\"", "status");
  }
  op.active = state == "active";
  return op;
}

json definition_of(const Operation& op) {
  json tools = json::array();
  for (const ToolDefinition& tool : op.tools) {
    tools.push_back({{"name", tool.name}, {"description", tool.description},
                     {"parameters", tool.parameters}});
  }
  json price = op.price.kind == FeaturePricing::Kind::kFixed
                   ? json{{"type", "fixed"}, {"credits", op.price.credits}}
                   : json{{"type", "tokens"},
                          {"markupBasisPoints", op.price.markup_basis_points},
                          {"microsPerCredit", op.price.micros_per_credit}};
  return {{"slug", op.slug},
          {"title", op.title},
          {"model", op.provider + "/" + op.model},
          {"fallbackModel", op.fallback ? json(op.fallback->provider + "/" + op.fallback->model) : json()},
          {"systemPrompt", op.system_prompt},
          {"userTemplate", op.user_template},
          {"temperature", nullable(op.temperature)},
          {"maxTokens", op.max_tokens},
          {"responseFormat", nullable(op.response_format)},
          {"tools", tools},
          {"monthlyInvocationLimit", nullable(op.monthly_invocation_limit)},
          {"perUserDailyLimit", nullable(op.per_user_daily_limit)},
          {"perUserMonthlyLimit", nullable(op.per_user_monthly_limit)},
          {"allowedOrigins", op.allowed_origins},
          {"price", price},
          {"status", op.active ? "active" : "paused"}};
}

Result<json> patched_definition(const json& stored, const json& body) {
  if (auto known = only_fields(body, kOperationFields); !known) return known.error();
  if (body.contains("slug") && body["slug"] != stored.value("slug", json())) {
    return invalid_field("a feature's 'slug' cannot change; create a new feature instead", "slug");
  }
  bool any = false;
  json merged = stored;
  for (const auto& [name, value] : body.items()) {
    if (name == "key") continue;
    merged[name] = value;
    any = true;
  }
  if (!any) return invalid_field("nothing to change: send at least one field", "body");
  auto checked = parse_operation(merged);
  if (!checked) return checked.error();
  return definition_of(checked.value());
}

Result<void> check_catalog_prices(const Operation& op, const PricingCatalog& catalog) {
  if (op.price.kind != FeaturePricing::Kind::kTokens) return {};
  auto unpriced = [](const std::string& name, const char* field) {
    return invalid_field(quoted_field(field) + " is " + name +
                       ", which has no price in the pricing catalog, and a token price needs "
                       "one: use a priced model or a fixed price, or price the model in "
                       "TOLLGATE_PRICING_FILE",
                   field);
  };
  if (!catalog.find(op.provider, op.model)) return unpriced(op.provider + "/" + op.model, "model");
  if (op.fallback && !catalog.find(op.fallback->provider, op.fallback->model)) {
    return unpriced(op.fallback->provider + "/" + op.fallback->model, "fallbackModel");
  }
  return {};
}

Result<Operation> operation_from_record(const OperationRecord& record) {
  json definition = json::parse(record.definition, nullptr, /*allow_exceptions=*/false);
  auto op = parse_operation(definition);
  if (!op) {
    return fail(ErrorCode::kInternal,
                "stored feature " + record.id + " no longer parses: " + op.error().message);
  }
  op.value().id = record.id;
  op.value().created_at_ms = record.created_at_ms;
  op.value().updated_at_ms = record.updated_at_ms;
  return op;
}

ordered_json render_operation(const Operation& op, OperationView view) {
  json definition = definition_of(op);
  ordered_json out = {{"id", op.id}, {"object", "operation"}};
  for (const char* field : {"slug", "title", "model", "fallbackModel", "systemPrompt", "userTemplate"}) {
    bool hidden = view == OperationView::kPublic &&
                  (std::string_view(field) == "systemPrompt" ||
                   std::string_view(field) == "userTemplate");
    if (!hidden) out[field] = definition[field];
  }
  out["variables"] = op.variables;
  for (const char* field : {"temperature", "maxTokens", "responseFormat", "tools",
                            "monthlyInvocationLimit", "perUserDailyLimit", "perUserMonthlyLimit",
                            "allowedOrigins", "price", "status"}) {
    out[field] = definition[field];
  }
  if (view == OperationView::kPublic) {
    // A tool's description is instructions to the model, like the prompts: owner-only.
    for (auto& tool : out["tools"]) tool.erase("description");
  }
  out["createdAtMs"] = op.created_at_ms;
  out["updatedAtMs"] = op.updated_at_ms;
  return out;
}

}  // namespace tollgate::server
