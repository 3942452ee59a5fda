// What a metered call reserves: the worst case of whichever model may answer, in credits.
#include "server/calls/call_price.h"

#include <gtest/gtest.h>

namespace tollgate::server {
namespace {

constexpr std::string_view kPrices = R"json({"models": {
  "openai/cheap": {"inputPerMillionMicros": 100000,  "outputPerMillionMicros": 400000},
  "openai/dear":  {"inputPerMillionMicros": 3000000, "outputPerMillionMicros": 200000}
}})json";

PricingCatalog prices() {
  auto parsed = PricingCatalog::parse(kPrices);
  EXPECT_TRUE(parsed) << parsed.error().message;
  return parsed.value();
}

ModelRequest request(std::string prompt, int64_t max_tokens) {
  ModelRequest r;
  r.messages.push_back({ChatMessage::Role::kUser, std::move(prompt), {}, {}});
  r.max_tokens = max_tokens;
  return r;
}

pricing::FeaturePrice by_tokens(int64_t micros_per_credit) {
  pricing::FeaturePrice price;
  price.kind = pricing::FeaturePrice::Kind::kTokens;
  price.rate = money::Rate{money::Credits(1), money::Micros(micros_per_credit)};
  return price;
}

pricing::FeaturePrice fixed(int64_t credits) {
  pricing::FeaturePrice price;
  price.fixed_credits = money::Credits(credits);
  return price;
}

TEST(PromptBytes, CountsMessagesFormatAndTools) {
  ModelRequest r = request("hello", 10);
  EXPECT_EQ(prompt_bytes(r), 5);
  r.response_format = nlohmann::json{{"type", "object"}};
  EXPECT_EQ(prompt_bytes(r), 5 + static_cast<int64_t>(r.response_format->dump().size()));
  r.tools.push_back({"lookup", "finds", nlohmann::json::object()});
  EXPECT_EQ(prompt_bytes(r), 5 + static_cast<int64_t>(r.response_format->dump().size()) + 6 + 5 + 2);
}

TEST(PriceHold, IsSdkCoresWorstCaseForThePrimary) {
  const PricingCatalog catalog = prices();
  ModelRequest r = request(std::string(400, 'x'), 1000);
  auto hold = price_hold(catalog, by_tokens(1), {"openai", "cheap"}, std::nullopt, r, false);
  ASSERT_TRUE(hold) << hold.error().message;
  auto expected = pricing::hold_worst_case({*catalog.find("openai", "cheap"), 400, 1, 1000, false});
  ASSERT_TRUE(expected);
  EXPECT_EQ(hold.value().reserved_micros, expected.value().value());
  EXPECT_EQ(hold.value().reserved_credits, expected.value().value());  // a credit per micro
  EXPECT_EQ(hold.value().prompt_bytes, 400);
  EXPECT_EQ(hold.value().price.input_per_million.value(), 100000);
}

TEST(PriceHold, TakesTheDearerPricePerTokenOfPrimaryAndFallback) {
  const PricingCatalog catalog = prices();
  ModelRequest r = request(std::string(4000, 'x'), 1000);
  auto hold = price_hold(catalog, by_tokens(1), {"openai", "cheap"},
                         ModelChoice{"openai", "dear"}, r, false);
  ASSERT_TRUE(hold);
  // Input at the dear model's price, output at the cheap one's: dearer than either alone.
  pricing::ModelPrice worst{money::Micros(3000000), money::Micros(400000)};
  auto expected = pricing::hold_worst_case({worst, 4000, 1, 1000, false});
  EXPECT_EQ(hold.value().reserved_micros, expected.value().value());
  auto alone = price_hold(catalog, by_tokens(1), {"openai", "dear"}, std::nullopt, r, false);
  EXPECT_GT(hold.value().reserved_micros, alone.value().reserved_micros);
  // What it charges per token is still the primary's, until a fallback answers.
  EXPECT_EQ(hold.value().price.output_per_million.value(), 400000);
}

TEST(PriceHold, ARepairCallRaisesTheHold) {
  const PricingCatalog catalog = prices();
  ModelRequest r = request("x", 100);
  auto plain = price_hold(catalog, by_tokens(1), {"openai", "cheap"}, std::nullopt, r, false);
  auto repair = price_hold(catalog, by_tokens(1), {"openai", "cheap"}, std::nullopt, r, true);
  ASSERT_TRUE(plain && repair);
  EXPECT_GT(repair.value().reserved_micros, 2 * plain.value().reserved_micros);
}

TEST(PriceHold, AFixedPriceReservesItsCreditsEvenOnAnUnpricedModel) {
  auto hold = price_hold(prices(), fixed(7), {"ollama", "llama3"}, std::nullopt,
                         request("x", 100), false);
  ASSERT_TRUE(hold);
  EXPECT_EQ(hold.value().reserved_credits, 7);
  EXPECT_EQ(hold.value().reserved_micros, 0);
}

TEST(PriceHold, ATokenPriceOnAnUnpricedModelIsRefused) {
  const PricingCatalog catalog = prices();
  auto primary =
      price_hold(catalog, by_tokens(1), {"openai", "gpt-9"}, std::nullopt, request("x", 1), false);
  ASSERT_FALSE(primary);
  EXPECT_EQ(primary.error().code, ErrorCode::kInternal);
  auto fallback = price_hold(catalog, by_tokens(1), {"openai", "cheap"},
                             ModelChoice{"groq", "unlisted"}, request("x", 1), false);
  ASSERT_FALSE(fallback);
  EXPECT_NE(fallback.error().message.find("fallback"), std::string::npos);
}

TEST(PriceHold, AnOutputLimitPastSdkCoresBoundIsRefused) {
  auto hold = price_hold(prices(), by_tokens(1), {"openai", "dear"}, std::nullopt,
                         request("x", pricing::kTokensMax + 1), true);
  ASSERT_FALSE(hold);
  EXPECT_FALSE(hold.error().message.empty());
}

TEST(CreditsFor, RoundsUpToWholeCredits) {
  EXPECT_EQ(credits_for(by_tokens(1000), 1).value(), 1);
  EXPECT_EQ(credits_for(by_tokens(1000), 1000).value(), 1);
  EXPECT_EQ(credits_for(by_tokens(1000), 1001).value(), 2);
  EXPECT_EQ(credits_for(by_tokens(1000), 0).value(), 0);
  EXPECT_EQ(credits_for(fixed(3), 123456).value(), 3);
}

}  // namespace
}  // namespace tollgate::server
