// Checked reads of the objects Stripe sends (events, checkout sessions, subscriptions,
// invoices). Pure: no I/O, no store. Never throws: a field that is missing or of the wrong type
// reads as empty, zero or nullptr, so the event that carried it is ignored, never a crash.
// Pointers returned point into the value read and live as long as it does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace tollgate::server {

// The depth a Stripe event may have; Stripe's objects nest a handful of levels.
inline constexpr size_t kStripeEventDepthMax = 32;
inline constexpr size_t kStripeEventBytesMax = size_t{512} << 10;

// ---- Checked reads of what Stripe sent -------------------------------------------------------

// The value at `path` (member names, outermost first); nullptr when any step is missing.
const nlohmann::json* dig(const nlohmann::json& value,
                          std::initializer_list<std::string_view> path);
// The string at `path`; "" when it is missing or not a string.
std::string text_at(const nlohmann::json& value, std::initializer_list<std::string_view> path);
// The integer at `path`; nullopt when it is missing, not an integer or past int64.
std::optional<int64_t> int_at(const nlohmann::json& value,
                              std::initializer_list<std::string_view> path);
// An expandable field: the id itself, or the expanded object's id.
std::string id_at(const nlohmann::json& value, std::string_view name);
// The first element of the array at `list`; nullptr when it is missing or empty.
const nlohmann::json* first_item(const nlohmann::json& value,
                                 std::initializer_list<std::string_view> list);
// Stripe's seconds as milliseconds; 0 when that overflows.
int64_t seconds_to_ms(int64_t seconds);

// ---- What a checkout session, a subscription and an invoice say ------------------------------

// What a checkout session is, as a Stripe Checkout Session object says or the simulation sets.
struct SessionState {
  std::string status;          // open, complete, expired
  std::string payment_status;  // paid, unpaid, no_payment_required
  std::string payment_intent;
  std::string subscription_id;
  std::string invoice_id;
  std::string customer_id;
};
SessionState session_state(const nlohmann::json& session);

struct StripeSubscription {
  std::string id;
  std::string customer;
  std::string status;
  bool cancel_at_period_end = false;
  int64_t period_end_ms = 0;
  std::string plan;  // "" when it names none
  std::string user;  // from its metadata
};

// The plan of a subscription's price: its metadata's tollgate_plan, a lookup key
// "tollgate:<plan>", else the subscription's metadata (set at checkout; a plan changed in the
// portal keeps it, so the price comes first).
StripeSubscription read_stripe_subscription(const nlohmann::json& object);

// An invoice's subscription and its metadata, in the current shape (under
// parent.subscription_details) or the one before 2025 (subscription, subscription_details).
struct InvoiceSubscription {
  std::string id;
  const nlohmann::json* metadata = nullptr;
};
InvoiceSubscription invoice_subscription(const nlohmann::json& invoice);

}  // namespace tollgate::server
