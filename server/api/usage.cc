// Gateway usage (secret key): GET /v1/usage sums the holds of calls made with user keys, in
// integer micros, requests and tokens, so its sums are the ledger's exactly; and
// POST /v1/usage/invoice-items folds a window's usage into one Stripe InvoiceItem per end user
// and model, each under an Idempotency-Key made from the project, user, model and window, so
// running it twice bills once (Stripe keeps those keys 24 hours; every item also carries the
// window in its metadata).
#include <memory>

#include "server/api/api.h"
#include "server/api/feature_call.h"
#include "server/api/render.h"
#include "server/api/route.h"
#include "server/auth/crypto.h"
#include "server/http/error_response.h"
#include "tollgate/core/json_read.h"

namespace tollgate::server {
namespace {

using ojson = nlohmann::ordered_json;

constexpr size_t kInvoiceItemsMax = 1000;  // per call; a larger window is refused
constexpr int64_t kMicrosPerCent = 10'000;
constexpr int64_t kMarkupBasisPointsMax = 1'000'000;  // 100×
constexpr int64_t kBasisPoints = 10'000;

ojson usage_row(const UsageTotal& total, const std::vector<UsageGroup>& groups) {
  ojson row = ojson::object();
  for (UsageGroup group : groups) {
    switch (group) {
      case UsageGroup::kKey:
        row["keyId"] = total.key_id;
        break;
      case UsageGroup::kUser:
        row["userId"] = total.user_id;
        break;
      case UsageGroup::kModel:
        row["model"] = total.model;
        break;
      case UsageGroup::kDay:
        row["dayStartMs"] = total.day_start_ms;
        break;
    }
  }
  row["requests"] = total.requests;
  row["inputTokens"] = render_total(total.input_tokens);
  row["outputTokens"] = render_total(total.output_tokens);
  row["micros"] = render_total(total.micros);
  row["credits"] = render_total(total.credits);
  return row;
}

Result<std::vector<UsageGroup>> groups_of(const QueryParams& query) {
  std::vector<UsageGroup> groups;
  auto found = query.find("groupBy");
  if (found == query.end() || found->second.empty()) return groups;
  std::string_view rest = found->second;
  while (!rest.empty()) {
    std::string_view name = rest.substr(0, rest.find(','));
    rest.remove_prefix(std::min(rest.size(), name.size() + 1));
    UsageGroup group;
    if (name == "key") {
      group = UsageGroup::kKey;
    } else if (name == "user") {
      group = UsageGroup::kUser;
    } else if (name == "model") {
      group = UsageGroup::kModel;
    } else if (name == "day") {
      group = UsageGroup::kDay;
    } else {
      return invalid_field("'groupBy' takes key, user, model or day (comma-separated)", "groupBy");
    }
    if (std::find(groups.begin(), groups.end(), group) != groups.end())
      return invalid_field("'groupBy' names a group twice", "groupBy");
    groups.push_back(group);
  }
  return groups;
}

// The window: from_ms (default: the start of this UTC month) to to_ms (exclusive; default: now).
Result<std::pair<int64_t, int64_t>> window_of(ApiContext& api, const QueryParams& query) {
  int64_t now = api.now_ms();
  auto from = int_param(query, "from_ms", 0, INT64_MAX - 1, utc_month_start(now));
  if (!from) return from.error();
  auto to = int_param(query, "to_ms", 1, INT64_MAX, now + 1);
  if (!to) return to.error();
  if (to.value() <= from.value()) return invalid_field("'to_ms' must be after 'from_ms'", "to_ms");
  return std::pair{from.value(), to.value()};
}

Result<Response> usage(ApiContext& api, const Call& call) {
  auto window = window_of(api, call.query);
  if (!window) return window.error();
  auto groups = groups_of(call.query);
  if (!groups) return groups.error();
  UsageQuery query;
  query.from_ms = window.value().first;
  query.to_ms = window.value().second;
  for (auto [name, max, into] : {std::tuple{"userId", kUserIdBytesMax, &query.user_id},
                                 std::tuple{"keyId", size_t{64}, &query.key_id},
                                 std::tuple{"model", size_t{300}, &query.model}}) {
    auto value = optional_string_param(call.query, name, max);
    if (!value) return value.error();
    *into = value.value();
  }
  const std::string& project = call.caller->project.id;
  auto total = api.store.usage_totals(project, query);
  if (!total) return total.error();
  ojson out{{"object", "usage"},
            {"fromMs", query.from_ms},
            {"toMs", query.to_ms},
            {"total", usage_row(total.value().empty() ? UsageTotal{} : total.value().front(), {})}};
  ojson data = ojson::array();
  bool truncated = false;
  if (!groups.value().empty()) {
    query.group_by = groups.value();
    auto rows = api.store.usage_totals(project, query);
    if (!rows) return rows.error();
    truncated = rows.value().size() >= kUsageGroupsMax;
    for (const UsageTotal& row : rows.value()) data.push_back(usage_row(row, query.group_by));
  }
  out["groupBy"] = ojson::array();
  for (UsageGroup group : groups.value()) {
    static constexpr const char* kNames[] = {"key", "user", "model", "day"};
    out["groupBy"].push_back(kNames[static_cast<int>(group)]);
  }
  out["data"] = std::move(data);
  out["truncated"] = truncated;
  return json_response(http::status::ok, out);
}

// ---- Invoice items ---------------------------------------------------------------------------

struct InvoiceItem {
  std::string user_id;
  std::string model;
  int64_t requests = 0;
  int64_t micros = 0;
  int64_t amount_cents = 0;  // micros × markup, to the nearest cent
  std::string idempotency_key;
  std::string stripe_id;  // once created
};

ojson item_json(const InvoiceItem& item) {
  ojson out{{"userId", item.user_id},
            {"model", item.model},
            {"requests", item.requests},
            {"micros", item.micros},
            {"amount", item.amount_cents},
            {"currency", "usd"},
            {"idempotencyKey", item.idempotency_key}};
  out["stripeInvoiceItemId"] = item.stripe_id.empty() ? ojson() : ojson(item.stripe_id);
  return out;
}

std::string description_of(const InvoiceItem& item) {
  return "AI usage: " + item.model + ", " + std::to_string(item.requests) +
         (item.requests == 1 ? " request" : " requests");
}

// Creates the items one after another (a bounded number), then answers.
struct InvoiceRun : std::enable_shared_from_this<InvoiceRun> {
  ApiContext& api;
  std::string project_id;
  std::string secret_key;
  int64_t from_ms = 0;
  int64_t to_ms = 0;
  std::vector<InvoiceItem> items;
  size_t next = 0;
  Reply reply;

