#include "server/billing/catalogue.h"

#include <algorithm>

#include "tollgate/money/money.h"

namespace tollgate::server {
namespace {

constexpr int64_t kCatalogueCreditsMax = 1'000'000'000'000;
// The most one plan period or one pack may cost: a million units of its currency.
constexpr int64_t kPriceMicrosMax = int64_t{1'000'000} * 1'000'000;
constexpr size_t kProductNameBytesMax = 64;
constexpr size_t kPackIdBytesMax = 64;

// `error` with its field under `where` ("plans[0]" + ".name").
Error scoped(Error error, const std::string& where) {
  error.param = error.param.empty() ? where : where + "." + error.param;
  return error;
}

Result<void> first_error(std::initializer_list<const Error*> errors, const std::string& where) {
  for (const Error* error : errors)
    if (error != nullptr) return scoped(*error, where);
  return {};
}

// The currency (lower case, default usd) and a price that converts to its minor units exactly.
Result<std::string> priced(const json& item, int64_t price_micros) {
  auto currency = optional_string_field(item, "currency", 3);
  if (!currency) return currency.error();
  std::string code = currency.value().value_or("usd");
  std::transform(code.begin(), code.end(), code.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!money::valid_currency(code)) {
    return invalid_field("'currency' is a three-letter ISO 4217 code, such as 'usd'", "currency");
  }
  auto minor = money::to_minor_units(money::Micros(price_micros), code);
  if (!minor) return minor.error();
  return code;
}

Result<const json*> items(const json& value, std::string_view name, size_t max) {
  std::string field(name);
  if (!value.is_array()) return invalid_field("'" + field + "' must be an array", field);
  if (value.size() > max) {
    return invalid_field("'" + field + "' may list at most " + std::to_string(max), field);
  }
  return &value;
}

}  // namespace

Result<std::vector<Plan>> parse_plans(const json& value) {
  auto list = items(value, "plans", kPlansMax);
  if (!list) return list.error();
  std::vector<Plan> plans;
  for (size_t i = 0; i < value.size(); ++i) {
    const json& item = value[i];
    std::string where = "plans[" + std::to_string(i) + "]";
    if (!item.is_object()) return invalid_field("'" + where + "' must be an object", where);
    if (auto known =
            only_fields(item, {"name", "monthlyCredits", "priceMicros", "currency", "interval"});
        !known) {
      return scoped(known.error(), where);
    }
    auto name = string_field(item, "name", kProductNameBytesMax);
    auto credits = int_field(item, "monthlyCredits", 0, kCatalogueCreditsMax, 0);
    auto price = int_field(item, "priceMicros", 0, kPriceMicrosMax, 0);
    auto interval = optional_string_field(item, "interval", 8);
    if (auto bad =
            first_error({name ? nullptr : &name.error(), credits ? nullptr : &credits.error(),
                         price ? nullptr : &price.error(), interval ? nullptr : &interval.error()},
                        where);
        !bad) {
      return bad.error();
    }
    std::string every = interval.value().value_or("month");
    if (every != "month" && every != "year") {
      return invalid_field("'interval' is 'month' or 'year'", where + ".interval");
    }
    auto currency = priced(item, price.value());
    if (!currency) return scoped(currency.error(), where);
    if (name.value() == "free" && price.value() != 0) {
      return invalid_field("the 'free' plan cannot have a price", where + ".priceMicros");
    }
    for (const Plan& earlier : plans) {
      if (earlier.name == name.value()) {
        return invalid_field("plan '" + name.value() + "' is listed twice", where + ".name");
      }
    }
    plans.push_back({name.value(), credits.value(), price.value(), currency.value(), every});
  }
  return plans;
}

Result<std::vector<CreditPack>> parse_credit_packs(const json& value) {
  auto list = items(value, "creditPacks", kCreditPacksMax);
  if (!list) return list.error();
  std::vector<CreditPack> packs;
  for (size_t i = 0; i < value.size(); ++i) {
    const json& item = value[i];
    std::string where = "creditPacks[" + std::to_string(i) + "]";
    if (!item.is_object()) return invalid_field("'" + where + "' must be an object", where);
    if (auto known = only_fields(item, {"id", "name", "credits", "priceMicros", "currency"});
        !known) {
      return scoped(known.error(), where);
    }
    auto id = string_field(item, "id", kPackIdBytesMax);
    auto name = optional_string_field(item, "name", kProductNameBytesMax);
    auto credits = int_field(item, "credits", 1, kCatalogueCreditsMax);
    auto price = int_field(item, "priceMicros", 1, kPriceMicrosMax);
    if (auto bad =
            first_error({id ? nullptr : &id.error(), name ? nullptr : &name.error(),
                         credits ? nullptr : &credits.error(), price ? nullptr : &price.error()},
                        where);
        !bad) {
      return bad.error();
    }
    auto currency = priced(item, price.value());
    if (!currency) return scoped(currency.error(), where);
    for (const CreditPack& earlier : packs) {
      if (earlier.id == id.value()) {
        return invalid_field("credit pack '" + id.value() + "' is listed twice", where + ".id");
      }
    }
    packs.push_back({id.value(), name.value().value_or(id.value()), credits.value(), price.value(),
                     currency.value()});
  }
  return packs;
}

const Plan* find_plan(const ProjectSettings& settings, std::string_view name) {
  for (const Plan& plan : settings.plans)
    if (plan.name == name) return &plan;
  return nullptr;
}

int64_t period_allowance(const Plan& plan) {
  // monthlyCredits <= 10^12 at definition, so twelve of them fit.
  return plan.interval == "year" ? plan.monthly_credits * 12 : plan.monthly_credits;
}

std::optional<Product> find_product(const ProjectSettings& settings, std::string_view id) {
  for (const CreditPack& pack : settings.credit_packs) {
    if (pack.id == id) {
      return Product{Product::Kind::kPack, pack.id,       pack.name, pack.credits,
                     pack.price_micros,    pack.currency, ""};
    }
  }
  const Plan* plan = find_plan(settings, id);
  if (plan == nullptr || plan->price_micros <= 0) return std::nullopt;
  return Product{Product::Kind::kPlan, plan->name,     plan->name,    period_allowance(*plan),
                 plan->price_micros,   plan->currency, plan->interval};
}

}  // namespace tollgate::server
