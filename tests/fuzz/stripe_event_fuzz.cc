// libFuzzer target for what Tollgate reads from Stripe and sends to it: the Stripe-Signature
// check and form encoding (server/billing/stripe_wire.h), and the checked readers of Stripe's
// objects (server/billing/stripe_objects.h). An input is a webhook delivery in four parts, split
// at its first three newlines (a missing part is empty; a now that is not a decimal int64 is 0):
//
//   <Stripe-Signature header> \n <webhook secret> \n <now, in seconds> \n <payload...>
//
// 1. verify_stripe_signature(header, payload, secret, now) never crashes or throws. When it
//    accepts, the header has an item t=<digits> within kSignatureToleranceSeconds of now and an
//    item v1=stripe_signature(payload, secret, t); when it refuses, the error is
//    kInvalidArgument naming "Stripe-Signature". With a secret, and a now that a t can spell
//    (0 <= now < 10^12), headers made from the input's payload and secret are judged right:
//    "t=<now>,v1=<signature>" is accepted, and so are a t at the tolerance's edge and a wrong v1
//    before the right one; a t one second past the edge, or one hex digit changed, is refused.
// 2. The payload, parsed as the webhook route parses it (json_read::parse under
//    kStripeEventDepthMax, up to kStripeEventBytesMax bytes): session_state,
//    read_stripe_subscription and invoice_subscription, of the value and of its data.object,
//    never crash or throw; every id or text they read is "" or the string the object holds at
//    that field (an expandable field: its string, or its object's id); an invoice's metadata
//    is one of its two places in the invoice. form_encode of the value never throws, and writes
//    one name=value pair per string, number and boolean, joined by '&', both sides only
//    unreserved characters and %XX escapes (a name's brackets go as %5B and %5D).
// Build and run with `make fuzz`.
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.h"
#include "server/billing/stripe_objects.h"
#include "server/billing/stripe_wire.h"
#include "tollgate/core/json_read.h"

using tollgate::ErrorCode;
using tollgate::fuzz::check;
namespace server = tollgate::server;
using json = nlohmann::json;

namespace {

// A t has at most 12 digits (the verifier's limit), so times from 10^12 s on cannot be signed.
constexpr int64_t kTimestampEnd = 1'000'000'000'000;

struct Delivery {
  std::string_view header;
  std::string_view secret;
  int64_t now_s = 0;
  std::string_view payload;
};

// Cuts the first line off `text`; all of it when there is no newline.
std::string_view take_line(std::string_view& text) {
  size_t newline = text.find('\n');
  std::string_view line = text.substr(0, newline);
  text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
  return line;
}

Delivery read_delivery(std::string_view text) {
  Delivery d;
  d.header = take_line(text);
  d.secret = take_line(text);
  std::string_view now = take_line(text);
  if (std::from_chars(now.data(), now.data() + now.size(), d.now_s).ptr != now.data() + now.size())
    d.now_s = 0;
  d.payload = text;
  return d;
}

bool is_digits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// What an accepted header must hold, read independently of the verifier: some t=<digits>
// within the tolerance of now whose signature is one of the v1 items.
bool holds_valid_signature(const Delivery& d) {
  std::vector<int64_t> times;
  std::vector<std::string_view> signatures;
  std::string_view rest = d.header;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (item.starts_with("t=") && is_digits(item.substr(2)) && item.size() <= 2 + 12) {
      int64_t t = 0;
      std::from_chars(item.data() + 2, item.data() + item.size(), t);
      // t + tolerance cannot overflow (t < 10^12); now - tolerance might.
      if (d.now_s >= t - server::kSignatureToleranceSeconds &&
          d.now_s <= t + server::kSignatureToleranceSeconds) {
        times.push_back(t);
      }
    } else if (item.starts_with("v1=")) {
      signatures.push_back(item.substr(3));
    }
  }
  for (int64_t t : times) {
    std::string expected = server::stripe_signature(d.payload, d.secret, t);
    for (std::string_view signature : signatures) {
      if (signature == expected) return true;
    }
  }
  return false;
}

bool verifies(const Delivery& d, const std::string& header) {
  auto verified = server::verify_stripe_signature(header, d.payload, d.secret, d.now_s);
  if (!verified) {
    check(verified.error().code == ErrorCode::kInvalidArgument &&
              verified.error().param == "Stripe-Signature",
          "a refused signature is kInvalidArgument naming Stripe-Signature");
  }
  return verified.ok();
}

std::string signed_header(const Delivery& d, int64_t t, std::string_view extra_v1 = {}) {
  std::string header = "t=" + std::to_string(t);
  if (!extra_v1.empty()) header.append(",v1=").append(extra_v1);
  return header.append(",v1=").append(server::stripe_signature(d.payload, d.secret, t));
}

void check_signature(const Delivery& d) {
  if (verifies(d, std::string(d.header))) {
    check(d.header.size() <= server::kSignatureHeaderBytesMax && !d.secret.empty(),
          "an accepted header is within its limit and checked with a secret");
    check(holds_valid_signature(d),
          "an accepted header has a t within the tolerance and that t's v1 signature");
  }
  if (d.secret.empty() || d.now_s < 0 || d.now_s >= kTimestampEnd) return;

  check(verifies(d, signed_header(d, d.now_s)), "a header signed for now is accepted");
  std::string signature = server::stripe_signature(d.payload, d.secret, d.now_s);
  check(signature.size() == 64, "a signature is 64 hex digits");
  std::string changed = signature;
  char& digit = changed[d.payload.size() % changed.size()];
  digit = digit == '0' ? '1' : '0';
  check(!verifies(d, "t=" + std::to_string(d.now_s) + ",v1=" + changed),
        "a signature with one hex digit changed is refused");
  check(verifies(d, signed_header(d, d.now_s, changed)),
        "a wrong v1 before the right one is accepted");

  constexpr int64_t kTolerance = server::kSignatureToleranceSeconds;
  if (d.now_s > kTolerance) {
    check(verifies(d, signed_header(d, d.now_s - kTolerance)),
          "a t at the tolerance's edge is accepted");
    check(!verifies(d, signed_header(d, d.now_s - kTolerance - 1)),
          "a t one second past the tolerance is refused");
  }
}

