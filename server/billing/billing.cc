#include "server/billing/billing.h"

#include <utility>

#include "tollgate/money/money.h"

namespace tollgate::server {
namespace {

using json = nlohmann::json;

constexpr int64_t kMonthMs = int64_t{30} * 24 * 60 * 60 * 1000;

// ---- Small steps ------------------------------------------------------------------------------

Result<void> put_plan_subscription(const BillingDeps& deps, const Checkout& c, int64_t now) {
  ProjectSettings settings;
  if (auto project = deps.store.get_project(c.project_id); project && project.value())
    settings = project.value()->settings;
  const Plan* plan = find_plan(settings, c.product);
  Subscription s;
  s.id =
      c.subscription_id.empty() ? "sub_sim_" + c.id.substr(c.id.find('_') + 1) : c.subscription_id;
  s.project_id = c.project_id;
  s.user_id = c.user_id;
  s.customer_id = "";
  s.plan = c.product;
  s.status = "active";
  s.price_micros = c.price_micros;
  s.currency = c.currency;
  s.interval = plan != nullptr ? plan->interval : "month";
  // Stripe's events bring the real period; until then (and always when simulated), an
  // interval from now. state_at 0: any event's state wins over it.
  s.current_period_end_ms = now + (s.interval == "year" ? 12 * kMonthMs : kMonthMs);
  s.state_at = 0;
  s.created_at_ms = now;
  s.updated_at_ms = now;
  if (auto existing = deps.store.get_subscription(c.project_id, s.id); existing && existing.value())
    return {};  // an event already told its state
  auto stored = deps.store.put_subscription(s);
  if (!stored) return stored.error();
  return {};
}

void warn(const BillingDeps& deps, std::string_view event, nlohmann::ordered_json fields) {
  if (deps.log != nullptr) deps.log->warn(event, std::move(fields));
}

// After the ledger granted (or found the mark set): the checkout, its subscription and its
// revenue are recorded.
void record_fulfilment(const BillingDeps& deps, Checkout c, const CheckoutDone& done) {
  int64_t now = deps.now_ms();
  c.fulfilled_at_ms = now;
  if (auto stored = deps.store.put_checkout(c); !stored) return done(stored.error());
  if (c.product_kind == "plan") {
    if (auto stored = put_plan_subscription(deps, c, now); !stored) return done(stored.error());
  }
  std::string source = c.product_kind == "plan" && !c.invoice_id.empty() ? c.invoice_id : c.id;
  if (auto added = deps.store.add_revenue(
          {c.project_id, source, c.user_id, c.product, c.price_micros, c.currency, now});
      !added) {
    return done(added.error());
  }
  done(std::move(c));
}

}  // namespace

std::string stripe_key_binding(std::string_view project_id, std::string_view which) {
  std::string binding(project_id);
  return binding.append("/stripe/").append(which);
}

Result<std::optional<StripeKeys>> stripe_keys(const BillingDeps& deps,
                                              std::string_view project_id) {
  auto account = deps.store.get_stripe_account(project_id);
  if (!account) return account.error();
  if (!account.value()) return std::optional<StripeKeys>();
  if (deps.secrets == nullptr) return fail(ErrorCode::kInternal, "no secret box");
  auto secret = deps.secrets->open(account.value()->sealed_secret_key,
                                   stripe_key_binding(project_id, "secret_key"));
  auto webhook = deps.secrets->open(account.value()->sealed_webhook_secret,
                                    stripe_key_binding(project_id, "webhook_secret"));
  if (!secret) return secret.error();
  if (!webhook) return webhook.error();
  return std::optional<StripeKeys>(StripeKeys{secret.value(), webhook.value()});
}

void fulfil(const BillingDeps& deps, Checkout checkout, const SessionState& state,
            CheckoutDone done) {
  int64_t now = deps.now_ms();
  Checkout& c = checkout;
  if (state.status == "open" || state.status == "complete" || state.status == "expired")
    c.status = state.status;
  if (!state.payment_status.empty()) c.payment_status = state.payment_status.substr(0, 32);
  if (!state.payment_intent.empty()) c.payment_intent = state.payment_intent.substr(0, 255);
  if (!state.subscription_id.empty()) c.subscription_id = state.subscription_id.substr(0, 255);
  if (!state.invoice_id.empty()) c.invoice_id = state.invoice_id.substr(0, 255);
  c.updated_at_ms = now;
  bool paid = c.status == "complete" &&
              (c.payment_status == "paid" || c.payment_status == "no_payment_required");
  if (!paid || c.fulfilled_at_ms) {
    if (auto stored = deps.store.put_checkout(c); !stored) return done(stored.error());
    return done(std::move(checkout));
  }
  LedgerCommandBody body;
  if (c.product_kind == "pack") {
    body = CreditCommand{
        c.project_id,      c.user_id, "purchase", c.credits, "credit pack " + c.product,
        "checkout:" + c.id};
  } else {
    // The first period's allowance is the first invoice's: invoice.paid for it, arriving
    // first or later, finds the mark set.
    std::string once = c.invoice_id.empty() ? "checkout:" + c.id : "invoice:" + c.invoice_id;
    body = AllowanceCommand{
        c.project_id, c.user_id, c.credits, c.product, "plan " + c.product + ": first period",
        once};
  }
  deps.ledger.submit(LedgerCommand{std::move(body), std::nullopt},
                     [deps, checkout = std::move(checkout),
                      done = std::move(done)](Result<LedgerOutcome> outcome) mutable {
                       if (!outcome) return done(outcome.error());
                       if (outcome.value().error) return done(*outcome.value().error);
                       record_fulfilment(deps, std::move(checkout), done);
                     });
}

Result<std::optional<Subscription>> current_subscription(const BillingDeps& deps,
                                                         std::string_view project_id,
                                                         std::string_view user_id) {
  return deps.store.latest_subscription(project_id, user_id);
}

// ---- Events -----------------------------------------------------------------------------------

namespace {

using Outcome = std::function<void(Result<std::string>)>;

void on_session(const BillingDeps& deps, const std::string& project_id, const std::string& type,
                const json& session, const Outcome& done) {
  std::string id = text_at(session, {"id"});
  std::string named = text_at(session, {"metadata", "tollgate_project"});
  if (!named.empty() && named != project_id)
    return done("ignored: the session belongs to project " + named.substr(0, 64));
  auto checkout = deps.store.get_checkout(project_id, id);
  if (!checkout) return done(checkout.error());
  if (!checkout.value())
    return done("ignored: " + id.substr(0, 64) + " is not a Tollgate checkout");
  SessionState state = session_state(session);
  if (type == "checkout.session.async_payment_failed") state.payment_status = "unpaid";
  bool was_fulfilled = checkout.value()->fulfilled_at_ms.has_value();
  fulfil(deps, *checkout.value(), state, [done, was_fulfilled](Result<Checkout> after) {
    if (!after) return done(after.error());
    const Checkout& c = after.value();
    if (c.fulfilled_at_ms && !was_fulfilled) {
      return done(c.product_kind == "pack"
                      ? "fulfilled: " + std::to_string(c.credits) + " credits of " + c.product
                      : "fulfilled: plan " + c.product);
    }
    if (c.fulfilled_at_ms) return done(std::string("already fulfilled"));
    done("checkout " + c.status + ", payment " + c.payment_status + ": nothing granted");
  });
}

// The end user a subscription or invoice belongs to: its metadata, our record of the
// subscription, or the customer's end user.
Result<std::string> user_of(const BillingDeps& deps, const std::string& project_id,
                            const std::string& from_metadata, const std::string& subscription_id,
                            const std::string& customer) {
  if (!from_metadata.empty()) return from_metadata;
  if (!subscription_id.empty()) {
    auto known = deps.store.get_subscription(project_id, subscription_id);
    if (!known) return known.error();
    if (known.value()) return known.value()->user_id;
  }
  if (!customer.empty()) {
    auto user = deps.store.user_of_customer(project_id, customer);
    if (!user) return user.error();
    if (user.value()) return *user.value();
  }
  return std::string();
}

void submit_then(const BillingDeps& deps, LedgerCommandBody body,
                 std::function<void(Result<LedgerOutcome>)> then) {
  deps.ledger.submit(LedgerCommand{std::move(body), std::nullopt},
                     [then = std::move(then)](Result<LedgerOutcome> outcome) {
                       if (!outcome) return then(outcome.error());
                       if (outcome.value().error) return then(*outcome.value().error);
                       then(std::move(outcome).value());
                     });
}

void on_subscription(const BillingDeps& deps, const std::string& project_id, int64_t created,
                     bool deleted, const json& object, const Outcome& done) {
  StripeSubscription s = read_stripe_subscription(object);
  if (s.id.empty()) return done(std::string("ignored: the subscription has no id"));
  auto user = user_of(deps, project_id, s.user, s.id, s.customer);
  if (!user) return done(user.error());
  if (user.value().empty()) return done("ignored: " + s.id.substr(0, 64) + " is no end user's");
  auto project = deps.store.get_project(project_id);
  if (!project) return done(project.error());
  if (!project.value()) return done(std::string("ignored: no such project"));
  auto existing = deps.store.get_subscription(project_id, s.id);
  if (!existing) return done(existing.error());
  const Plan* plan = find_plan(project.value()->settings, s.plan);
  Subscription row;
  if (existing.value()) row = *existing.value();
  row.id = s.id;
  row.project_id = project_id;
  row.user_id = user.value();
  if (!s.customer.empty()) row.customer_id = s.customer;
  std::string previous_plan = row.plan;
  if (plan != nullptr) {
    row.plan = plan->name;
    row.price_micros = plan->price_micros;
    row.currency = plan->currency;
    row.interval = plan->interval;
  }
  if (row.plan.empty())
    return done("ignored: " + s.id.substr(0, 64) + " names no plan of this project");
  row.status = deleted ? "canceled" : s.status.substr(0, 32);
  if (s.period_end_ms > 0) row.current_period_end_ms = s.period_end_ms;
  row.cancel_at_period_end = s.cancel_at_period_end;
  row.state_at = created;
  int64_t now = deps.now_ms();
  if (!existing.value()) row.created_at_ms = now;
  row.updated_at_ms = now;
  auto applied = deps.store.put_subscription(row);
  if (!applied) return done(applied.error());
  if (!applied.value()) return done(std::string("ignored: older than the state already applied"));
  if (deleted || !subscription_live(row.status)) {
    if (row.status != "canceled" && row.status != "unpaid" && row.status != "incomplete_expired")
      return done("subscription " + row.status);
    // Ended: back to free with no allowance, unless the user has a newer subscription.
    auto latest = deps.store.latest_subscription(project_id, row.user_id);
    if (!latest) return done(latest.error());
    if (latest.value() && latest.value()->id != row.id)
      return done("subscription " + row.status + "; the user has a newer one");
    return submit_then(deps,
                       AllowanceCommand{project_id, row.user_id, 0, std::string("free"),
                                        "subscription " + row.id + " ended", "ended:" + row.id},
                       [done, status = row.status](Result<LedgerOutcome> outcome) {
                         if (!outcome) return done(outcome.error());
                         done("subscription " + status + ": back to free, no allowance");
                       });
  }
  if (plan != nullptr && plan->name != previous_plan && !previous_plan.empty()) {
    // A plan change: the plan now, its allowance from the next paid invoice.
    return submit_then(deps,
                       UpdateAccountCommand{project_id, row.user_id, plan->name, std::nullopt},
                       [done, name = plan->name](Result<LedgerOutcome> outcome) {
                         if (!outcome) return done(outcome.error());
                         done("plan changed to " + name);
                       });
  }
  done("subscription " + row.status + (row.cancel_at_period_end ? ", cancels at period end" : ""));
}

void on_invoice(const BillingDeps& deps, const std::string& project_id, int64_t created, bool paid,
                const json& invoice, const Outcome& done) {
  std::string id = text_at(invoice, {"id"});
  InvoiceSubscription of = invoice_subscription(invoice);
  if (id.empty() || of.id.empty())
    return done(std::string("ignored: not a subscription's invoice"));
  std::string meta_user, meta_plan;
  if (of.metadata != nullptr) {
    meta_user = text_at(*of.metadata, {"tollgate_user"});
    meta_plan = text_at(*of.metadata, {"tollgate_plan"});
  }
  auto user = user_of(deps, project_id, meta_user, of.id, id_at(invoice, "customer"));
  if (!user) return done(user.error());
  if (user.value().empty()) return done("ignored: " + of.id.substr(0, 64) + " is no end user's");
  auto known = deps.store.get_subscription(project_id, of.id);
  if (!known) return done(known.error());
  auto project = deps.store.get_project(project_id);
  if (!project) return done(project.error());
  if (!project.value()) return done(std::string("ignored: no such project"));
  std::string plan_name = known.value() ? known.value()->plan : meta_plan;
  const Plan* plan = find_plan(project.value()->settings, plan_name);
  if (plan == nullptr)
    return done("ignored: plan '" + plan_name.substr(0, 64) + "' is not in the catalogue");
  int64_t now = deps.now_ms();
  Subscription row;
  if (known.value()) {
    row = *known.value();
  } else {
    row = Subscription{of.id,
                       project_id,
                       user.value(),
                       id_at(invoice, "customer"),
                       plan->name,
                       "active",
                       plan->price_micros,
                       plan->currency,
                       plan->interval,
                       0,
                       false,
                       0,
                       now,
                       now};
  }
  if (const json* line = first_item(invoice, {"lines", "data"}); line != nullptr) {
    if (auto end = int_at(*line, {"period", "end"}))
      row.current_period_end_ms = seconds_to_ms(*end);
  }
  if (!paid) {
    row.status = "past_due";
    row.state_at = created;
    row.updated_at_ms = now;
    auto applied = deps.store.put_subscription(row);
    if (!applied) return done(applied.error());
    return done(applied.value() ? std::string("payment failed: subscription past due")
                                : std::string("ignored: older than the state already applied"));
  }
  if (text_at(invoice, {"status"}) != "" && text_at(invoice, {"status"}) != "paid")
    return done(std::string("ignored: the invoice is not paid"));
  // A paid invoice is a paid period: the subscription is active again (a newer state, such as
  // a cancellation, is kept), and the allowance is reset once for the invoice.
  row.status = "active";
  row.state_at = created;
  row.updated_at_ms = now;
  if (auto applied = deps.store.put_subscription(row); !applied) return done(applied.error());
  int64_t amount = int_at(invoice, {"amount_paid"}).value_or(0);
  std::string currency = text_at(invoice, {"currency"});
  if (auto micros = money::from_minor_units(amount, currency); micros && amount > 0) {
    auto added = deps.store.add_revenue(
        {project_id, id, row.user_id, plan->name, micros.value().value(), currency, now});
    if (!added) return done(added.error());
  }
  int64_t credits = period_allowance(*plan);
  submit_then(deps,
              AllowanceCommand{project_id, row.user_id, credits, plan->name,
                               "plan " + plan->name + ": paid period", "invoice:" + id},
              [done, credits](Result<LedgerOutcome> outcome) {
                if (!outcome) return done(outcome.error());
                done(outcome.value().replayed
                         ? std::string("allowance already granted for this invoice")
                         : "allowance reset to " + std::to_string(credits) + " credits");
              });
}

// A refund or a dispute: take back the purchase's credits in proportion (all of them for a
// dispute), never below zero.
void on_clawback(const BillingDeps& deps, const std::string& project_id,
                 const std::string& payment_intent, int64_t refunded, int64_t amount,
                 const std::string& why, const Outcome& done) {
  if (payment_intent.empty()) return done(std::string("ignored: no payment intent"));
  auto checkout = deps.store.checkout_by_payment_intent(project_id, payment_intent);
  if (!checkout) return done(checkout.error());
  if (!checkout.value() || checkout.value()->product_kind != "pack")
    return done(std::string("ignored: not a Tollgate credit pack"));
  const Checkout& c = *checkout.value();
  if (amount <= 0 || refunded < 0) return done(std::string("ignored: no amount"));
  Int128 share = Int128(c.credits) * std::min(refunded, amount) / amount;
  int64_t target = static_cast<int64_t>(share);  // <= credits
  submit_then(deps, ClawbackCommand{project_id, c.user_id, "clawback:" + c.id, target, why},
              [deps, done, c, project_id](Result<LedgerOutcome> outcome) {
                if (!outcome) return done(outcome.error());
                const LedgerOutcome& o = outcome.value();
                if (o.replayed) return done(std::string("nothing more to take back"));
                std::string what = "took back " + std::to_string(o.amount) + " credits";
                if (o.shortfall > 0) {
                  what += "; " + std::to_string(o.shortfall) + " credits short, already spent";
                  warn(deps, "billing.clawback_shortfall",
                       {{"project_id", project_id},
                        {"user_id", c.user_id},
                        {"checkout", c.id},
                        {"shortfall", o.shortfall}});
                }
                done(what);
              });
}

}  // namespace

void handle_stripe_event(const BillingDeps& deps, const std::string& project_id, const json& event,
                         EventDone done) {
  std::string type = text_at(event, {"type"});
  int64_t created = int_at(event, {"created"}).value_or(0);
  const json* object = dig(event, {"data", "object"});
  if (object == nullptr || !object->is_object())
    return done(std::string("ignored: the event has no data.object"));
  if (type == "checkout.session.completed" || type == "checkout.session.async_payment_succeeded" ||
      type == "checkout.session.async_payment_failed" || type == "checkout.session.expired") {
    return on_session(deps, project_id, type, *object, done);
  }
  if (type == "invoice.paid" || type == "invoice.payment_failed")
    return on_invoice(deps, project_id, created, type == "invoice.paid", *object, done);
  if (type == "customer.subscription.created" || type == "customer.subscription.updated" ||
      type == "customer.subscription.deleted") {
    return on_subscription(deps, project_id, created, type == "customer.subscription.deleted",
                           *object, done);
  }
  if (type == "charge.refunded") {
    return on_clawback(deps, project_id, id_at(*object, "payment_intent"),
                       int_at(*object, {"amount_refunded"}).value_or(0),
                       int_at(*object, {"amount"}).value_or(0),
                       "refund of " + text_at(*object, {"id"}).substr(0, 64), done);
  }
  if (type == "charge.dispute.created") {
    int64_t amount = int_at(*object, {"amount"}).value_or(0);
    return on_clawback(deps, project_id, id_at(*object, "payment_intent"), amount, amount,
                       "dispute " + text_at(*object, {"id"}).substr(0, 64), done);
  }
  done("ignored: Tollgate does not act on " + type.substr(0, 64));
}

}  // namespace tollgate::server
