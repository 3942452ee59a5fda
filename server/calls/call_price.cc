#include "server/calls/call_price.h"

#include <algorithm>

namespace tollgate::server {

int64_t prompt_bytes(const ModelRequest& request) {
  int64_t bytes = 0;
  for (const ChatMessage& message : request.messages)
    bytes += static_cast<int64_t>(message.content.size());
  if (request.response_format) bytes += static_cast<int64_t>(request.response_format->dump().size());
  for (const ToolDefinition& tool : request.tools) {
    bytes += static_cast<int64_t>(tool.name.size() + tool.description.size() +
                                  tool.parameters.dump().size());
  }
  return bytes;
}

Result<HoldPrice> price_hold(const PricingCatalog& catalog, const pricing::FeaturePrice& price,
                             const ModelChoice& primary, const std::optional<ModelChoice>& fallback,
                             const ModelRequest& request, bool repair) {
  bool by_tokens = price.kind == pricing::FeaturePrice::Kind::kTokens;
  HoldPrice hold;
  hold.prompt_bytes = prompt_bytes(request);
  auto primary_price = catalog.find(primary.provider, primary.model);
  if (!primary_price && by_tokens) {
    return fail(ErrorCode::kInternal, "the call is priced by tokens but its model has no price "
                                      "in the pricing catalog");
  }
  hold.price = primary_price.value_or(hold.price);
  pricing::ModelPrice worst = hold.price;
  if (fallback) {
    auto fallback_price = catalog.find(fallback->provider, fallback->model);
    if (!fallback_price && by_tokens) {
      return fail(ErrorCode::kInternal, "the call is priced by tokens but its fallback model "
                                        "has no price in the pricing catalog");
    }
    if (fallback_price) {
      worst.input_per_million = std::max(worst.input_per_million, fallback_price->input_per_million);
      worst.output_per_million =
          std::max(worst.output_per_million, fallback_price->output_per_million);
    }
  }
  auto reserved = pricing::hold_worst_case({worst, hold.prompt_bytes,
                                            static_cast<int64_t>(request.messages.size()),
                                            request.max_tokens, repair});
  if (!reserved) return reserved.error();
  hold.reserved_micros = reserved.value().value();
  auto credits = credits_for(price, hold.reserved_micros);
  if (!credits) return credits.error();
  hold.reserved_credits = credits.value();
  return hold;
}

Result<int64_t> credits_for(const pricing::FeaturePrice& price, int64_t micros) {
  auto credits = pricing::charge(price, money::Micros(micros));
  if (!credits) return credits.error();
  return credits.value().value();
}

}  // namespace tollgate::server