// ---- Property 2: the readers and the form encoding ------------------------------------------

const json* member(const json* value, std::initializer_list<std::string_view> path) {
  for (std::string_view name : path) {
    if (value == nullptr) return nullptr;
    value = tollgate::json_read::find(*value, name);
  }
  return value;
}

std::string string_of(const json* value) {
  const auto* text = value != nullptr ? value->get_ptr<const json::string_t*>() : nullptr;
  return text != nullptr ? *text : std::string();
}

std::string text_of(const json& object, std::initializer_list<std::string_view> path) {
  return string_of(member(&object, path));
}

// An expandable field: its string, or its object's string id.
std::string expandable_id(const json& object, std::string_view name) {
  const json* field = member(&object, {name});
  if (field != nullptr && field->is_object()) return string_of(member(field, {"id"}));
  return string_of(field);
}

void check_session(const json& session) {
  server::SessionState s = server::session_state(session);
  check(s.status == text_of(session, {"status"}), "session status is the object's");
  check(s.payment_status == text_of(session, {"payment_status"}),
        "session payment_status is the object's");
  check(s.payment_intent == expandable_id(session, "payment_intent"),
        "session payment_intent is the object's");
  check(s.subscription_id == expandable_id(session, "subscription"),
        "session subscription is the object's");
  check(s.invoice_id == expandable_id(session, "invoice"), "session invoice is the object's");
  check(s.customer_id == expandable_id(session, "customer"), "session customer is the object's");
}

void check_subscription(const json& object) {
  server::StripeSubscription s = server::read_stripe_subscription(object);
  check(s.id == text_of(object, {"id"}), "subscription id is the object's");
  check(s.customer == expandable_id(object, "customer"), "subscription customer is the object's");
  check(s.status == text_of(object, {"status"}), "subscription status is the object's");
  check(s.user == text_of(object, {"metadata", "tollgate_user"}),
        "subscription user is its metadata's");
  check(s.period_end_ms % 1000 == 0, "a period end is whole seconds");
  if (s.plan.empty()) return;
  const json* items = member(&object, {"items", "data"});
  const json* item = nullptr;
  if (items != nullptr && items->is_array() && !items->empty()) item = &(*items)[0];
  std::string lookup = item != nullptr ? text_of(*item, {"price", "lookup_key"}) : "";
  check((item != nullptr && s.plan == text_of(*item, {"price", "metadata", "tollgate_plan"})) ||
            (lookup.starts_with("tollgate:") && s.plan == lookup.substr(9)) ||
            s.plan == text_of(object, {"metadata", "tollgate_plan"}),
        "a subscription's plan is its price's or its metadata's");
}

void check_invoice(const json& invoice) {
  server::InvoiceSubscription of = server::invoice_subscription(invoice);
  const json* details = member(&invoice, {"parent", "subscription_details"});
  if (details != nullptr && !details->is_object()) details = nullptr;
  check(of.id.empty() || (details != nullptr && of.id == expandable_id(*details, "subscription")) ||
            of.id == expandable_id(invoice, "subscription"),
        "an invoice's subscription is the invoice's");
  check(of.metadata == nullptr || of.metadata == member(details, {"metadata"}) ||
            of.metadata == member(&invoice, {"subscription_details", "metadata"}),
        "an invoice's metadata is in the invoice");
}

void check_readers(const json& object) {
  check_session(object);
  check_subscription(object);
  check_invoice(object);
}

size_t scalars_in(const json& value) {
  if (value.is_object() || value.is_array()) {
    size_t count = 0;
    for (const json& item : value) count += scalars_in(item);
    return count;
  }
  return value.is_null() ? 0 : 1;
}

bool is_hex_upper(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); }

bool is_unreserved(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

void check_form(const json& value) {
  std::string body = server::form_encode(value);
  size_t pairs = body.empty() ? 0 : 1;
  size_t equals = 0;
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c == '%') {
      check(i + 2 < body.size() && is_hex_upper(body[i + 1]) && is_hex_upper(body[i + 2]),
            "a form body's % starts an %XX escape");
      i += 2;
    } else if (c == '&') {
      ++pairs;
    } else if (c == '=') {
      ++equals;
    } else {
      check(is_unreserved(c), "a form body holds only unreserved characters, %XX, = and &");
    }
  }
  check(pairs == scalars_in(value), "a form body has one pair per string, number and boolean");
  check(equals == pairs, "each pair of a form body has one =");
}

void check_payload(std::string_view payload) {
  if (payload.size() > server::kStripeEventBytesMax) return;
  auto parsed = tollgate::json_read::parse(payload, server::kStripeEventDepthMax);
  if (!parsed) return;
  const json& event = parsed.value();
  check_readers(event);
  if (const json* object = member(&event, {"data", "object"})) check_readers(*object);
  check_form(event);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Delivery delivery = read_delivery(tollgate::fuzz::as_text(data, size));
  check_signature(delivery);
  check_payload(delivery.payload);
  return 0;
}
