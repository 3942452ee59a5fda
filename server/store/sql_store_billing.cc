// SqlStore: billing records — a project's Stripe keys, its end users' Stripe Customers,
// checkouts, subscriptions, the Stripe events received and the money they brought. Credits are
// never changed here: fulfilment goes through the ledger (apply()), whose marks make each
// billing fact take effect once.
#include "server/store/sql_store.h"
#include "server/store/sql_store_lease.h"

namespace tollgate::server {
namespace {

constexpr std::string_view kStripeAccountColumns =
    "project_id, sealed_secret_key, secret_key_hint, sealed_webhook_secret, webhook_secret_hint, "
    "created_at_ms, updated_at_ms";

constexpr std::string_view kCheckoutColumns =
    "id, project_id, user_id, product, product_kind, credits, price_micros, currency, simulated, "
    "url, success_url, cancel_url, status, payment_status, payment_intent, subscription_id, "
    "invoice_id, fulfilled_at_ms, created_at_ms, expires_at_ms, updated_at_ms";

constexpr std::string_view kSubscriptionColumns =
    "id, project_id, user_id, customer_id, plan, status, price_micros, currency, plan_interval, "
    "current_period_end_ms, cancel_at_period_end, state_at, created_at_ms, updated_at_ms";

constexpr std::string_view kEventColumns =
    "project_id, event_id, type, created, outcome, received_at_ms";

std::string columns(std::string_view list) { return std::string(list); }

// "$1, $2, …, $n".
std::string placeholders(int n) {
  std::string out;
  for (int i = 1; i <= n; ++i) {
    if (i > 1) out += ", ";
    out.append("$").append(std::to_string(i));
  }
  return out;
}

Checkout read_checkout(const SqlRows& rows, size_t r) {
  Checkout c;
  c.id = rows.text(r, 0);
  c.project_id = rows.text(r, 1);
  c.user_id = rows.text(r, 2);
  c.product = rows.text(r, 3);
  c.product_kind = rows.text(r, 4);
  c.credits = rows.int64(r, 5);
  c.price_micros = rows.int64(r, 6);
  c.currency = rows.text(r, 7);
  c.simulated = rows.int64(r, 8) != 0;
  c.url = rows.text(r, 9);
  c.success_url = rows.text(r, 10);
  c.cancel_url = rows.text(r, 11);
  c.status = rows.text(r, 12);
  c.payment_status = rows.text(r, 13);
  c.payment_intent = rows.text(r, 14);
  c.subscription_id = rows.text(r, 15);
  c.invoice_id = rows.text(r, 16);
  c.fulfilled_at_ms = rows.optional_int64(r, 17);
  c.created_at_ms = rows.int64(r, 18);
  c.expires_at_ms = rows.int64(r, 19);
  c.updated_at_ms = rows.int64(r, 20);
  return c;
}

Subscription read_subscription(const SqlRows& rows, size_t r) {
  Subscription s;
  s.id = rows.text(r, 0);
  s.project_id = rows.text(r, 1);
  s.user_id = rows.text(r, 2);
  s.customer_id = rows.text(r, 3);
  s.plan = rows.text(r, 4);
  s.status = rows.text(r, 5);
  s.price_micros = rows.int64(r, 6);
  s.currency = rows.text(r, 7);
  s.interval = rows.text(r, 8);
  s.current_period_end_ms = rows.int64(r, 9);
  s.cancel_at_period_end = rows.int64(r, 10) != 0;
  s.state_at = rows.int64(r, 11);
  s.created_at_ms = rows.int64(r, 12);
  s.updated_at_ms = rows.int64(r, 13);
  return s;
}

StripeEventRecord read_event(const SqlRows& rows, size_t r) {
  return {rows.text(r, 0), rows.text(r, 1), rows.text(r, 2),
          rows.int64(r, 3), rows.text(r, 4), rows.int64(r, 5)};
}

}  // namespace

bool subscription_live(std::string_view status) {
  return status == "active" || status == "trialing" || status == "past_due";
}

Result<void> SqlStore::put_stripe_account(const StripeAccount& a) {
  TG_LEASE(db);
  auto rows = db->query(
      "INSERT INTO stripe_accounts (" + columns(kStripeAccountColumns) + ") VALUES (" +
          placeholders(7) +
          ") ON CONFLICT (project_id) DO UPDATE SET sealed_secret_key = excluded.sealed_secret_key, "
          "secret_key_hint = excluded.secret_key_hint, "
          "sealed_webhook_secret = excluded.sealed_webhook_secret, "
          "webhook_secret_hint = excluded.webhook_secret_hint, "
          "updated_at_ms = excluded.updated_at_ms",
      {a.project_id, a.sealed_secret_key, a.secret_key_hint, a.sealed_webhook_secret,
       a.webhook_secret_hint, a.created_at_ms, a.updated_at_ms});
  if (!rows) return db.mark_broken(), rows.error();
  return {};
}

Result<std::optional<StripeAccount>> SqlStore::get_stripe_account(std::string_view project_id) {
  TG_LEASE(db);
  auto rows = db->query("SELECT " + columns(kStripeAccountColumns) +
                            " FROM stripe_accounts WHERE project_id = $1",
                        {std::string(project_id)});
  if (!rows) return db.mark_broken(), rows.error();
  if (rows.value().empty()) return std::optional<StripeAccount>();
  const SqlRows& r = rows.value();
  return std::optional<StripeAccount>(StripeAccount{r.text(0, 0), r.text(0, 1), r.text(0, 2),
                                                    r.text(0, 3), r.text(0, 4), r.int64(0, 5),
                                                    r.int64(0, 6)});
}

Result<bool> SqlStore::delete_stripe_account(std::string_view project_id) {
  TG_LEASE(db);
  auto rows = db->query("DELETE FROM stripe_accounts WHERE project_id = $1 RETURNING project_id",
                        {std::string(project_id)});
  if (!rows) return db.mark_broken(), rows.error();
  return !rows.value().empty();
}

Result<std::optional<std::string>> SqlStore::find_customer(std::string_view project_id,
                                                           std::string_view user_id) {
  TG_LEASE(db);
  auto rows = db->query(
      "SELECT customer_id FROM stripe_customers WHERE project_id = $1 AND user_id = $2",
      {std::string(project_id), std::string(user_id)});
  if (!rows) return db.mark_broken(), rows.error();
  if (rows.value().empty()) return std::optional<std::string>();
  return std::optional<std::string>(rows.value().text(0, 0));
}

Result<std::string> SqlStore::put_customer(std::string_view project_id, std::string_view user_id,
                                           std::string_view customer_id, int64_t now_ms) {
  TG_LEASE(db);
  auto inserted = db->query(
      "INSERT INTO stripe_customers (project_id, user_id, customer_id, created_at_ms) "
      "VALUES ($1, $2, $3, $4) ON CONFLICT (project_id, user_id) DO NOTHING",
      {std::string(project_id), std::string(user_id), std::string(customer_id), now_ms});
  if (!inserted) return db.mark_broken(), inserted.error();
  auto rows = db->query(
      "SELECT customer_id FROM stripe_customers WHERE project_id = $1 AND user_id = $2",
      {std::string(project_id), std::string(user_id)});
  if (!rows) return db.mark_broken(), rows.error();
  if (rows.value().empty()) return fail(ErrorCode::kStoreUnavailable, "customer not stored");
  return rows.value().text(0, 0);
}

Result<std::optional<std::string>> SqlStore::user_of_customer(std::string_view project_id,
                                                              std::string_view customer_id) {
  TG_LEASE(db);
  auto rows = db->query(
      "SELECT user_id FROM stripe_customers WHERE project_id = $1 AND customer_id = $2",
      {std::string(project_id), std::string(customer_id)});
  if (!rows) return db.mark_broken(), rows.error();
  if (rows.value().empty()) return std::optional<std::string>();
  return std::optional<std::string>(rows.value().text(0, 0));
}

Result<void> SqlStore::put_checkout(const Checkout& c) {
  TG_LEASE(db);
  std::string update;
  for (std::string_view column :
       {"status", "payment_status", "payment_intent", "subscription_id", "invoice_id",
        "fulfilled_at_ms", "updated_at_ms"}) {
    if (!update.empty()) update += ", ";
    update.append(column).append(" = excluded.").append(column);
  }
  auto rows = db->query(
      "INSERT INTO checkouts (" + columns(kCheckoutColumns) + ") VALUES (" + placeholders(21) +
          ") ON CONFLICT (id) DO UPDATE SET " + update,
      {c.id,
       c.project_id,
       c.user_id,
       c.product,
       c.product_kind,
       c.credits,
       c.price_micros,
       c.currency,
       int64_t{c.simulated ? 1 : 0},
       c.url,
       c.success_url,
       c.cancel_url,
       c.status,
       c.payment_status,
       nullable_text(c.payment_intent),
       nullable_text(c.subscription_id),
       nullable_text(c.invoice_id),
       nullable(c.fulfilled_at_ms),
       c.created_at_ms,
       c.expires_at_ms,
       c.updated_at_ms});
  if (!rows) return db.mark_broken(), rows.error();
  return {};
}

Result<std::optional<Checkout>> SqlStore::get_checkout(std::string_view project_id,
                                                       std::string_view id) {
  TG_LEASE(db);
  auto rows = db->query("SELECT " + columns(kCheckoutColumns) +
                            " FROM checkouts WHERE project_id = $1 AND id = $2",
                        {std::string(project_id), std::string(id)});
  if (!rows) return db.mark_broken(), rows.error();
  if (rows.value().empty()) return std::optional<Checkout>();
  return std::optional<Checkout>(read_checkout(rows.value(), 0));
}

Result<std::optional<Checkout>> SqlStore::get_checkout_by_id(std::string_view id) {
  TG_LEASE(db);
  auto rows = db->query("SELECT " + columns(kCheckoutColumns) + " FROM checkouts WHERE id = $1",
                        {std::string(id)});
  if (!rows) return db.mark_broken(), rows.error();
  if (rows.value().empty()) return std::optional<Checkout>();
  return std::optional<Checkout>(read_checkout(rows.value(), 0));
}

Result<std::optional<Checkout>> SqlStore::checkout_by_payment_intent(
    std::string_view project_id, std::string_view payment_intent) {
  TG_LEASE(db);
  auto rows = db->query("SELECT " + columns(kCheckoutColumns) +
                            " FROM checkouts WHERE project_id = $1 AND payment_intent = $2",
                        {std::string(project_id), std::string(payment_intent)});
  if (!rows) return db.mark_broken(), rows.error();
  if (rows.value().empty()) return std::optional<Checkout>();
  return std::optional<Checkout>(read_checkout(rows.value(), 0));
}

Result<bool> SqlStore::put_subscription(const Subscription& s) {
  TG_LEASE(db);
  std::string update;
  for (std::string_view column :
       {"plan", "status", "price_micros", "currency", "plan_interval", "current_period_end_ms",
        "cancel_at_period_end", "state_at", "updated_at_ms"}) {
    if (!update.empty()) update += ", ";
    update.append(column).append(" = excluded.").append(column);
  }
  auto rows = db->query(
      "INSERT INTO subscriptions (" + columns(kSubscriptionColumns) + ") VALUES (" +
          placeholders(14) + ") ON CONFLICT (id) DO UPDATE SET " + update +
          " WHERE subscriptions.state_at <= excluded.state_at RETURNING id",
      {s.id, s.project_id, s.user_id, s.customer_id, s.plan, s.status, s.price_micros, s.currency,
       s.interval, s.current_period_end_ms, int64_t{s.cancel_at_period_end ? 1 : 0}, s.state_at,
       s.created_at_ms, s.updated_at_ms});
  if (!rows) return db.mark_broken(), rows.error();
  return !rows.value().empty();
}

Result<std::optional<Subscription>> SqlStore::get_subscription(std::string_view project_id,
                                                               std::string_view id) {
  TG_LEASE(db);
  auto rows = db->query("SELECT " + columns(kSubscriptionColumns) +
                            " FROM subscriptions WHERE project_id = $1 AND id = $2",
                        {std::string(project_id), std::string(id)});
  if (!rows) return db.mark_broken(), rows.error();
  if (rows.value().empty()) return std::optional<Subscription>();
  return std::optional<Subscription>(read_subscription(rows.value(), 0));
}

Result<std::optional<Subscription>> SqlStore::latest_subscription(std::string_view project_id,
                                                                  std::string_view user_id) {
  TG_LEASE(db);
  auto rows = db->query("SELECT " + columns(kSubscriptionColumns) +
                            " FROM subscriptions WHERE project_id = $1 AND user_id = $2 "
                            "ORDER BY created_at_ms DESC, id DESC LIMIT 1",
                        {std::string(project_id), std::string(user_id)});
  if (!rows) return db.mark_broken(), rows.error();
  if (rows.value().empty()) return std::optional<Subscription>();
  return std::optional<Subscription>(read_subscription(rows.value(), 0));
}

Result<bool> SqlStore::record_stripe_event(const StripeEventRecord& e) {
  TG_LEASE(db);
  auto rows = db->query("INSERT INTO stripe_events (" + columns(kEventColumns) + ") VALUES (" +
                            placeholders(6) +
                            ") ON CONFLICT (project_id, event_id) DO NOTHING RETURNING event_id",
                        {e.project_id, e.event_id, e.type, e.created, e.outcome, e.received_at_ms});
  if (!rows) return db.mark_broken(), rows.error();
  return !rows.value().empty();
}

Result<std::optional<StripeEventRecord>> SqlStore::find_stripe_event(std::string_view project_id,
                                                                     std::string_view event_id) {
  TG_LEASE(db);
  auto rows = db->query("SELECT " + columns(kEventColumns) +
                            " FROM stripe_events WHERE project_id = $1 AND event_id = $2",
                        {std::string(project_id), std::string(event_id)});
  if (!rows) return db.mark_broken(), rows.error();
  if (rows.value().empty()) return std::optional<StripeEventRecord>();
  return std::optional<StripeEventRecord>(read_event(rows.value(), 0));
}

Result<std::vector<StripeEventRecord>> SqlStore::list_stripe_events(std::string_view project_id,
                                                                    const Page& page) {
  TG_LEASE(db);
  std::string sql = "SELECT " + columns(kEventColumns) + " FROM stripe_events WHERE project_id = $1";
  SqlParams params{std::string(project_id), page.limit};
  if (page.starting_after) {
    // After the cursor in (received_at_ms, event_id) descending order.
    sql +=
        " AND (received_at_ms, event_id) < (SELECT received_at_ms, event_id FROM stripe_events "
        "WHERE project_id = $1 AND event_id = $3)";
    params.emplace_back(*page.starting_after);
  }
  sql += " ORDER BY received_at_ms DESC, event_id DESC LIMIT $2";
  auto rows = db->query(sql, params);
  if (!rows) return db.mark_broken(), rows.error();
  std::vector<StripeEventRecord> events;
  for (size_t r = 0; r < rows.value().size(); ++r) events.push_back(read_event(rows.value(), r));
  return events;
}

Result<void> SqlStore::add_revenue(const RevenueRecord& v) {
  TG_LEASE(db);
  auto rows = db->query(
      "INSERT INTO revenue (project_id, source_id, user_id, product, amount_micros, currency, "
      "created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) "
      "ON CONFLICT (project_id, source_id) DO NOTHING",
      {v.project_id, v.source_id, v.user_id, v.product, v.amount_micros, v.currency,
       v.created_at_ms});
  if (!rows) return db.mark_broken(), rows.error();
  return {};
}

Result<std::vector<RevenueTotal>> SqlStore::revenue_totals(std::string_view project_id,
                                                           int64_t from_ms, int64_t to_ms) {
  TG_LEASE(db);
  auto rows = db->query("SELECT product, currency, count(*), " + split_sum("amount_micros") +
                            " FROM revenue WHERE project_id = $1 AND created_at_ms >= $2 AND "
                            "created_at_ms < $3 GROUP BY product, currency "
                            "ORDER BY product, currency",
                        {std::string(project_id), from_ms, to_ms});
  if (!rows) return db.mark_broken(), rows.error();
  std::vector<RevenueTotal> totals;
  for (size_t r = 0; r < rows.value().size(); ++r) {
    auto micros = read_split_sum(rows.value(), r, 3);
    if (!micros) return micros.error();
    totals.push_back({rows.value().text(r, 0), rows.value().text(r, 1), rows.value().int64(r, 2),
                      micros.value()});
  }
  return totals;
}

}  // namespace tollgate::server
