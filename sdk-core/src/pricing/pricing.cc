#include "tollgate/pricing/pricing.h"

#include <string>

namespace tollgate::pricing {

using money::Credits;
using money::Micros;

namespace {

Error invalid(std::string message, std::string param) {
  return fail(ErrorCode::kInvalidArgument, std::move(message), std::move(param));
}

Error overflow() { return fail(ErrorCode::kOverflow, "the cost does not fit in int64 micros"); }

// ceil(a × b / divisor) for non-negative a, b and a positive divisor, checked.
Result<int64_t> mul_div_ceil(int64_t a, int64_t b, int64_t divisor) {
  int64_t product = 0;
  if (__builtin_mul_overflow(a, b, &product)) return overflow();
  return product / divisor + (product % divisor != 0);
}

}  // namespace

Result<Micros> cost(const ModelPrice& price, const Usage& usage) {
  if (price.input_per_million.value() < 0)
    return invalid("the input price must not be negative", "inputPerMillion");
  if (price.output_per_million.value() < 0)
    return invalid("the output price must not be negative", "outputPerMillion");
  if (usage.input_tokens < 0 || usage.input_tokens > kTokensMax)
    return invalid("input tokens must be in [0, " + std::to_string(kTokensMax) + "]", "inputTokens");
  if (usage.output_tokens < 0 || usage.output_tokens > kTokensMax)
    return invalid("output tokens must be in [0, " + std::to_string(kTokensMax) + "]", "outputTokens");
  // Sum the exact products first and round once, so two halves of a micro make one micro.
  int64_t input = 0, output = 0, total = 0;
  if (__builtin_mul_overflow(usage.input_tokens, price.input_per_million.value(), &input) ||
      __builtin_mul_overflow(usage.output_tokens, price.output_per_million.value(), &output) ||
      __builtin_add_overflow(input, output, &total)) {
    return overflow();
  }
  return Micros(total / kTokensPerMillion + (total % kTokensPerMillion != 0));
}

Result<int64_t> input_tokens_upper_bound(int64_t bytes, int64_t messages) {
  if (bytes < 0) return invalid("bytes must not be negative", "bytes");
  if (messages < 0) return invalid("messages must not be negative", "messages");
  int64_t framing = 0, total = 0;
  if (__builtin_mul_overflow(messages, kMessageOverheadTokens, &framing) ||
      __builtin_add_overflow(bytes, framing, &total) ||
      __builtin_add_overflow(total, kRequestOverheadTokens, &total)) {
    return overflow();
  }
  return total;
}

Result<Micros> hold_worst_case(const HoldBound& bound) {
  if (bound.max_output_tokens < 0 || bound.max_output_tokens > kTokensMax) {
    return invalid("the output limit must be in [0, " + std::to_string(kTokensMax) + "]",
                   "maxTokens");
  }
  auto first_input = input_tokens_upper_bound(bound.prompt_bytes, bound.messages);
  if (!first_input) return first_input.error();
  auto first = cost(bound.price, {first_input.value(), bound.max_output_tokens});
  if (!first) return first.error();
  if (!bound.repair) return first;
  int64_t answer_bytes = 0, repair_bytes = 0, repair_messages = 0;
  if (__builtin_mul_overflow(bound.max_output_tokens, kAnswerBytesPerTokenMax, &answer_bytes) ||
      __builtin_add_overflow(bound.prompt_bytes, answer_bytes, &repair_bytes) ||
      __builtin_add_overflow(repair_bytes, kRepairPromptBytesMax, &repair_bytes) ||
      __builtin_add_overflow(bound.messages, int64_t{2}, &repair_messages)) {
    return overflow();
  }
  auto repair_input = input_tokens_upper_bound(repair_bytes, repair_messages);
  if (!repair_input) return repair_input.error();
  auto repair = cost(bound.price, {repair_input.value(), bound.max_output_tokens});
  if (!repair) return repair.error();
  return money::add(first.value(), repair.value());
}

Result<Credits> charge(const FeaturePrice& price, Micros cost) {
  if (cost.value() < 0) return invalid("the cost must not be negative", "cost");
  if (price.kind == FeaturePrice::Kind::kFixed) {
    if (price.fixed_credits.value() < 0)
      return invalid("the fixed price must not be negative", "credits");
    return price.fixed_credits;
  }
  if (price.markup_basis_points < 0 || price.markup_basis_points > kMarkupBasisPointsMax) {
    return invalid("the markup must be in [0, " + std::to_string(kMarkupBasisPointsMax) +
                       "] basis points",
                   "markupBasisPoints");
  }
  auto marked_up = mul_div_ceil(cost.value(), price.markup_basis_points, kBasisPointsPerUnit);
  if (!marked_up) return marked_up.error();
  return money::to_credits(Micros(marked_up.value()), price.rate);
}

}  // namespace tollgate::pricing
