// The project's catalogue: the plans end users subscribe to and the credit packs they buy, as
// the project's settings hold them. Checked at definition: a price that does not convert to
// Stripe's minor units of its currency exactly is refused there, never at checkout.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/input/fields.h"
#include "server/store/store.h"

namespace tollgate::server {

inline constexpr size_t kPlansMax = 20;
inline constexpr size_t kCreditPacksMax = 20;

// `plans` and `creditPacks` from a settings PATCH; errors name the field ("plans[1].currency").
Result<std::vector<Plan>> parse_plans(const json& value);
Result<std::vector<CreditPack>> parse_credit_packs(const json& value);

// What a checkout sells: a credit pack (`kPack`, a one-off payment) or a plan (`kPlan`, a
// subscription).
struct Product {
  enum class Kind { kPack, kPlan };
  Kind kind = Kind::kPack;
  std::string id;  // the pack's id or the plan's name
  std::string name;
  int64_t credits = 0;  // a pack's credits, or a plan's allowance per paid period
  int64_t price_micros = 0;
  std::string currency;
  std::string interval;  // a plan's: month or year
};

// The pack with this id, else the priced plan with this name; nullopt for neither (the free
// plan is not for sale).
std::optional<Product> find_product(const ProjectSettings& settings, std::string_view id);

// A plan's allowance for one paid period: monthlyCredits a month (× 12 for a yearly plan).
int64_t period_allowance(const Plan& plan);
const Plan* find_plan(const ProjectSettings& settings, std::string_view name);

}  // namespace tollgate::server
