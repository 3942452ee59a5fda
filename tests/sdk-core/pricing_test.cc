#include "tollgate/pricing/pricing.h"

#include <gtest/gtest.h>

#include "vectors.h"

namespace tollgate::pricing {
namespace {

using money::Credits;
using money::Micros;
using testing::outcome;
using testing::to_int64;
using testing::vector_cases;

template <typename T>
void expect_error(const Result<T>& result, const nlohmann::json& v) {
  ASSERT_FALSE(result.ok()) << v["name"];
  EXPECT_EQ(outcome(result), v["error"].get<std::string>()) << v["name"];
  EXPECT_EQ(result.error().param, v["param"].get<std::string>()) << v["name"];
}

TEST(Pricing, CostVectors) {
  for (const auto& v : vector_cases("pricing.json", "cost")) {
    ModelPrice price{Micros(to_int64(v["inputPerMillion"])), Micros(to_int64(v["outputPerMillion"]))};
    Usage usage{to_int64(v["inputTokens"]), to_int64(v["outputTokens"])};
    auto micros = cost(price, usage);
    if (v.contains("error")) {
      expect_error(micros, v);
    } else {
      ASSERT_TRUE(micros.ok()) << v["name"] << ": " << micros.error().message;
      EXPECT_EQ(micros.value().value(), to_int64(v["micros"])) << v["name"];
    }
  }
}

TEST(Pricing, ChargeVectors) {
  for (const auto& v : vector_cases("pricing.json", "charge")) {
    FeaturePrice price;
    price.kind = v["kind"] == "fixed" ? FeaturePrice::Kind::kFixed : FeaturePrice::Kind::kTokens;
    price.fixed_credits = Credits(to_int64(v["fixedCredits"]));
    price.markup_basis_points = to_int64(v["markupBasisPoints"]);
    price.rate = {Credits(to_int64(v["rateCredits"])), Micros(to_int64(v["rateMicros"]))};
    auto credits = charge(price, Micros(to_int64(v["costMicros"])));
    if (v.contains("error")) {
      expect_error(credits, v);
    } else {
      ASSERT_TRUE(credits.ok()) << v["name"] << ": " << credits.error().message;
      EXPECT_EQ(credits.value().value(), to_int64(v["credits"])) << v["name"];
    }
  }
}

TEST(Pricing, InputBoundVectors) {
  for (const auto& v : vector_cases("pricing.json", "input_bound")) {
    auto tokens = input_tokens_upper_bound(to_int64(v["bytes"]), to_int64(v["messages"]));
    if (v.contains("error")) {
      expect_error(tokens, v);
    } else {
      ASSERT_TRUE(tokens.ok()) << v["name"];
      EXPECT_EQ(tokens.value(), to_int64(v["tokens"])) << v["name"];
    }
  }
}

TEST(Pricing, HoldVectors) {
  for (const auto& v : vector_cases("pricing.json", "hold")) {
    HoldBound bound{{Micros(to_int64(v["inputPerMillion"])), Micros(to_int64(v["outputPerMillion"]))},
                    to_int64(v["promptBytes"]),
                    to_int64(v["messages"]),
                    to_int64(v["maxTokens"]),
                    v["repair"].get<bool>()};
    auto micros = hold_worst_case(bound);
    if (v.contains("error")) {
      expect_error(micros, v);
    } else {
      ASSERT_TRUE(micros.ok()) << v["name"];
      EXPECT_EQ(micros.value().value(), to_int64(v["micros"])) << v["name"];
    }
  }
}

// The hold covers the first call and its repair at their bounds, whatever they use below them.
TEST(Pricing, HoldCoversBothCallsAtTheirBounds) {
  const ModelPrice price{Micros(150'000), Micros(600'000)};
  HoldBound bound{price, 3'000, 2, 500, true};
  auto held = hold_worst_case(bound);
  ASSERT_TRUE(held.ok());
  auto first_input = input_tokens_upper_bound(3'000, 2);
  auto repair_input = input_tokens_upper_bound(3'000 + 500 * kAnswerBytesPerTokenMax +
                                                   kRepairPromptBytesMax, 4);
  ASSERT_TRUE(first_input.ok() && repair_input.ok());
  auto first = cost(price, {first_input.value(), 500});
  auto repair = cost(price, {repair_input.value(), 500});
  ASSERT_TRUE(first.ok() && repair.ok());
  EXPECT_EQ(held.value().value(), first.value().value() + repair.value().value());
  bound.repair = false;
  EXPECT_EQ(hold_worst_case(bound).value().value(), first.value().value());
}

// A hold priced from upper bounds always covers the settled cost of any usage under them.
TEST(Pricing, WorstCaseCoversEveryActualUsage) {
  const ModelPrice price{Micros(150'000), Micros(600'000)};
  const int64_t input_bound = 4'000, output_bound = 1'000;
  auto worst = cost(price, {input_bound, output_bound});
  ASSERT_TRUE(worst.ok());
  for (int64_t in = 0; in <= input_bound; in += 97) {
    for (int64_t out = 0; out <= output_bound; out += 31) {
      auto actual = cost(price, {in, out});
      ASSERT_TRUE(actual.ok());
      EXPECT_LE(actual.value(), worst.value()) << in << " / " << out;
    }
  }
}

}  // namespace
}  // namespace tollgate::pricing
