#include "server/billing/stripe_objects.h"

#include "tollgate/core/json_read.h"

namespace tollgate::server {
namespace {

using json = nlohmann::json;

bool flag_at(const json& value, std::initializer_list<std::string_view> path) {
  const json* at = dig(value, path);
  return at != nullptr && at->is_boolean() && at->get<bool>();
}

}  // namespace

// ---- Checked reads of what Stripe sent -------------------------------------------------------

const json* dig(const json& value, std::initializer_list<std::string_view> path) {
  const json* at = &value;
  for (std::string_view name : path) {
    at = json_read::find(*at, name);
    if (at == nullptr) return nullptr;
  }
  return at;
}

std::string text_at(const json& value, std::initializer_list<std::string_view> path) {
  const json* at = dig(value, path);
  return at != nullptr && at->is_string() ? at->get<std::string>() : std::string();
}

std::optional<int64_t> int_at(const json& value, std::initializer_list<std::string_view> path) {
  const json* at = dig(value, path);
  if (at == nullptr || !at->is_number_integer()) return std::nullopt;
  if (at->is_number_unsigned() && at->get<uint64_t>() > uint64_t{INT64_MAX}) return std::nullopt;
  return at->get<int64_t>();
}

std::string id_at(const json& value, std::string_view name) {
  const json* at = json_read::find(value, name);
  if (at == nullptr) return "";
  if (at->is_string()) return at->get<std::string>();
  if (at->is_object()) return text_at(*at, {"id"});
  return "";
}

const json* first_item(const json& value, std::initializer_list<std::string_view> list) {
  const json* data = dig(value, list);
  if (data == nullptr || !data->is_array() || data->empty()) return nullptr;
  return &(*data)[0];
}

int64_t seconds_to_ms(int64_t seconds) {
  int64_t ms = 0;
  return __builtin_mul_overflow(seconds, 1000, &ms) ? 0 : ms;
}

// ---- What a checkout session, a subscription and an invoice say ------------------------------

SessionState session_state(const json& session) {
  return {text_at(session, {"status"}),     text_at(session, {"payment_status"}),
          id_at(session, "payment_intent"), id_at(session, "subscription"),
          id_at(session, "invoice"),        id_at(session, "customer")};
}

StripeSubscription read_stripe_subscription(const json& object) {
  StripeSubscription s;
  s.id = text_at(object, {"id"});
  s.customer = id_at(object, "customer");
  s.status = text_at(object, {"status"});
  s.cancel_at_period_end = flag_at(object, {"cancel_at_period_end"});
  s.user = text_at(object, {"metadata", "tollgate_user"});
  const json* item = first_item(object, {"items", "data"});
  int64_t period_end = 0;
  if (item != nullptr) {
    s.plan = text_at(*item, {"price", "metadata", "tollgate_plan"});
    std::string lookup = text_at(*item, {"price", "lookup_key"});
    if (s.plan.empty() && lookup.rfind("tollgate:", 0) == 0) s.plan = lookup.substr(9);
    period_end = int_at(*item, {"current_period_end"}).value_or(0);  // 2025 and later
  }
  if (period_end == 0) period_end = int_at(object, {"current_period_end"}).value_or(0);
  s.period_end_ms = seconds_to_ms(period_end);
  if (s.plan.empty()) s.plan = text_at(object, {"metadata", "tollgate_plan"});
  return s;
}

InvoiceSubscription invoice_subscription(const json& invoice) {
  InvoiceSubscription out;
  if (const json* details = dig(invoice, {"parent", "subscription_details"});
      details != nullptr && details->is_object()) {
    out.id = id_at(*details, "subscription");
    out.metadata = json_read::find(*details, "metadata");
  }
  if (out.id.empty()) out.id = id_at(invoice, "subscription");
  if (out.metadata == nullptr) out.metadata = dig(invoice, {"subscription_details", "metadata"});
  return out;
}

}  // namespace tollgate::server
