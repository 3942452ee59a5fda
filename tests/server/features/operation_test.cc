// A feature definition against the pricing catalog: what a token price needs, checked when the
// definition is written so that no invoke fails on it later.
#include "server/features/operation.h"

#include <gtest/gtest.h>

namespace tollgate::server {
namespace {

using nlohmann::json;

constexpr std::string_view kCatalog = R"json({"models": {
  "openai/gpt-4o-mini": {"inputPerMillionMicros": 150000, "outputPerMillionMicros": 600000},
  "ollama/*":           {"inputPerMillionMicros": 0,      "outputPerMillionMicros": 0}
}})json";

PricingCatalog catalog() {
  auto parsed = PricingCatalog::parse(kCatalog);
  EXPECT_TRUE(parsed) << parsed.error().message;
  return parsed.value();
}

Operation feature(json fields) {
  json definition = {{"slug", "f"}, {"model", "openai/gpt-4o-mini"}};
  definition.update(fields);
  auto op = parse_operation(definition);
  EXPECT_TRUE(op) << op.error().message;
  return op.value();
}

const json kTokenPrice = {{"type", "tokens"}};

TEST(CatalogPrices, ATokenPriceNeedsThePrimaryModelPriced) {
  const PricingCatalog prices = catalog();
  EXPECT_TRUE(check_catalog_prices(feature({{"price", kTokenPrice}}), prices));
  auto refused =
      check_catalog_prices(feature({{"model", "openai/gpt-9"}, {"price", kTokenPrice}}), prices);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(refused.error().param, "model");
  EXPECT_NE(refused.error().message.find("openai/gpt-9"), std::string::npos);
}

TEST(CatalogPrices, AProviderWildcardPricesEveryModelOfIt) {
  EXPECT_TRUE(check_catalog_prices(feature({{"model", "ollama/llama3"}, {"price", kTokenPrice}}),
                                   catalog()));
}

TEST(CatalogPrices, ATokenPriceNeedsTheFallbackPricedToo) {
  const PricingCatalog prices = catalog();
  auto refused = check_catalog_prices(
      feature({{"fallbackModel", "groq/unlisted"}, {"price", kTokenPrice}}), prices);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().param, "fallbackModel");
  EXPECT_NE(refused.error().message.find("groq/unlisted"), std::string::npos);
  EXPECT_TRUE(check_catalog_prices(feature({{"fallbackModel", "ollama/x"}, {"price", kTokenPrice}}),
                                   prices));
  // The primary is named first when neither is priced.
  auto both = check_catalog_prices(
      feature({{"model", "a/b"}, {"fallbackModel", "c/d"}, {"price", kTokenPrice}}), prices);
  ASSERT_FALSE(both);
  EXPECT_EQ(both.error().param, "model");
}

TEST(CatalogPrices, AFixedPriceNeedsNothingFromTheCatalog) {
  const PricingCatalog prices = catalog();
  EXPECT_TRUE(check_catalog_prices(feature({{"model", "a/b"}, {"fallbackModel", "c/d"}}), prices));
  EXPECT_TRUE(check_catalog_prices(
      feature({{"model", "a/b"}, {"price", {{"type", "fixed"}, {"credits", 3}}}}), prices));
}

TEST(CatalogPrices, TheShippedCatalogPricesTheDemoModel) {
  auto shipped = PricingCatalog::load(std::nullopt);
  ASSERT_TRUE(shipped);
  EXPECT_TRUE(check_catalog_prices(feature({{"model", "demo/echo"}, {"price", kTokenPrice}}),
                                   shipped.value()));
  EXPECT_FALSE(check_catalog_prices(feature({{"model", "fake/text"}, {"price", kTokenPrice}}),
                                    shipped.value()));
}

}  // namespace
}  // namespace tollgate::server
