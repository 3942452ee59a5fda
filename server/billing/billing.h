// Billing: one fulfilment function for every way a checkout completes (the Stripe webhook, the
// success page's poll, the simulated checkout's Pay), and the handling of Stripe's events.
//
// Each billing fact changes credits through one ledger command carrying a permanent mark
// (store.h, "Marks"), so it takes effect once however often and however concurrently it is
// told: a pack's checkout session ("checkout:<id>"), a paid invoice ("invoice:<id>"), a
// cancelled subscription ("ended:<id>"), a purchase's clawback ("clawback:<checkout id>",
// whose value is the credits taken back so far plus any shortfall).
//
// Everything Stripe sends is read with checked accessors; a field that is missing or of the
// wrong type makes the event "ignored", never a crash.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "server/auth/secret_box.h"
#include "server/billing/catalogue.h"
#include "server/billing/stripe_api.h"
#include "server/billing/stripe_objects.h"
#include "server/ledger/ledger_writer.h"
#include "server/log/logger.h"
#include "server/store/store.h"

namespace tollgate::server {

struct BillingDeps {
  Store& store;
  LedgerWriter& ledger;
  const SecretBox* secrets = nullptr;
  const StripeApi* stripe = nullptr;  // null: Stripe is not configured in this process
  std::string public_url;             // where this server is reached from outside
  Clock now_ms;
  Logger* log = nullptr;
};

// A project's Stripe keys in the clear (never logged, never answered).
struct StripeKeys {
  std::string secret_key;
  std::string webhook_secret;
};
// The associated data each key is sealed with: "<project id>/stripe/<which>".
std::string stripe_key_binding(std::string_view project_id, std::string_view which);
// nullopt when the project has none.
Result<std::optional<StripeKeys>> stripe_keys(const BillingDeps& deps, std::string_view project_id);

// The checkout as it now stands, or why it could not be brought there.
using CheckoutDone = std::function<void(Result<Checkout>)>;

// Brings `checkout` up to `state` and, when it is complete and paid, fulfils it: in one ledger
// command, a pack's credits to `purchased`, or a plan set with its first period's allowance.
// Idempotent under concurrency. The subscription and revenue records follow the ledger's
// commit; a crash between them is mended by the next call, as the ledger's mark answers it as
// done and the records are written again.
void fulfil(const BillingDeps& deps, Checkout checkout, const SessionState& state,
            CheckoutDone done);

// What an event did, for the event log: "granted 500 credits", "ignored: …".
using EventDone = std::function<void(Result<std::string>)>;

// Handles one verified Stripe event of `project_id`. An event type Tollgate does not act on is
// ignored (its outcome says so). kStoreUnavailable and the like come back as errors, so Stripe
// retries the delivery.
void handle_stripe_event(const BillingDeps& deps, const std::string& project_id,
                         const nlohmann::json& event, EventDone done);

// The account with its plan's subscription, as GET /v1/accounts/{userId} shows it.
Result<std::optional<Subscription>> current_subscription(const BillingDeps& deps,
                                                         std::string_view project_id,
                                                         std::string_view user_id);

}  // namespace tollgate::server
