// What a metered call reserves and what it charges, from the pricing catalogue: the worst case
// of whichever model may answer (sdk-core's pricing::hold_worst_case), and the credits a cost in
// micros comes to under the caller's price.
#pragma once

#include <optional>
#include <string>

#include "server/ai/model.h"
#include "server/ai/pricing_catalog.h"
#include "tollgate/core/result.h"
#include "tollgate/pricing/pricing.h"

namespace tollgate::server {

// A model by its provider and the provider's own name for it.
struct ModelChoice {
  std::string provider;
  std::string model;
};

// What one call reserves.
struct HoldPrice {
  pricing::ModelPrice price{money::Micros(0), money::Micros(0)};  // the primary model's
  int64_t prompt_bytes = 0;      // messages, response format and tools, as sent
  int64_t reserved_micros = 0;   // the provider spend at worst
  int64_t reserved_credits = 0;  // what the caller is charged at worst
};

// The UTF-8 bytes of everything a request sends as prompt: messages, response format, tools.
int64_t prompt_bytes(const ModelRequest& request);

// The hold for `request`: priced at the dearer of the primary and the fallback per token, since
// either may answer, with one repair call when `repair`. A price by tokens needs both models in
// the catalogue (definitions refuse it otherwise, so this is a last line).
Result<HoldPrice> price_hold(const PricingCatalog& catalog, const pricing::FeaturePrice& price,
                             const ModelChoice& primary, const std::optional<ModelChoice>& fallback,
                             const ModelRequest& request, bool repair);

// The credits `micros` of provider spend come to under `price`.
Result<int64_t> credits_for(const pricing::FeaturePrice& price, int64_t micros);

}  // namespace tollgate::server
