#include "server/ai/pricing_catalog.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "server/input/fields.h"

namespace tollgate::server {

// Public list prices at the time of writing; owners whose contracts differ override the file.
// The demo provider costs nothing in reality; it has prices so that token pricing can be tried.
const std::string_view kDefaultCatalog = R"json({
  "models": {
    "demo/*":                              {"inputPerMillionMicros": 1000000,  "outputPerMillionMicros": 2000000, "maxOutputTokens": 4096},
    "openai/gpt-4o-mini":                  {"inputPerMillionMicros": 150000,   "outputPerMillionMicros": 600000, "maxOutputTokens": 16384},
    "openai/gpt-4o":                       {"inputPerMillionMicros": 2500000,  "outputPerMillionMicros": 10000000, "maxOutputTokens": 16384},
    "openai/gpt-4.1":                      {"inputPerMillionMicros": 2000000,  "outputPerMillionMicros": 8000000, "maxOutputTokens": 32768},
    "openai/gpt-4.1-mini":                 {"inputPerMillionMicros": 400000,   "outputPerMillionMicros": 1600000, "maxOutputTokens": 32768},
    "openai/gpt-4.1-nano":                 {"inputPerMillionMicros": 100000,   "outputPerMillionMicros": 400000, "maxOutputTokens": 32768},
    "anthropic/claude-3-5-haiku-latest":   {"inputPerMillionMicros": 800000,   "outputPerMillionMicros": 4000000, "maxOutputTokens": 8192},
    "anthropic/claude-sonnet-4-0":         {"inputPerMillionMicros": 3000000,  "outputPerMillionMicros": 15000000, "maxOutputTokens": 64000},
    "anthropic/claude-opus-4-0":           {"inputPerMillionMicros": 15000000, "outputPerMillionMicros": 75000000, "maxOutputTokens": 32000},
    "groq/llama-3.1-8b-instant":           {"inputPerMillionMicros": 50000,    "outputPerMillionMicros": 80000, "maxOutputTokens": 8192},
    "ollama/*":                            {"inputPerMillionMicros": 0,        "outputPerMillionMicros": 0, "maxOutputTokens": 4096}
  }
})json";

namespace {

Result<int64_t> price_field(const nlohmann::json& entry, const std::string& where,
                            const char* name) {
  std::string param = where + "." + name;
  auto field = entry.find(name);
  if (field == entry.end() || !field->is_number_integer() || field->get<int64_t>() < 0 ||
      field->get<int64_t>() > kPricePerMillionMicrosMax) {
    return invalid_field(
        "'" + param + "' must be an integer from 0 to " + std::to_string(kPricePerMillionMicrosMax),
        param);
  }
  return field->get<int64_t>();
}

}  // namespace

Result<PricingCatalog> PricingCatalog::parse(std::string_view json_text) {
  if (json_text.size() > kPricingCatalogBytesMax) {
    return invalid_field("the pricing catalog is larger than 1 MiB", "pricing");
  }
  nlohmann::json doc = nlohmann::json::parse(json_text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("models") ||
      !doc["models"].is_object()) {
    return invalid_field("the pricing catalog must be a JSON object with a 'models' object",
                         "models");
  }
  if (doc["models"].size() > kPricingCatalogModelsMax) {
    return invalid_field("the pricing catalog lists more than 10,000 models", "models");
  }
  PricingCatalog catalog;
  for (const auto& [name, entry] : doc["models"].items()) {
    std::string where = "models." + name;
    size_t slash = name.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == name.size()) {
      return invalid_field("'" + where + "' must be named 'provider/model' or 'provider/*'", where);
    }
    if (!entry.is_object()) return invalid_field("'" + where + "' must be an object", where);
    auto input = price_field(entry, where, "inputPerMillionMicros");
    if (!input) return input.error();
    auto output = price_field(entry, where, "outputPerMillionMicros");
    if (!output) return output.error();
    int64_t max_output = kCatalogMaxOutputDefault;
    if (entry.contains("maxOutputTokens")) {
      const nlohmann::json& field = entry["maxOutputTokens"];
      if (!field.is_number_integer() || field.get<int64_t>() < 1 ||
          field.get<int64_t>() > kCatalogMaxOutputMax) {
        return invalid_field("'" + where + ".maxOutputTokens' must be an integer from 1 to " +
                                 std::to_string(kCatalogMaxOutputMax),
                             where + ".maxOutputTokens");
      }
      max_output = field.get<int64_t>();
    }
    catalog.prices_.emplace(
        name, pricing::ModelPrice{money::Micros(input.value()), money::Micros(output.value())});
    catalog.max_output_.emplace(name, max_output);
  }
  return catalog;
}

Result<PricingCatalog> PricingCatalog::load(const std::optional<std::string>& path) {
  if (!path) return parse(kDefaultCatalog);
  std::ifstream file(*path, std::ios::binary);
  if (!file) return fail(ErrorCode::kIoError, "cannot read the pricing catalog " + *path);
  std::ostringstream text;
  text << file.rdbuf();
  auto catalog = parse(text.str());
  if (!catalog) {
    Error error = catalog.error();
    error.message = *path + ": " + error.message;
    return error;
  }
  return catalog;
}

std::optional<pricing::ModelPrice> PricingCatalog::find(std::string_view provider,
                                                        std::string_view model) const {
  std::string key(provider);
  key += '/';
  size_t prefix = key.size();
  key += model;
  if (auto exact = prices_.find(key); exact != prices_.end()) return exact->second;
  key.resize(prefix);
  key += '*';
  if (auto any = prices_.find(key); any != prices_.end()) return any->second;
  return std::nullopt;
}

int64_t PricingCatalog::max_output_tokens(std::string_view provider, std::string_view model) const {
  std::string key(provider);
  key += '/';
  size_t prefix = key.size();
  key += model;
  if (auto exact = max_output_.find(key); exact != max_output_.end()) return exact->second;
  key.resize(prefix);
  key += '*';
  if (auto any = max_output_.find(key); any != max_output_.end()) return any->second;
  return kCatalogMaxOutputDefault;
}

}  // namespace tollgate::server
