#include "server/api/feature_call.h"

#include <algorithm>

#include "server/api/model_access.h"
#include "tollgate/calendar/calendar.h"

namespace tollgate::server {

// The start of the UTC day and month holding `now_ms`, for the daily and monthly limits
// (sdk-core's calendar; the clock is always inside its range, so clamping never changes it).
int64_t utc_month_start(int64_t now_ms) {
  return calendar::month_start_ms(std::clamp<int64_t>(now_ms, 0, calendar::kCalendarMsMax)).value();
}

namespace {

int64_t utc_day_start(int64_t now_ms) {
  return calendar::day_start_ms(std::clamp<int64_t>(now_ms, 0, calendar::kCalendarMsMax)).value();
}

std::vector<InvocationLimit> limits_of(const Operation& op, int64_t now_ms) {
  std::vector<InvocationLimit> limits;
  if (op.per_user_daily_limit)
    limits.push_back({"perUserDailyLimit", true, utc_day_start(now_ms), *op.per_user_daily_limit});
  if (op.per_user_monthly_limit) {
    limits.push_back(
        {"perUserMonthlyLimit", true, utc_month_start(now_ms), *op.per_user_monthly_limit});
  }
  if (op.monthly_invocation_limit) {
    limits.push_back(
        {"monthlyInvocationLimit", false, utc_month_start(now_ms), *op.monthly_invocation_limit});
  }
  return limits;
}

pricing::FeaturePrice price_of(const FeaturePricing& price) {
  pricing::FeaturePrice out;
  out.kind = price.kind == FeaturePricing::Kind::kFixed ? pricing::FeaturePrice::Kind::kFixed
                                                        : pricing::FeaturePrice::Kind::kTokens;
  out.fixed_credits = money::Credits(price.credits);
  out.markup_basis_points = price.markup_basis_points;
  out.rate = money::Rate{money::Credits(1), money::Micros(price.micros_per_credit)};
  return out;
}

}  // namespace

Result<MeteredCallPlan> feature_plan(ApiContext& api, const std::string& project_id,
                                     const std::string& user_id, const Operation& op,
                                     std::vector<ChatMessage> messages, bool stream) {
  MeteredCallPlan plan;
  plan.project_id = project_id;
  plan.user_id = user_id;
  plan.label = op.slug;
  plan.request.model = op.model;
  plan.request.messages = std::move(messages);
  plan.request.temperature = op.temperature;
  plan.request.max_tokens = op.max_tokens;
  plan.request.response_format = op.response_format;
  plan.request.tools = op.tools;
  plan.primary = {op.provider, op.model};
  if (op.fallback) plan.fallback = ModelChoice{op.fallback->provider, op.fallback->model};
  plan.price = price_of(op.price);
  if (op.response_format) {
    auto schema = structured::JsonSchema::compile(*op.response_format, "responseFormat");
    if (!schema) {
      return fail(ErrorCode::kInternal, "the feature's response format no longer compiles");
    }
    plan.schema = std::move(schema.value());
  }
  plan.limits = limits_of(op, api.now_ms());
  plan.stream = stream;
  return plan;
}

Result<std::shared_ptr<MeteredCall>> prepare_metered_call(ApiContext& api, MeteredCallPlan plan) {
  MeteredCallDeps deps{api.ledger,    *api.pricing, api.now_ms, api.upstream_timeouts,
                       api.run_after, api.log,      api.metrics};
  std::string project_id = plan.project_id;
  return MeteredCall::prepare(std::move(deps), std::move(plan),
                              [&api, project_id](const std::string& provider) {
                                return model_provider(api, project_id, provider);
                              });
}

}  // namespace tollgate::server
