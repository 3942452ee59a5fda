// Metering and accounts: POST /v1/meter, GET /v1/check, the /v1/accounts family, GET /v1/ledger
// and GET /v1/analytics.
//
// Every change goes through the LedgerWriter (group commit) and is answered after its batch
// commits. Input is validated completely before anything is queued, so a rejected request
// writes nothing.
#include <algorithm>

#include "server/api/api.h"
#include "server/api/cors.h"
#include "server/api/input.h"
#include "server/api/render.h"
#include "server/api/route.h"
#include "server/auth/crypto.h"
#include "server/http/error_response.h"
#include "tollgate/token/runtime_token.h"

namespace tollgate::server {
namespace {

constexpr int64_t kHourMs = 3'600'000;
constexpr int64_t kDayMs = 24 * kHourMs;
constexpr int64_t kAnalyticsBucketsMax = 2'000;
constexpr int64_t kSpendCapMicrosMax = int64_t{1'000'000'000} * 1'000'000;

using Render = std::function<Response(const LedgerOutcome&)>;

// Queues a command and answers with `render` once its batch commits.
void submit(ApiContext& api, LedgerCommandBody body, std::optional<Idempotency> idempotency,
            Render render, const Reply& reply) {
  api.ledger.submit(LedgerCommand{std::move(body), std::move(idempotency)},
                    [render = std::move(render), reply](Result<LedgerOutcome> outcome) {
                      if (!outcome) return reply(outcome.error());
                      const LedgerOutcome& decided = outcome.value();
                      if (decided.error && decided.error->code != ErrorCode::kInsufficientCredits)
                        return reply(*decided.error);
                      Response response = render(decided);
                      if (decided.replayed) response.set("idempotent-replayed", "true");
                      reply(std::move(response));
                    });
}

Response render_meter(const LedgerOutcome& outcome, int64_t cost) {
  int64_t remaining = outcome.account ? outcome.account->balance : 0;
  if (outcome.error) return insufficient_credits_response(*outcome.error, remaining, cost);
  return json_response(http::status::ok,
                       {{"allowed", true}, {"remaining", remaining}, {"cost", outcome.amount}});
}

Response render_account_outcome(const LedgerOutcome& outcome) {
  if (outcome.error) return error_response(*outcome.error);
  ojson body = render_account(*outcome.account);
  if (outcome.entry_seq > 0) body["entryId"] = entry_id(outcome.entry_seq);
  return json_response(http::status::ok, body);
}

Result<std::string> user_param(const Call& call) {
  const std::string& user = call.param("userId");
  if (auto checked = check_text(user, "userId", kUserIdBytesMax); !checked) return checked.error();
  return user;
}

}  // namespace

void add_meter_routes(Router& router, ApiContext& api) {
  add_async_route(
      router, api,
      {http::verb::post,
       "/v1/meter",
       Who::kAnyKey,
       "Meters one event: deducts its cost or 402",
       "MeterResult",
       Body::kJson,
       /*browser=*/true,
       /*idempotent=*/true,
       {{"userId", FieldType::kString, true, 0, kUserIdBytesMax},
        {"event", FieldType::kString, true, 0, kEventBytesMax},
        {"cost", FieldType::kInteger, false, 1, kMeterCostMax}}},
      [&api](const Call& call, const Reply& reply) {
        const Caller& caller = *call.caller;
        if (caller.kind == KeyKind::kPublishable && caller.project.settings.secure_metering) {
          return reply(fail(ErrorCode::kForbidden,
                            "this project has secureMetering on: meter from your backend with "
                            "the secret key"));
        }
        int64_t charged = call.integer("cost", 1);
        submit(
            api, MeterCommand{caller.project.id, call.text("userId"), call.text("event"), charged},
            call.idempotency,
            [charged, metrics = api.metrics](const LedgerOutcome& outcome) {
              if (metrics != nullptr) metrics->meter_decision(!outcome.error);
              return render_meter(outcome, charged);
            },
            reply);
      });

  add_route(router, api,
            {http::verb::get,
             "/v1/check",
             Who::kAnyKey,
             "Whether a user can afford a cost, without deducting it",
             "CheckResult",
             Body::kNone,
             /*browser=*/true,
             false,
             {{"userId", FieldType::kString, true, 0, kUserIdBytesMax},
              {"event", FieldType::kString, false, 0, kEventBytesMax},
              {"cost", FieldType::kInteger, false, 1, kMeterCostMax}}},
            [&api](const Call& call) -> Result<Response> {
              auto user = string_param(call.query, "userId", kUserIdBytesMax);
              if (!user) return user.error();
              if (call.query.count("event")) {
                if (auto event = string_param(call.query, "event", kEventBytesMax); !event)
                  return event.error();
              }
              auto cost = int_param(call.query, "cost", 1, kMeterCostMax, 1);
              if (!cost) return cost.error();
              auto account =
                  api.store.get_account(call.caller->project.id, user.value(), api.now_ms());
              if (!account) return account.error();
              const Account& a = account.value();
              return json_response(http::status::ok, {{"allowed", a.balance >= cost.value()},
                                                      {"remaining", a.balance},
                                                      {"cost", cost.value()},
                                                      {"plan", a.plan}});
            });
}

void add_account_routes(Router& router, ApiContext& api) {
  add_route(router, api,
            {http::verb::get, "/v1/accounts", Who::kSecretKey, "Lists end users' accounts",
             "AccountList", Body::kNone, false, false, kPageFields},
            [&api](const Call& call) -> Result<Response> {
              auto limit = int_param(call.query, "limit", 1, kPageLimitMax, kPageLimitDefault);
              if (!limit) return limit.error();
              const std::string& project = call.caller->project.id;
              auto accounts = api.store.list_accounts(project, page_of(limit.value(), call.query));
              if (!accounts) return accounts.error();
              auto stats = api.store.account_stats(project);
              if (!stats) return stats.error();
              bool more = static_cast<int64_t>(accounts.value().size()) > limit.value();
              if (more) accounts.value().pop_back();
              ojson data = ojson::array();
              for (const Account& account : accounts.value())
                data.push_back(render_account(account));
              return json_response(
                  http::status::ok,
                  {{"data", data}, {"hasMore", more}, {"stats", render_stats(stats.value())}});
            });

  add_route(
      router, api,
      {http::verb::get, "/v1/accounts/{userId}", Who::kAnyKey,
       "One end user's account (created with the starting credits on first sight)", "Account",
       Body::kNone, /*browser=*/true},
      [&api](const Call& call) -> Result<Response> {
        auto user = user_param(call);
        if (!user) return user.error();
        auto account = api.store.get_account(call.caller->project.id, user.value(), api.now_ms());
        if (!account) return account.error();
        auto subscription = api.store.latest_subscription(call.caller->project.id, user.value());
        if (!subscription) return subscription.error();
        return json_response(http::status::ok,
                             render_account(account.value(), subscription.value()));
      });

  add_async_route(
      router, api,
      {http::verb::patch,
       "/v1/accounts/{userId}",
       Who::kSecretKey,
       "Changes an end user's plan or spend cap",
       "AccountChange",
       Body::kJson,
       false,
       /*idempotent=*/true,
       {{"plan", FieldType::kString, false, 0, 64, /*nullable=*/false},
        {"spendCapMicros",
         FieldType::kInteger,
         false,
         0,
         kSpendCapMicrosMax,
         /*nullable=*/true,
         {},
         "null removes the cap"}}},
      [&api](const Call& call, const Reply& reply) {
        const Caller& caller = *call.caller;
        auto user = user_param(call);
        if (!user) return reply(user.error());
        if (!call.has("plan") && !call.has("spendCapMicros")) {
          return reply(fail(ErrorCode::kInvalidArgument,
                            "nothing to change: send 'plan' or 'spendCapMicros'", "body"));
        }
        UpdateAccountCommand update{
            caller.project.id, user.value(), call.optional_text("plan"), {}};
        const auto& plans = caller.project.settings.plans;
        if (update.plan && *update.plan != "free" &&
            std::none_of(plans.begin(), plans.end(),
                         [&](const Plan& p) { return p.name == *update.plan; })) {
          return reply(fail(ErrorCode::kInvalidArgument,
                            "no plan named '" + *update.plan + "' in this project's settings",
                            "plan"));
        }
        if (call.has("spendCapMicros")) {
          update.spend_cap_micros = call.body["spendCapMicros"].is_null()
                                        ? std::optional<int64_t>()
                                        : std::optional<int64_t>(call.integer("spendCapMicros"));
        }
        submit(api, std::move(update), call.idempotency, render_account_outcome, reply);
      });

  add_async_route(
      router, api,
      {http::verb::post,
       "/v1/accounts/{userId}/credits",
       Who::kSecretKey,
       "Grants or refunds credits to an end user",
       "AccountChange",
       Body::kJson,
       false,
       /*idempotent=*/true,
       {{"amount", FieldType::kInteger, true, 1, kCreditAmountMax},
        {"reason", FieldType::kString, false, 0, kReasonBytesMax},
        {"type", FieldType::kString, false, 0, 16, false, {"grant", "refund"}}}},
      [&api](const Call& call, const Reply& reply) {
        auto user = user_param(call);
        if (!user) return reply(user.error());
        std::string kind = call.optional_text("type").value_or("grant");
        auto reason = call.optional_text("reason");
        if (kind == "refund" && !reason) {
          return reply(fail(ErrorCode::kInvalidArgument, "a refund needs a 'reason'", "reason"));
        }
        submit(api,
               CreditCommand{call.caller->project.id, user.value(), kind, call.integer("amount"),
                             reason.value_or(""), std::nullopt},
               call.idempotency, render_account_outcome, reply);
      });

  std::vector<Field> ledger_fields = kPageFields;
  ledger_fields.push_back({"userId", FieldType::kString, false, 0, kUserIdBytesMax});
  add_route(router, api,
            {http::verb::get, "/v1/ledger", Who::kSecretKey,
             "Ledger entries, newest first, optionally of one user", "LedgerEntryList", Body::kNone,
             false, false, ledger_fields},
            [&api](const Call& call) -> Result<Response> {
              auto limit = int_param(call.query, "limit", 1, kPageLimitMax, kPageLimitDefault);
              if (!limit) return limit.error();
              auto user = optional_string_param(call.query, "userId", kUserIdBytesMax);
              if (!user) return user.error();
              Page page = page_of(limit.value(), call.query);
              if (page.starting_after && !parse_entry_id(*page.starting_after)) {
                return fail(ErrorCode::kInvalidArgument,
                            "'starting_after' must be a ledger entry id such as le_42",
                            "starting_after");
              }
              auto entries = api.store.list_ledger(call.caller->project.id, user.value(), page);
              if (!entries) return entries.error();
              bool more = static_cast<int64_t>(entries.value().size()) > limit.value();
              if (more) entries.value().pop_back();
              ojson data = ojson::array();
              for (const LedgerEntry& entry : entries.value()) data.push_back(render_entry(entry));
              return json_response(http::status::ok, {{"data", data}, {"hasMore", more}});
            });

  add_route(router, api,
            {http::verb::get, "/v1/ledger/audit", Who::kSecretKey,
             "Checks that every balance equals the sum of its ledger entries", "LedgerAudit"},
            [&api](const Call& call) -> Result<Response> {
              auto audit = api.store.audit(call.caller->project.id);
              if (!audit) return audit.error();
              const LedgerAudit& a = audit.value();
              return json_response(http::status::ok, {{"ok", a.mismatched.empty()},
                                                      {"accounts", a.accounts},
                                                      {"entries", a.entries},
                                                      {"openHolds", a.open_holds},
                                                      {"mismatchedUserIds", a.mismatched}});
            });

  add_route(
      router, api,
      {http::verb::get,
       "/v1/analytics",
       Who::kSecretKey,
       "Usage and credits over time, by hour or day",
       "Analytics",
       Body::kNone,
       false,
       false,
       {{"from_ms", FieldType::kInteger, false, 0, token::kTimeMsMax},
        {"to_ms", FieldType::kInteger, false, 0, token::kTimeMsMax},
        {"interval", FieldType::kString, false, 0, 4, false, {"hour", "day"}}}},
      [&api](const Call& call) -> Result<Response> {
        const QueryParams& query = call.query;
        int64_t now = api.now_ms();
        auto to = int_param(query, "to_ms", 0, token::kTimeMsMax, now);
        if (!to) return to.error();
        auto from = int_param(query, "from_ms", 0, token::kTimeMsMax,
                              std::max<int64_t>(0, to.value() - 30 * kDayMs));
        if (!from) return from.error();
        if (from.value() >= to.value()) {
          return fail(ErrorCode::kInvalidArgument, "'from_ms' must be before 'to_ms'", "from_ms");
        }
        std::string interval_name = query.count("interval") ? query.at("interval") : "day";
        if (interval_name != "hour" && interval_name != "day") {
          return fail(ErrorCode::kInvalidArgument, "'interval' must be \"hour\" or \"day\"",
                      "interval");
        }
        int64_t interval = interval_name == "hour" ? kHourMs : kDayMs;
        if ((to.value() - from.value()) / interval > kAnalyticsBucketsMax) {
          return fail(ErrorCode::kInvalidArgument,
                      "the range spans more than " + std::to_string(kAnalyticsBucketsMax) + " " +
                          interval_name + "s; narrow it or use a longer interval",
                      "from_ms");
        }
        auto analytics =
            api.store.analytics(call.caller->project.id, from.value(), to.value(), interval);
        if (!analytics) return analytics.error();
        return json_response(http::status::ok, render_analytics(analytics.value(), from.value(),
                                                                to.value(), interval));
      });
}

}  // namespace tollgate::server