  InvoiceRun(ApiContext& context, std::string project, std::string key, int64_t from, int64_t to,
             std::vector<InvoiceItem> todo, Reply done)
      : api(context),
        project_id(std::move(project)),
        secret_key(std::move(key)),
        from_ms(from),
        to_ms(to),
        items(std::move(todo)),
        reply(std::move(done)) {}

  void step() {
    if (next == items.size()) return finish();
    auto self = shared_from_this();
    with_stripe_customer(api, secret_key, project_id, items[next].user_id,
                         [self](Result<std::string> customer) {
                           if (!customer) return self->reply(customer.error());
                           self->create(customer.value());
                         });
  }

  void create(const std::string& customer) {
    const InvoiceItem& item = items[next];
    nlohmann::json params{
        {"customer", customer},
        {"amount", item.amount_cents},
        {"currency", "usd"},
        {"description", description_of(item)},
        {"period", {{"start", from_ms / 1000}, {"end", to_ms / 1000}}},
        {"metadata",
         {{"tollgate_project", project_id},
          {"tollgate_user", item.user_id},
          {"tollgate_model", item.model},
          {"tollgate_window", std::to_string(from_ms) + "-" + std::to_string(to_ms)},
          {"tollgate_micros", std::to_string(item.micros)}}}};
    auto self = shared_from_this();
    api.stripe->post(
        secret_key, "/v1/invoiceitems", params, item.idempotency_key,
        [self](Result<nlohmann::json> created) {
          if (!created) return self->reply(created.error());
          std::string id = json_read::string_or(created.value(), "id", "");
          if (id.rfind("ii_", 0) != 0) {
            return self->reply(fail(ErrorCode::kUpstreamError,
                                    "Stripe answered an invoice item without an id", "stripe"));
          }
          self->items[self->next].stripe_id = id;
          ++self->next;
          self->step();
        });
  }

  void finish() { reply(json_response(http::status::ok, answer(items, from_ms, to_ms, true))); }

