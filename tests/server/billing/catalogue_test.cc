// The catalogue checked at definition: plans and credit packs, each refusal naming its field,
// and prices that do not convert to Stripe's minor units refused there.
#include "server/billing/catalogue.h"

#include <gtest/gtest.h>

namespace tollgate::server {
namespace {

std::string refused_param(const Result<std::vector<Plan>>& got) {
  return got.ok() ? "(accepted)" : got.error().param;
}
std::string refused_param(const Result<std::vector<CreditPack>>& got) {
  return got.ok() ? "(accepted)" : got.error().param;
}

TEST(Catalogue, PlansTakeACurrencyAndAnInterval) {
  auto plans = parse_plans(json::parse(
      R"([{"name":"pro","monthlyCredits":1000,"priceMicros":19000000},
          {"name":"team","monthlyCredits":5000,"priceMicros":490000000,"currency":"EUR","interval":"year"}])"));
  ASSERT_TRUE(plans.ok()) << plans.error().message;
  EXPECT_EQ(plans.value()[0].currency, "usd");
  EXPECT_EQ(plans.value()[0].interval, "month");
  EXPECT_EQ(plans.value()[1].currency, "eur");
  EXPECT_EQ(plans.value()[1].interval, "year");
  EXPECT_EQ(period_allowance(plans.value()[1]), 60'000);
}

TEST(Catalogue, APlanThatCannotBeChargedIsRefusedNamingTheField) {
  EXPECT_EQ(refused_param(parse_plans(json::parse(R"([{"name":"pro","priceMicros":1995000}])"))),
            "plans[0].priceMicros");  // 199.5 cents
  EXPECT_EQ(refused_param(parse_plans(
                json::parse(R"([{"name":"pro","priceMicros":1500000,"currency":"jpy"}])"))),
            "plans[0].priceMicros");  // 1.5 yen
  EXPECT_EQ(refused_param(parse_plans(
                json::parse(R"([{"name":"pro","priceMicros":100,"currency":"dollars"}])"))),
            "plans[0].currency");
  EXPECT_EQ(refused_param(
                parse_plans(json::parse(R"([{"name":"ok"},{"name":"pro","interval":"week"}])"))),
            "plans[1].interval");
  EXPECT_EQ(refused_param(parse_plans(json::parse(R"([{"name":"free","priceMicros":10000}])"))),
            "plans[0].priceMicros");
  EXPECT_EQ(refused_param(parse_plans(json::parse(R"([{"name":"pro","seats":3}])"))),
            "plans[0].seats");
  EXPECT_EQ(refused_param(parse_plans(json::parse(R"({"name":"pro"})"))), "plans");
}

TEST(Catalogue, CreditPacksAreCheckedAndFoundByIdAsPlansByName) {
  auto packs = parse_credit_packs(json::parse(
      R"([{"id":"starter","credits":500,"priceMicros":5000000},
          {"id":"big","name":"Big pack","credits":5000,"priceMicros":4000000000,"currency":"jpy"}])"));
  ASSERT_TRUE(packs.ok()) << packs.error().message;
  EXPECT_EQ(packs.value()[0].name, "starter");
  ProjectSettings settings;
  settings.credit_packs = packs.value();
  settings.plans = {{"pro", 1000, 19'000'000, "usd", "month"}, {"hobby", 10, 0, "usd", "month"}};
  auto pack = find_product(settings, "big");
  ASSERT_TRUE(pack);
  EXPECT_EQ(pack->kind, Product::Kind::kPack);
  EXPECT_EQ(pack->credits, 5000);
  EXPECT_EQ(pack->currency, "jpy");
  auto plan = find_product(settings, "pro");
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->kind, Product::Kind::kPlan);
  EXPECT_EQ(plan->credits, 1000);
  EXPECT_FALSE(find_product(settings, "hobby"));  // no price: nothing to buy
  EXPECT_FALSE(find_product(settings, "free"));
  EXPECT_FALSE(find_product(settings, "nope"));

  EXPECT_EQ(
      refused_param(parse_credit_packs(json::parse(R"([{"id":"a","credits":1,"priceMicros":1}])"))),
      "creditPacks[0].priceMicros");
  EXPECT_EQ(refused_param(
                parse_credit_packs(json::parse(R"([{"id":"a","credits":0,"priceMicros":10000}])"))),
            "creditPacks[0].credits");
  EXPECT_EQ(
      refused_param(parse_credit_packs(json::parse(
          R"([{"id":"a","credits":1,"priceMicros":10000},{"id":"a","credits":2,"priceMicros":10000}])"))),
      "creditPacks[1].id");
  json many = json::array();
  for (int i = 0; i < 21; ++i)
    many.push_back({{"id", std::string("p").append(std::to_string(i))},
                    {"credits", 1},
                    {"priceMicros", 10000}});
  EXPECT_EQ(refused_param(parse_credit_packs(many)), "creditPacks");
}

}  // namespace
}  // namespace tollgate::server
