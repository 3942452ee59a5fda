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
            Render render, const Respond& respond) {
  api.ledger.submit(LedgerCommand{std::move(body), std::move(idempotency)},
                    [render = std::move(render), respond](Result<LedgerOutcome> outcome) {
                      if (!outcome) return respond(error_response(outcome.error()));
                      Response response = outcome.value().error && outcome.value().error->code !=
                                                                       ErrorCode::kInsufficientCredits
                                              ? error_response(*outcome.value().error)
                                              : render(outcome.value());
                      if (outcome.value().replayed) response.set("idempotent-replayed", "true");
                      respond(std::move(response));
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

Result<std::string> user_param(const PathParams& params) {
  const std::string& user = params.at("userId");
  if (auto checked = check_text(user, "userId", kUserIdBytesMax); !checked) return checked.error();
  return user;
}

Page page_of(int64_t limit, const QueryParams& query) {
  Page page;
  page.limit = limit + 1;  // one extra row tells whether there is a next page
  if (auto after = query.find("starting_after"); after != query.end() && !after->second.empty())
    page.starting_after = after->second;
  return page;
}

}  // namespace

void add_meter_routes(Router& router, ApiContext& api) {
  add_browser_streaming(router, api, http::verb::post, "/v1/meter",
                        [&api](const Request& request, const PathParams&, Respond respond,
                               const OpenStream&, BrowserAccess& browser) {
    auto write = authenticated_write(api, request, Access::kAnyKey,
                                      {"userId", "event", "cost"});
    if (!write) return respond(error_response(write.error()));
    const Caller& caller = write.value().caller;
    if (auto admitted = browser.admit(caller); !admitted)
      return respond(error_response(admitted.error()));
    const json& body = write.value().body;
    if (caller.kind == KeyKind::kPublishable &&
        caller.project.settings.secure_metering) {
      return respond(error_response(fail(
          ErrorCode::kForbidden,
          "this project has secureMetering on: meter from your backend with the secret key")));
    }
    auto user = string_field(body, "userId", kUserIdBytesMax);
    if (!user) return respond(error_response(user.error()));
    auto event = string_field(body, "event", kEventBytesMax);
    if (!event) return respond(error_response(event.error()));
    auto cost = int_field(body, "cost", 1, kMeterCostMax, 1);
    if (!cost) return respond(error_response(cost.error()));
    auto idempotency = idempotency_of(request, caller, body);
    if (!idempotency) return respond(error_response(idempotency.error()));
    int64_t charged = cost.value();
    submit(api,
           MeterCommand{caller.project.id, user.value(), event.value(), charged},
           idempotency.value(),
           [charged, metrics = api.metrics](const LedgerOutcome& outcome) {
             if (metrics != nullptr) metrics->meter_decision(!outcome.error);
             return render_meter(outcome, charged);
           },
           respond);
  });

  add_browser_route(router, api, http::verb::get, "/v1/check",
                    [&api](const Request& request, const PathParams&, BrowserAccess& browser) {
    auto caller = api.auth.authenticate(request, nullptr, Access::kAnyKey);
    if (!caller) return error_response(caller.error());
    if (auto admitted = browser.admit(caller.value()); !admitted)
      return error_response(admitted.error());
    QueryParams query = parse_query(request.target());
    auto user = string_param(query, "userId", kUserIdBytesMax);
    if (!user) return error_response(user.error());
    if (query.count("event")) {
      if (auto event = string_param(query, "event", kEventBytesMax); !event)
        return error_response(event.error());
    }
    auto cost = int_param(query, "cost", 1, kMeterCostMax, 1);
    if (!cost) return error_response(cost.error());
    auto account = api.store.get_account(caller.value().project.id, user.value(), api.now_ms());
    if (!account) return error_response(account.error());
    const Account& a = account.value();
    return json_response(http::status::ok, {{"allowed", a.balance >= cost.value()},
                                            {"remaining", a.balance},
                                            {"cost", cost.value()},
                                            {"plan", a.plan}});
  });
}

void add_account_routes(Router& router, ApiContext& api) {
  router.add(http::verb::get, "/v1/accounts", [&api](const Request& request) {
    auto caller = api.auth.authenticate(request, nullptr, Access::kSecretKey);
    if (!caller) return error_response(caller.error());
    QueryParams query = parse_query(request.target());
    auto limit = int_param(query, "limit", 1, kPageLimitMax, kPageLimitDefault);
    if (!limit) return error_response(limit.error());
    const std::string& project = caller.value().project.id;
    auto accounts = api.store.list_accounts(project, page_of(limit.value(), query));
    if (!accounts) return error_response(accounts.error());
    auto stats = api.store.account_stats(project);
    if (!stats) return error_response(stats.error());
    bool more = static_cast<int64_t>(accounts.value().size()) > limit.value();
    if (more) accounts.value().pop_back();
    ojson data = ojson::array();
    for (const Account& account : accounts.value()) data.push_back(render_account(account));
    return json_response(http::status::ok, {{"data", data},
                                            {"hasMore", more},
                                            {"stats", render_stats(stats.value())}});
  });

  add_browser_route(router, api, http::verb::get, "/v1/accounts/{userId}",
                    [&api](const Request& request, const PathParams& params,
                           BrowserAccess& browser) {
    auto caller = api.auth.authenticate(request, nullptr, Access::kAnyKey);
    if (!caller) return error_response(caller.error());
    if (auto admitted = browser.admit(caller.value()); !admitted)
      return error_response(admitted.error());
    auto user = user_param(params);
    if (!user) return error_response(user.error());
    auto account = api.store.get_account(caller.value().project.id, user.value(), api.now_ms());
    if (!account) return error_response(account.error());
    return json_response(http::status::ok, render_account(account.value()));
  });

  router.add_async(http::verb::patch, "/v1/accounts/{userId}",
                   [&api](const Request& request, const PathParams& params, Respond respond) {
    auto write = authenticated_write(api, request, Access::kSecretKey,
                                      {"plan", "spendCapMicros"});
    if (!write) return respond(error_response(write.error()));
    const Caller& caller = write.value().caller;
    const json& body = write.value().body;
    auto user = user_param(params);
    if (!user) return respond(error_response(user.error()));
    if (!body.contains("plan") && !body.contains("spendCapMicros")) {
      return respond(error_response(fail(ErrorCode::kInvalidArgument,
                                         "nothing to change: send 'plan' or 'spendCapMicros'",
                                         "body")));
    }
    UpdateAccountCommand update{caller.project.id, user.value(), {}, {}};
    auto plan = optional_string_field(body, "plan", 64);
    if (!plan) return respond(error_response(plan.error()));
    update.plan = plan.value();
    const auto& plans = caller.project.settings.plans;
    if (update.plan && *update.plan != "free" &&
        std::none_of(plans.begin(), plans.end(),
                     [&](const Plan& p) { return p.name == *update.plan; })) {
      return respond(error_response(fail(ErrorCode::kInvalidArgument,
                                         "no plan named '" + *update.plan +
                                             "' in this project's settings",
                                         "plan")));
    }
    if (body.contains("spendCapMicros")) {
      if (body["spendCapMicros"].is_null()) {
        update.spend_cap_micros = std::optional<int64_t>();
      } else {
        auto cap = int_field(body, "spendCapMicros", 0, kSpendCapMicrosMax);
        if (!cap) return respond(error_response(cap.error()));
        update.spend_cap_micros = std::optional<int64_t>(cap.value());
      }
    }
    auto idempotency = idempotency_of(request, caller, body);
    if (!idempotency) return respond(error_response(idempotency.error()));
    submit(api, std::move(update), idempotency.value(), render_account_outcome, respond);
  });

  router.add_async(http::verb::post, "/v1/accounts/{userId}/credits",
                   [&api](const Request& request, const PathParams& params, Respond respond) {
    auto write = authenticated_write(api, request, Access::kSecretKey,
                                      {"amount", "reason", "type"});
    if (!write) return respond(error_response(write.error()));
    const Caller& caller = write.value().caller;
    const json& body = write.value().body;
    auto user = user_param(params);
    if (!user) return respond(error_response(user.error()));
    auto amount = int_field(body, "amount", 1, kCreditAmountMax);
    if (!amount) return respond(error_response(amount.error()));
    auto reason = optional_string_field(body, "reason", kReasonBytesMax);
    if (!reason) return respond(error_response(reason.error()));
    auto type = optional_string_field(body, "type", 16);
    if (!type) return respond(error_response(type.error()));
    std::string kind = type.value().value_or("grant");
    if (kind != "grant" && kind != "refund") {
      return respond(error_response(
          fail(ErrorCode::kInvalidArgument, "'type' must be \"grant\" or \"refund\"", "type")));
    }
    if (kind == "refund" && !reason.value()) {
      return respond(error_response(
          fail(ErrorCode::kInvalidArgument, "a refund needs a 'reason'", "reason")));
    }
    auto idempotency = idempotency_of(request, caller, body);
    if (!idempotency) return respond(error_response(idempotency.error()));
    submit(api,
           CreditCommand{caller.project.id, user.value(), kind, amount.value(),
                         reason.value().value_or("")},
           idempotency.value(), render_account_outcome, respond);
  });

  router.add(http::verb::get, "/v1/ledger", [&api](const Request& request) {
    auto caller = api.auth.authenticate(request, nullptr, Access::kSecretKey);
    if (!caller) return error_response(caller.error());
    QueryParams query = parse_query(request.target());
    auto limit = int_param(query, "limit", 1, kPageLimitMax, kPageLimitDefault);
    if (!limit) return error_response(limit.error());
    std::optional<std::string> user;
    if (query.count("userId")) {
      auto checked = string_param(query, "userId", kUserIdBytesMax);
      if (!checked) return error_response(checked.error());
      user = checked.value();
    }
    Page page = page_of(limit.value(), query);
    if (page.starting_after && !parse_entry_id(*page.starting_after)) {
      return error_response(fail(ErrorCode::kInvalidArgument,
                                 "'starting_after' must be a ledger entry id such as le_42",
                                 "starting_after"));
    }
    auto entries = api.store.list_ledger(caller.value().project.id, user, page);
    if (!entries) return error_response(entries.error());
    bool more = static_cast<int64_t>(entries.value().size()) > limit.value();
    if (more) entries.value().pop_back();
    ojson data = ojson::array();
    for (const LedgerEntry& entry : entries.value()) data.push_back(render_entry(entry));
    return json_response(http::status::ok, {{"data", data}, {"hasMore", more}});
  });

  router.add(http::verb::get, "/v1/ledger/audit", [&api](const Request& request) {
    auto caller = api.auth.authenticate(request, nullptr, Access::kSecretKey);
    if (!caller) return error_response(caller.error());
    auto audit = api.store.audit(caller.value().project.id);
    if (!audit) return error_response(audit.error());
    const LedgerAudit& a = audit.value();
    return json_response(http::status::ok, {{"ok", a.mismatched.empty()},
                                            {"accounts", a.accounts},
                                            {"entries", a.entries},
                                            {"openHolds", a.open_holds},
                                            {"mismatchedUserIds", a.mismatched}});
  });

  router.add(http::verb::get, "/v1/analytics", [&api](const Request& request) {
    auto caller = api.auth.authenticate(request, nullptr, Access::kSecretKey);
    if (!caller) return error_response(caller.error());
    QueryParams query = parse_query(request.target());
    int64_t now = api.now_ms();
    auto to = int_param(query, "to_ms", 0, token::kTimeMsMax, now);
    if (!to) return error_response(to.error());
    auto from = int_param(query, "from_ms", 0, token::kTimeMsMax, std::max<int64_t>(0, to.value() - 30 * kDayMs));
    if (!from) return error_response(from.error());
    if (from.value() >= to.value()) {
      return error_response(
          fail(ErrorCode::kInvalidArgument, "'from_ms' must be before 'to_ms'", "from_ms"));
    }
    std::string interval_name = query.count("interval") ? query.at("interval") : "day";
    if (interval_name != "hour" && interval_name != "day") {
      return error_response(fail(ErrorCode::kInvalidArgument,
                                 "'interval' must be \"hour\" or \"day\"", "interval"));
    }
    int64_t interval = interval_name == "hour" ? kHourMs : kDayMs;
    if ((to.value() - from.value()) / interval > kAnalyticsBucketsMax) {
      return error_response(fail(ErrorCode::kInvalidArgument,
                                 "the range spans more than " +
                                     std::to_string(kAnalyticsBucketsMax) + " " + interval_name +
                                     "s; narrow it or use a longer interval",
                                 "from_ms"));
    }
    auto analytics =
        api.store.analytics(caller.value().project.id, from.value(), to.value(), interval);
    if (!analytics) return error_response(analytics.error());
    return json_response(http::status::ok,
                         render_analytics(analytics.value(), from.value(), to.value(), interval));
  });
}

}  // namespace tollgate::server