  static ojson answer(const std::vector<InvoiceItem>& items, int64_t from, int64_t to,
                      bool created) {
    ojson data = ojson::array();
    for (const InvoiceItem& item : items) data.push_back(item_json(item));
    return {{"object", "invoice_items"},
            {"fromMs", from},
            {"toMs", to},
            {"created", created},
            {"data", std::move(data)}};
  }
};

Result<int64_t> cents_of(int64_t micros, int64_t markup) {
  Int128 marked = Int128(micros) * markup / kBasisPoints;
  Int128 cents = (marked + kMicrosPerCent / 2) / kMicrosPerCent;
  if (cents > INT64_MAX)
    return fail(ErrorCode::kOverflow, "the amount is too large", "markupBasisPoints");
  return static_cast<int64_t>(cents);
}

void invoice_items(ApiContext& api, const Call& call, const Reply& reply) {
  const std::string& project = call.caller->project.id;
  int64_t from = call.integer("from_ms");
  int64_t to = call.integer("to_ms");
  if (to <= from) return reply(invalid_field("'to_ms' must be after 'from_ms'", "to_ms"));
  int64_t markup = call.integer("markupBasisPoints", kBasisPoints);
  UsageQuery query;
  query.from_ms = from;
  query.to_ms = to;
  query.group_by = {UsageGroup::kUser, UsageGroup::kModel};
  query.models_only = true;  // a feature's calls are charged by its own price, in credits
  auto rows = api.store.usage_totals(project, query);
  if (!rows) return reply(rows.error());
  std::vector<InvoiceItem> items;
  for (const UsageTotal& row : rows.value()) {
    if (row.micros <= 0) continue;
    if (row.micros > INT64_MAX)
      return reply(fail(ErrorCode::kOverflow, "usage too large", "to_ms"));
    InvoiceItem item;
    item.user_id = row.user_id;
    item.model = row.model;
    item.requests = row.requests;
    item.micros = static_cast<int64_t>(row.micros);
    auto cents = cents_of(item.micros, markup);
    if (!cents) return reply(cents.error());
    item.amount_cents = cents.value();
    if (item.amount_cents == 0) continue;  // less than half a cent: nothing to bill
    item.idempotency_key =
        "tollgate-usage-" +
        sha256_hex(project + "\n" + item.user_id + "\n" + item.model + "\n" + std::to_string(from) +
                   "\n" + std::to_string(to) + "\n" + std::to_string(markup))
            .substr(0, 48);
    items.push_back(std::move(item));
  }
  if (items.size() > kInvoiceItemsMax) {
    return reply(invalid_field("the window holds more than " + std::to_string(kInvoiceItemsMax) +
                                   " users and models to bill; send a shorter one",
                               "to_ms"));
  }
  auto keys = project_stripe_keys(api, project);
  if (!keys) return reply(keys.error());
  if (!keys.value() || api.stripe == nullptr) {
    return reply(json_response(http::status::ok, InvoiceRun::answer(items, from, to, false)));
  }
  auto run = std::make_shared<InvoiceRun>(api, project, keys.value()->secret_key, from, to,
                                          std::move(items), reply);
  run->step();
}

}  // namespace

void add_usage_routes(Router& router, ApiContext& api) {
  add_route(router, api,
            {http::verb::get,
             "/v1/usage",
             Who::kSecretKey,
             "Gateway usage in a window (this month by default): requests, tokens, micros",
             "Usage",
             Body::kNone,
             false,
             false,
             {{"from_ms", FieldType::kInteger, false, 0, INT64_MAX},
              {"to_ms", FieldType::kInteger, false, 1, INT64_MAX},
              {"userId", FieldType::kString, false, 0, kUserIdBytesMax},
              {"keyId", FieldType::kString, false, 0, 64},
              {"model", FieldType::kString, false, 0, 300},
              {"groupBy",
               FieldType::kString,
               false,
               0,
               32,
               false,
               {},
               "key, user, model or day; comma-separated for several"}}},
            [&api](const Call& call) { return usage(api, call); });
  add_async_route(
      router, api,
      {http::verb::post,
       "/v1/usage/invoice-items",
       Who::kSecretKey,
       "One Stripe InvoiceItem per end user and model for a window's usage, idempotently; "
       "without Stripe, the items it would create",
       "InvoiceItems",
       Body::kJson,
       false,
       false,
       {{"from_ms", FieldType::kInteger, true, 0, INT64_MAX},
        {"to_ms", FieldType::kInteger, true, 1, INT64_MAX},
        {"markupBasisPoints",
         FieldType::kInteger,
         false,
         0,
         kMarkupBasisPointsMax,
         false,
         {},
         "what users pay for the provider's cost: 10000 (the default) is at cost"}}},
      [&api](const Call& call, const Reply& reply) { invoice_items(api, call, reply); });
}

}  // namespace tollgate::server
