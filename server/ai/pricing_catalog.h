// The pricing catalog: what each model costs per million input and output tokens, in micros.
//
// A catalog ships with the server (kDefaultCatalog); TOLLGATE_PRICING_FILE names a JSON file of
// the same shape that replaces it. The shape is
//   {"models": {"openai/gpt-4o-mini": {"inputPerMillionMicros": 150000,
//                                      "outputPerMillionMicros": 600000,
//                                      "maxOutputTokens": 16384}, …}}
// where a key "provider/*" prices every model of that provider without an entry of its own.
// Immutable after loading; thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "tollgate/core/result.h"
#include "tollgate/pricing/pricing.h"

namespace tollgate::server {

inline constexpr size_t kPricingCatalogBytesMax = size_t{1} << 20;
inline constexpr size_t kPricingCatalogModelsMax = 10'000;
inline constexpr int64_t kPricePerMillionMicrosMax = 1'000'000'000;  // $1,000 per million tokens
// A model's most output tokens per call, where its entry names none; and the most one may name.
inline constexpr int64_t kCatalogMaxOutputDefault = 4096;
inline constexpr int64_t kCatalogMaxOutputMax = 1'000'000;

extern const std::string_view kDefaultCatalog;

class PricingCatalog {
 public:
  // kInvalidArgument naming the bad entry ("models.openai/gpt-4o.inputPerMillionMicros").
  static Result<PricingCatalog> parse(std::string_view json_text);
  // The default catalog, or the file's when `path` is set (kIoError when it cannot be read).
  static Result<PricingCatalog> load(const std::optional<std::string>& path);

  // The price of "provider/model": its own entry, else "provider/*"; nullopt when neither.
  std::optional<pricing::ModelPrice> find(std::string_view provider, std::string_view model) const;

  // The most output tokens the model gives one call (its entry's, else "provider/*"'s, else
  // kCatalogMaxOutputDefault): what a call naming no max_tokens reserves.
  int64_t max_output_tokens(std::string_view provider, std::string_view model) const;

  // Every entry, by "provider/model" (or "provider/*").
  const std::map<std::string, pricing::ModelPrice, std::less<>>& prices() const { return prices_; }

  size_t size() const { return prices_.size(); }

 private:
  std::map<std::string, pricing::ModelPrice, std::less<>> prices_;
  std::map<std::string, int64_t, std::less<>> max_output_;
};

}  // namespace tollgate::server
