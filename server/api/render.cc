#include "server/api/render.h"

#include "tollgate/money/money.h"

namespace tollgate::server {
namespace {

ojson json_or_null(const std::optional<int64_t>& value) {
  return value ? ojson(*value) : ojson(nullptr);
}

}  // namespace

// A total as a JSON integer while it fits in int64, as every amount is; beyond, as a string of
// its exact digits, which no JSON reader rounds (docs/api.md, "Totals").
ojson render_total(Int128 value) {
  if (value >= INT64_MIN && value <= INT64_MAX) return ojson(static_cast<int64_t>(value));
  return ojson(int128_decimal(value));
}

ojson render_created_project(const CreatedProject& created) {
  return {{"id", created.project.id},
          {"name", created.project.name},
          {"publishableKey", created.publishable_key},
          {"secretKey", created.secret_key},
          {"createdAtMs", created.project.created_at_ms}};
}

ojson render_project(const Project& project) {
  const ProjectSettings& s = project.settings;
  ojson plans = ojson::array();
  for (const Plan& plan : s.plans) {
    plans.push_back({{"name", plan.name},
                     {"monthlyCredits", plan.monthly_credits},
                     {"priceMicros", plan.price_micros},
                     {"currency", plan.currency},
                     {"interval", plan.interval}});
  }
  ojson packs = ojson::array();
  for (const CreditPack& pack : s.credit_packs) {
    packs.push_back({{"id", pack.id},
                     {"name", pack.name},
                     {"credits", pack.credits},
                     {"priceMicros", pack.price_micros},
                     {"currency", pack.currency}});
  }
  return {{"id", project.id},
          {"name", project.name},
          {"demo", project.demo},
          {"createdAtMs", project.created_at_ms},
          {"settings",
           {{"secureMetering", s.secure_metering},
            {"plans", plans},
            {"creditPacks", packs},
            {"startingCredits", s.starting_credits},
            {"lowBalanceThreshold", s.low_balance_threshold},
            {"budgetMicros", json_or_null(s.budget_micros)},
            {"allowBrowserMinting", s.allow_browser_minting},
            {"allowedOrigins", s.allowed_origins}}}};
}

ojson render_account(const Account& a) {
  return {{"userId", a.user_id},
          {"plan", a.plan},
          {"balance", a.balance},
          {"allowance", a.allowance},
          {"purchased", a.purchased},
          {"spendCapMicros", json_or_null(a.spend_cap_micros)},
          {"periodStartMs", a.period_start_ms},
          {"periodSpentMicros", a.period_spent_micros},
          {"heldMicros", a.held_micros},
          {"createdAtMs", a.exists ? ojson(a.created_at_ms) : ojson(nullptr)},
          {"updatedAtMs", a.exists ? ojson(a.updated_at_ms) : ojson(nullptr)}};
}

ojson render_account(const Account& a, const std::optional<Subscription>& subscription) {
  ojson out = render_account(a);
  if (!subscription) {
    out["subscription"] = nullptr;
    return out;
  }
  const Subscription& s = *subscription;
  out["subscription"] = {{"id", s.id},
                         {"plan", s.plan},
                         {"status", s.status},
                         {"currentPeriodEndMs", s.current_period_end_ms},
                         {"cancelAtPeriodEnd", s.cancel_at_period_end}};
  return out;
}

ojson render_entry(const LedgerEntry& e) {
  auto text = [](const std::string& s) { return s.empty() ? ojson(nullptr) : ojson(s); };
  return {{"id", entry_id(e.seq)},
          {"userId", e.user_id},
          {"kind", e.kind},
          {"pool", pool_name(e.pool)},
          {"amount", e.amount},
          {"balanceAfter", e.balance_after},
          {"event", text(e.event)},
          {"reason", text(e.reason)},
          {"holdId", text(e.hold_id)},
          {"createdAtMs", e.created_at_ms}};
}

ojson render_stats(const AccountStats& stats) {
  ojson mrr = ojson::array();
  for (const CurrencyTotal& in : stats.mrr)
    mrr.push_back({{"currency", in.currency}, {"micros", render_total(in.micros)}});
  ojson value = ojson::array();
  for (const CurrencyTotal& in : stats.credits_outstanding_value)
    value.push_back({{"currency", in.currency}, {"micros", render_total(in.micros)}});
  return {{"total", stats.total},
          {"paid", stats.paid},
          {"mrr", mrr},
          {"creditsOutstanding", render_total(stats.credits_outstanding)},
          {"creditsOutstandingValue", value}};
}

ojson render_invocations(const InvocationTotal& total, std::string_view key_name) {
  ojson out = ojson::object();
  if (!key_name.empty()) out[std::string(key_name)] = total.key;
  out["calls"] = total.calls;
  out["inputTokens"] = server::render_total(total.input_tokens);
  out["outputTokens"] = server::render_total(total.output_tokens);
  out["credits"] = server::render_total(total.credits);
  out["costMicros"] = server::render_total(total.micros);
  return out;
}

ojson render_analytics(const Analytics& analytics, int64_t from_ms, int64_t to_ms,
                       int64_t interval_ms) {
  ojson features = ojson::array();
  for (const InvocationTotal& total : analytics.top_features)
    features.push_back(render_invocations(total, "operation"));
  ojson end_users = ojson::array();
  for (const InvocationTotal& total : analytics.top_end_users)
    end_users.push_back(render_invocations(total, "endUserId"));
  ojson series = ojson::array();
  for (const UsagePoint& point : analytics.series) {
    series.push_back({{"startMs", point.start_ms},
                      {"calls", point.calls},
                      {"credits", render_total(point.credits)}});
  }
  ojson events = ojson::array();
  for (const EventTotal& event : analytics.top_events) {
    events.push_back(
        {{"event", event.event}, {"calls", event.calls}, {"credits", render_total(event.credits)}});
  }
  ojson revenue = ojson::array();
  for (const RevenueTotal& r : analytics.revenue) {
    revenue.push_back({{"product", r.product},
                       {"currency", r.currency},
                       {"payments", r.payments},
                       {"micros", render_total(r.micros)}});
  }
  return {{"fromMs", from_ms},
          {"toMs", to_ms},
          {"revenue", revenue},
          {"interval", interval_ms == 3'600'000 ? "hour" : "day"},
          {"series", series},
          {"topEvents", events},
          {"topFeatures", features},
          {"topEndUsers", end_users},
          {"stats", render_stats(analytics.stats)}};
}

}  // namespace tollgate::server
