// What a model call costs, in USD micros, and what a feature charges for it, in credits.
//
// Prices are per million tokens, in micros: $0.15 per million input tokens is 150,000. A call's
// cost is ceil((input × input price + output × output price) / 1,000,000), so a fraction of a
// micro is charged as a whole one. Holds reserve a worst case computed the same way from upper
// bounds on the tokens. Everything is int64 and checked: kOverflow, never a wrapped value.
#pragma once

#include <cstdint>

#include "tollgate/core/result.h"
#include "tollgate/money/money.h"

namespace tollgate::pricing {

inline constexpr int64_t kTokensPerMillion = 1'000'000;
inline constexpr int64_t kTokensMax = 100'000'000;        // per call, input or output
inline constexpr int64_t kMarkupBasisPointsMax = 1'000'000;  // 100×
inline constexpr int64_t kBasisPointsPerUnit = 10'000;       // 10,000 bp = 1×

struct ModelPrice {
  money::Micros input_per_million;
  money::Micros output_per_million;
};

struct Usage {
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
};

// kInvalidArgument (naming the field) for negative prices or token counts over kTokensMax.
Result<money::Micros> cost(const ModelPrice& price, const Usage& usage);

// An upper bound on the input tokens of a prompt of `bytes` UTF-8 bytes in `messages` messages:
// byte-level BPE tokenizers (OpenAI's, Anthropic's) never make a token of less than one byte,
// and each message adds a few framing tokens (kMessageOverheadTokens).
inline constexpr int64_t kMessageOverheadTokens = 8;
inline constexpr int64_t kRequestOverheadTokens = 16;
Result<int64_t> input_tokens_upper_bound(int64_t bytes, int64_t messages);

// What a feature call may cost at most, before it runs: what its hold reserves.
//
// The first call's prompt is bounded by input_tokens_upper_bound and its answer by the output
// limit. A response format may need one repair call, whose prompt is the first prompt plus the
// first answer (at most kAnswerBytesPerTokenMax bytes per output token: no tokenizer in use
// decodes a token to more) plus the repair instruction (at most kRepairPromptBytesMax) in two
// more messages. `price` is the dearer of every model that may answer, per token kind.
inline constexpr int64_t kAnswerBytesPerTokenMax = 8;
inline constexpr int64_t kRepairPromptBytesMax = 1024;
struct HoldBound {
  ModelPrice price;
  int64_t prompt_bytes = 0;       // messages, response format and tools, in UTF-8 bytes
  int64_t messages = 0;           // prompt messages
  int64_t max_output_tokens = 0;  // the call's output limit, 0..kTokensMax
  bool repair = false;            // a response format may need one repair call
};
// kInvalidArgument (naming the field) for negative inputs; kOverflow when out of range.
Result<money::Micros> hold_worst_case(const HoldBound& bound);

// How a feature charges end users.
struct FeaturePrice {
  enum class Kind { kFixed, kTokens };
  Kind kind = Kind::kFixed;
  money::Credits fixed_credits{1};              // kFixed: per call
  int64_t markup_basis_points = kBasisPointsPerUnit;  // kTokens: cost × markup, 10,000 = 1×
  money::Rate rate;                              // kTokens: what a credit is worth
};

// Credits to charge for a call that cost `cost`: the fixed price, or ceil(cost × markup) turned
// into credits (rounding up). kInvalidArgument for a bad price; kOverflow when out of range.
Result<money::Credits> charge(const FeaturePrice& price, money::Micros cost);

}  // namespace tollgate::pricing
