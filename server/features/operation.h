// An AI feature ("operation"): defined once by the project owner, run by end users by its slug.
//
// The definition is checked as a whole every time it is written (create, or a PATCH merged into
// the stored one), so a stored definition is always valid. Every error is kInvalidArgument
// naming the field (e.g. "tools[1].parameters"). The prompts (systemPrompt, userTemplate) are
// shown only to the owner's secret key; render_operation(…, kPublic) leaves them out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/ai/model.h"
#include "server/ai/pricing_catalog.h"
#include "server/store/store.h"
#include "tollgate/core/result.h"

namespace tollgate::server {

inline constexpr size_t kSlugBytesMax = 64;
inline constexpr size_t kTitleBytesMax = 200;
inline constexpr size_t kProviderNameBytesMax = 32;
inline constexpr size_t kModelBytesMax = 200;
inline constexpr size_t kSystemPromptBytesMax = size_t{64} << 10;
inline constexpr int64_t kMaxTokensMax = 200'000;
inline constexpr size_t kToolsMax = 32;
inline constexpr size_t kToolNameBytesMax = 64;
inline constexpr size_t kToolDescriptionBytesMax = 1024;
inline constexpr int64_t kInvocationLimitMax = 1'000'000'000;
inline constexpr int64_t kFeatureCreditsMax = 1'000'000;
inline constexpr int64_t kFeatureMarkupBasisPointsMax = 1'000'000;  // 100×
inline constexpr int64_t kMicrosPerCreditMax = 1'000'000'000;  // $1,000 per credit
inline constexpr int64_t kMicrosPerCreditDefault = 1'000;

struct FeaturePricing {
  enum class Kind { kFixed, kTokens };
  Kind kind = Kind::kFixed;
  int64_t credits = 1;                   // kFixed: per call
  int64_t markup_basis_points = 10'000;  // kTokens: provider cost × markup (10,000 = 1×)
  int64_t micros_per_credit = 1'000;     // kTokens: what one credit is worth ($0.001)
};

struct ModelRef {
  std::string provider;
  std::string model;
};

struct Operation {
  std::string id;  // "op_…"
  std::string slug;
  std::string title;
  std::string provider;  // before the first '/' of `model`
  std::string model;     // after it
  std::optional<ModelRef> fallback;  // tried when the model fails before answering
  std::string system_prompt;
  std::string user_template;
  std::vector<std::string> variables;  // the template's, in order of first use
  std::optional<double> temperature;
  int64_t max_tokens = kMaxTokensDefault;
  std::optional<nlohmann::json> response_format;  // a JSON Schema object
  std::vector<ToolDefinition> tools;
  std::optional<int64_t> monthly_invocation_limit;  // for the whole feature
  std::optional<int64_t> per_user_daily_limit;
  std::optional<int64_t> per_user_monthly_limit;
  std::vector<std::string> allowed_origins;  // empty: any origin
  FeaturePricing price;
  bool active = true;
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
};

// Every field a definition may have, for only_fields() on a request body.
extern const std::initializer_list<std::string_view> kOperationFields;

// Checks a whole definition (the API's camelCase JSON, without id or times).
Result<Operation> parse_operation(const nlohmann::json& definition);

// The definition as stored: canonical JSON with defaults filled in.
nlohmann::json definition_of(const Operation& operation);

// A PATCH: the stored definition with the body's fields replaced (null clears an optional
// one), checked as a whole. The slug cannot change.
Result<nlohmann::json> patched_definition(const nlohmann::json& stored, const nlohmann::json& body);

// What a definition needs from the pricing catalog, checked when it is written so that no invoke
// fails on it later: a token-priced feature needs a catalog price for its model, and for its
// fallback model when it has one. kInvalidArgument naming "model" or "fallbackModel" otherwise;
// a fixed price needs nothing from the catalog.
Result<void> check_catalog_prices(const Operation& operation, const PricingCatalog& catalog);

// A stored record back to an Operation.
Result<Operation> operation_from_record(const OperationRecord& record);

enum class OperationView { kOwner, kPublic };
nlohmann::ordered_json render_operation(const Operation& operation, OperationView view);

}  // namespace tollgate::server
