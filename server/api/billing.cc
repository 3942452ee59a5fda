// Billing routes: a project's Stripe keys (PUT/GET/DELETE /v1/billing/stripe), checkout
// (POST /v1/checkout, GET /v1/checkout/{id}), the customer portal (POST /v1/billing/portal),
// the Stripe webhook (POST /v1/webhooks/stripe/{projectId}), the events received
// (GET /v1/billing/events) and, without Stripe keys, the simulated checkout pages.
#include "server/billing/billing.h"

#include <algorithm>
#include <boost/beast/http.hpp>
#include <tuple>

#include "server/api/api.h"
#include "server/api/input.h"
#include "server/api/render.h"
#include "server/api/route.h"
#include "server/auth/crypto.h"
#include "server/billing/stripe_wire.h"
#include "server/http/error_response.h"
#include "tollgate/core/json_read.h"
#include "tollgate/money/money.h"

namespace tollgate::server {
namespace {

using ojson = nlohmann::ordered_json;

constexpr size_t kUrlBytesMax = 2048;
constexpr size_t kStripeKeyBytesMax = 255;
constexpr int64_t kCheckoutTtlMs = int64_t{24} * 60 * 60 * 1000;  // as Stripe's default
constexpr std::string_view kSimulatedPrefix = "chk_";

BillingDeps deps_of(ApiContext& api) {
  return BillingDeps{api.store,      api.ledger, api.secrets, api.stripe,
                     api.public_url, api.now_ms, api.log};
}

std::string webhook_url(const ApiContext& api, const std::string& project_id) {
  return api.public_url + "/v1/webhooks/stripe/" + project_id;
}

std::string hint(const std::string& secret) {
  return secret.size() > 4 ? secret.substr(secret.size() - 4) : std::string();
}

ojson render_stripe_account(const ApiContext& api, const std::string& project_id,
                            const std::optional<StripeAccount>& account) {
  ojson out = {{"object", "stripe_account"},
               {"configured", account.has_value()},
               {"webhookUrl", webhook_url(api, project_id)}};
  if (account) {
    out["secretKeyHint"] = account->secret_key_hint;
    out["webhookSecretHint"] = account->webhook_secret_hint;
    out["createdAtMs"] = account->created_at_ms;
    out["updatedAtMs"] = account->updated_at_ms;
  } else {
    out["secretKeyHint"] = nullptr;
    out["webhookSecretHint"] = nullptr;
    out["createdAtMs"] = nullptr;
    out["updatedAtMs"] = nullptr;
  }
  return out;
}

// "scheme://host[:port]" of an absolute http(s) URL; nullopt for anything else.
std::optional<std::string> url_origin(std::string_view url) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::nullopt;
  std::string_view scheme = url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") return std::nullopt;
  size_t host_end = url.find_first_of("/?#", scheme_end + 3);
  std::string_view origin = url.substr(0, host_end);
  if (origin.size() <= scheme_end + 3) return std::nullopt;
  for (char c : origin)
    if (static_cast<unsigned char>(c) <= ' ' || c == '@' || c == '\\') return std::nullopt;
  return std::string(origin);
}

// A URL a checkout may send the end user to. From a browser (a publishable key), it must be on
// one of the project's allowed origins (or, in --demo, this server), so no page can use this
// project's checkout to send its users elsewhere.
Result<std::optional<std::string>> redirect_url(const ApiContext& api, const Call& call,
                                                std::string_view name) {
  auto url = call.optional_text(name);
  if (!url) return std::optional<std::string>();
  auto origin = url_origin(*url);
  if (!origin) {
    return invalid_field(quoted_field(name) + " must be an absolute http or https URL", name);
  }
  if (call.caller->kind == KeyKind::kPublishable) {
    const Project& project = call.caller->project;
    auto listed = [&](const std::vector<std::string>& origins) {
      return std::find(origins.begin(), origins.end(), *origin) != origins.end();
    };
    if (!listed(project.settings.allowed_origins) && !(project.demo && listed(api.demo_origins))) {
      return fail(ErrorCode::kForbidden,
                  quoted_field(name) +
                      " is not on one of this project's allowedOrigins; with a "
                      "publishable key a checkout returns only there",
                  std::string(name));
    }
  }
  return url;
}

std::string with_session_id(std::string url, const std::string& id) {
  const std::string placeholder = "{CHECKOUT_SESSION_ID}";
  for (size_t at = url.find(placeholder); at != std::string::npos;
       at = url.find(placeholder, at + id.size())) {
    url.replace(at, placeholder.size(), id);
  }
  return url;
}

std::string html_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// "19.00 USD", exact.
std::string price_text(int64_t micros, const std::string& currency) {
  std::string code = currency;
  for (char& c : code) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  int decimals = money::minor_unit_decimals(currency);
  std::string digits = money::format_usd(money::Micros(micros));  // 2 to 6 decimals
  size_t dot = digits.find('.');
  if (decimals == 0 && dot != std::string::npos) digits = digits.substr(0, dot);
  if (decimals == 3 && dot != std::string::npos && digits.size() - dot - 1 < 3) digits += "0";
  return digits + " " + code;
}

Response html_response(http::status status, std::string body) {
  Response response{status, 11};
  response.set(http::field::content_type, "text/html; charset=utf-8");
  response.set(http::field::cache_control, "no-store");
  response.set("content-security-policy",
               "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http: https:; "
               "frame-ancestors 'none'");
  response.set("x-frame-options", "DENY");
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

std::string page(std::string_view title, std::string_view content) {
  std::string out =
      "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>";
  out.append(html_escape(title));
  out.append(
      "</title><style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;"
      "padding:0 1rem;color:#111}.note{background:#fff4d6;border:1px solid #e5c46a;padding:.75rem;"
      "border-radius:.5rem}.price{font-size:2rem;margin:.5rem 0}button,a.button{font-size:1rem;"
      "padding:.6rem 1.2rem;border-radius:.4rem;border:1px solid #333;background:#111;color:#fff;"
      "cursor:pointer;text-decoration:none;display:inline-block}a.cancel{margin-left:1rem}"
      "</style></head><body>");
  out.append(content);
  out.append("</body></html>");
  return out;
}

Response redirect(const std::string& url) {
  Response response{http::status::see_other, 11};
  response.set(http::field::location, url);
  response.set(http::field::cache_control, "no-store");
  response.prepare_payload();
  return response;
}

// A simulated checkout by its id alone (its pages carry no key); nullopt for any other id.
Result<std::optional<Checkout>> simulated_checkout(ApiContext& api, const std::string& id) {
  if (id.rfind(kSimulatedPrefix, 0) != 0) return std::optional<Checkout>();
  auto found = api.store.get_checkout_by_id(id);
  if (!found || !found.value() || found.value()->simulated) return found;
  return std::optional<Checkout>();
}

std::string mode_of(const Checkout& c) {
  return c.product_kind == "plan" ? "subscription" : "payment";
}

ojson render_checkout(const Checkout& c) {
  return {{"object", "checkout"},
          {"id", c.id},
          {"url", c.url},
          {"mode", mode_of(c)},
          {"product", c.product},
          {"credits", c.credits},
          {"priceMicros", c.price_micros},
          {"currency", c.currency},
          {"simulated", c.simulated},
          {"status", c.status},
          {"fulfilled", c.fulfilled_at_ms.has_value()},
          {"expiresAtMs", c.expires_at_ms}};
}

// Answers a checkout with its end user's account.
void answer_checkout(ApiContext& api, const Checkout& c, const Reply& reply) {
  auto account = api.store.get_account(c.project_id, c.user_id, api.now_ms());
  if (!account) return reply(account.error());
  auto subscription = api.store.latest_subscription(c.project_id, c.user_id);
  if (!subscription) return reply(subscription.error());
  ojson out = render_checkout(c);
  out["account"] = render_account(account.value(), subscription.value());
  reply(json_response(http::status::ok, out));
}

// The customer portal: Stripe's, or the simulated page.
void open_portal(ApiContext& api, const std::string& project_id, const std::string& user_id,
                 const std::string& return_url, std::function<void(Result<std::string>)> then) {
  auto keys = stripe_keys(deps_of(api), project_id);
  if (!keys) return then(keys.error());
  if (!keys.value() || api.stripe == nullptr) {
    std::string url = api.public_url + "/checkout/simulate/portal";
    if (!return_url.empty()) url += "?return=" + return_url;  // shown as a link, escaped
    return then(url);
  }
  std::string secret = keys.value()->secret_key;
  with_stripe_customer(
      api, secret, project_id, user_id,
      [&api, secret, return_url, then = std::move(then)](Result<std::string> customer) {
        if (!customer) return then(customer.error());
        json params = {{"customer", customer.value()}};
        if (!return_url.empty()) params["return_url"] = return_url;
        api.stripe->post(secret, "/v1/billing_portal/sessions", params, new_id("tollgate-portal-"),
                         [then](Result<json> session) {
                           if (!session) return then(session.error());
                           std::string url = json_read::string_or(session.value(), "url", "");
                           if (url.empty()) {
                             return then(fail(ErrorCode::kUpstreamError,
                                              "Stripe answered a portal session "
                                              "without a url",
                                              "stripe"));
                           }
                           then(url);
                         });
      });
}

void create_stripe_session(ApiContext& api, const std::string& secret, Checkout checkout,
                           const std::string& interval, const Reply& reply) {
  auto minor = money::to_minor_units(money::Micros(checkout.price_micros), checkout.currency);
  if (!minor) return reply(minor.error());
  std::string project_id = checkout.project_id;
  std::string user_id = checkout.user_id;
  with_stripe_customer(
      api, secret, project_id, user_id,
      [&api, secret, checkout = std::move(checkout), unit = minor.value(), interval,
       reply](Result<std::string> customer) mutable {
        if (!customer) return reply(customer.error());
        bool plan = checkout.product_kind == "plan";
        json metadata = {{"tollgate_project", checkout.project_id},
                         {"tollgate_user", checkout.user_id},
                         {"tollgate_product", checkout.product}};
        if (plan) metadata["tollgate_plan"] = checkout.product;
        json price = {
            {"currency", checkout.currency},
            {"unit_amount", unit},
            {"product_data",
             {{"name", checkout.product}, {"metadata", {{"tollgate_product", checkout.product}}}}}};
        if (plan) price["recurring"] = {{"interval", interval}};
        json params = {{"mode", plan ? "subscription" : "payment"},
                       {"customer", customer.value()},
                       {"client_reference_id", checkout.user_id},
                       {"success_url", checkout.success_url},
                       {"cancel_url", checkout.cancel_url},
                       {"line_items", json::array({{{"price_data", price}, {"quantity", 1}}})},
                       {"metadata", metadata}};
        if (plan) {
          params["subscription_data"] = {{"metadata", metadata}};
        } else {
          params["payment_intent_data"] = {{"metadata", metadata}};
        }
        api.stripe->post(
            secret, "/v1/checkout/sessions", params, "tollgate-" + checkout.id,
            [&api, checkout, reply](Result<json> session) mutable {
              if (!session) return reply(session.error());
              std::string id = json_read::string_or(session.value(), "id", "");
              std::string url = json_read::string_or(session.value(), "url", "");
              if (id.rfind("cs_", 0) != 0 || url.empty()) {
                return reply(fail(ErrorCode::kUpstreamError,
                                  "Stripe answered a checkout session without an id or url",
                                  "stripe"));
              }
              checkout.id = id.substr(0, 255);
              checkout.url = url.substr(0, kUrlBytesMax);
              if (auto expires = json_read::int64_or(session.value(), "expires_at", 0); expires > 0)
                checkout.expires_at_ms = expires * 1000;
              if (auto stored = api.store.put_checkout(checkout); !stored)
                return reply(stored.error());
              reply(json_response(http::status::ok, render_checkout(checkout)));
            });
      });
}

}  // namespace

void with_stripe_customer(ApiContext& api, const std::string& secret_key,
                          const std::string& project_id, const std::string& user_id,
                          std::function<void(Result<std::string>)> then) {
  auto known = api.store.find_customer(project_id, user_id);
  if (!known) return then(known.error());
  if (known.value()) return then(*known.value());
  json params = {{"metadata", {{"tollgate_project", project_id}, {"tollgate_user", user_id}}}};
  std::string key = "tollgate-customer-" + sha256_hex(project_id + "/" + user_id).substr(0, 32);
  api.stripe->post(secret_key, "/v1/customers", params, key,
                   [&api, project_id, user_id, then = std::move(then)](Result<json> customer) {
                     if (!customer) return then(customer.error());
                     std::string id = json_read::string_or(customer.value(), "id", "");
                     if (id.rfind("cus_", 0) != 0) {
                       return then(fail(ErrorCode::kUpstreamError,
                                        "Stripe answered a customer without an id", "stripe"));
                     }
                     then(api.store.put_customer(project_id, user_id, id, api.now_ms()));
                   });
}

Result<std::optional<StripeKeys>> project_stripe_keys(ApiContext& api,
                                                      const std::string& project_id) {
  return stripe_keys(deps_of(api), project_id);
}

Result<StripeAccount> set_stripe_keys(ApiContext& api, const std::string& project,
                                      const std::string& secret, const std::string& webhook) {
  if (secret.rfind("sk_", 0) != 0 && secret.rfind("rk_", 0) != 0)
    return invalid_field("'secretKey' is a Stripe secret key, sk_… or rk_…", "secretKey");
  if (webhook.rfind("whsec_", 0) != 0)
    return invalid_field("'webhookSecret' is a webhook signing secret, whsec_…", "webhookSecret");
  if (api.secrets == nullptr) return fail(ErrorCode::kInternal, "no secret box");
  auto sealed_secret = api.secrets->seal(secret, stripe_key_binding(project, "secret_key"));
  auto sealed_webhook = api.secrets->seal(webhook, stripe_key_binding(project, "webhook_secret"));
  if (!sealed_secret) return sealed_secret.error();
  if (!sealed_webhook) return sealed_webhook.error();
  auto existing = api.store.get_stripe_account(project);
  if (!existing) return existing.error();
  int64_t now = api.now_ms();
  StripeAccount account{project,
                        sealed_secret.value(),
                        hint(secret),
                        sealed_webhook.value(),
                        hint(webhook),
                        existing.value() ? existing.value()->created_at_ms : now,
                        now};
  if (auto stored = api.store.put_stripe_account(account); !stored) return stored.error();
  return account;
}

void add_billing_routes(Router& router, ApiContext& api) {
  // ---- Stripe keys ----
  add_route(router, api,
            {http::verb::put,
             "/v1/billing/stripe",
             Who::kSecretKey,
             "Stores the project's Stripe keys, sealed",
             "StripeAccount",
             Body::kJson,
             false,
             false,
             {{"secretKey", FieldType::kString, true, 8, kStripeKeyBytesMax},
              {"webhookSecret", FieldType::kString, true, 8, kStripeKeyBytesMax}}},
            [&api](const Call& call) -> Result<Response> {
              const std::string& project = call.caller->project.id;
              auto account =
                  set_stripe_keys(api, project, call.text("secretKey"), call.text("webhookSecret"));
              if (!account) return account.error();
              return json_response(http::status::ok,
                                   render_stripe_account(api, project, account.value()));
            });
  add_route(
      router, api,
      {http::verb::get, "/v1/billing/stripe", Who::kSecretKey,
       "The project's Stripe keys, as hints, and the webhook URL to register", "StripeAccount"},
      [&api](const Call& call) -> Result<Response> {
        const std::string& project = call.caller->project.id;
        auto account = api.store.get_stripe_account(project);
        if (!account) return account.error();
        return json_response(http::status::ok,
                             render_stripe_account(api, project, account.value()));
      });
  add_route(router, api,
            {http::verb::delete_, "/v1/billing/stripe", Who::kSecretKey,
             "Removes the project's Stripe keys: checkout is simulated again", "StripeAccount"},
            [&api](const Call& call) -> Result<Response> {
              const std::string& project = call.caller->project.id;
              if (auto deleted = api.store.delete_stripe_account(project); !deleted)
                return deleted.error();
              return json_response(http::status::ok,
                                   render_stripe_account(api, project, std::nullopt));
            });

  // ---- Checkout ----
  add_async_route(
      router, api,
      {http::verb::post,
       "/v1/checkout",
       Who::kAnyKey,
       "Starts a checkout for a credit pack or a plan: Stripe Checkout, or simulated",
       "Checkout",
       Body::kJson,
       /*browser=*/true,
       false,
       {{"userId", FieldType::kString, true, 1, kUserIdBytesMax},
        {"product",
         FieldType::kString,
         true,
         1,
         64,
         false,
         {},
         "a credit pack's id or a plan's name"},
        {"successUrl",
         FieldType::kString,
         false,
         1,
         kUrlBytesMax,
         false,
         {},
         "where the end user lands once paid; {CHECKOUT_SESSION_ID} is replaced"},
        {"cancelUrl", FieldType::kString, false, 1, kUrlBytesMax}}},
      [&api](const Call& call, const Reply& reply) {
        const Project& project = call.caller->project;
        std::string user = call.text("userId");
        if (auto checked = check_text(user, "userId", kUserIdBytesMax); !checked)
          return reply(checked.error());
        auto product = find_product(project.settings, call.text("product"));
        if (!product) {
          return reply(invalid_field(
              "no credit pack or priced plan '" + call.text("product") + "' in this project",
              "product"));
        }
        auto success = redirect_url(api, call, "successUrl");
        auto cancel = redirect_url(api, call, "cancelUrl");
        if (!success) return reply(success.error());
        if (!cancel) return reply(cancel.error());
        auto keys = stripe_keys(deps_of(api), project.id);
        if (!keys) return reply(keys.error());
        bool with_stripe = keys.value().has_value() && api.stripe != nullptr;
        // A live subscription is changed in the portal: never a second one.
        if (product->kind == Product::Kind::kPlan) {
          auto latest = api.store.latest_subscription(project.id, user);
          if (!latest) return reply(latest.error());
          if (latest.value() && subscription_live(latest.value()->status)) {
            return open_portal(api, project.id, user, success.value().value_or(""),
                               [reply](Result<std::string> url) {
                                 if (!url) return reply(url.error());
                                 reply(json_response(http::status::ok, ojson{{"object", "checkout"},
                                                                             {"id", nullptr},
                                                                             {"url", url.value()},
                                                                             {"mode", "portal"}}));
                               });
          }
        }
        int64_t now = api.now_ms();
        Checkout c;
        c.id = new_id(kSimulatedPrefix);
        c.project_id = project.id;
        c.user_id = user;
        c.product = product->id;
        c.product_kind = product->kind == Product::Kind::kPlan ? "plan" : "pack";
        c.credits = product->credits;
        c.price_micros = product->price_micros;
        c.currency = product->currency;
        c.simulated = !with_stripe;
        c.success_url = success.value().value_or(api.public_url +
                                                 "/checkout/done?session_id={CHECKOUT_SESSION_ID}");
        c.cancel_url = cancel.value().value_or(api.public_url + "/checkout/done?canceled=1");
        c.created_at_ms = now;
        c.expires_at_ms = now + kCheckoutTtlMs;
        c.updated_at_ms = now;
        if (with_stripe)
          return create_stripe_session(api, keys.value()->secret_key, c, product->interval, reply);
        c.url = api.public_url + "/checkout/simulate/" + c.id;
        if (auto stored = api.store.put_checkout(c); !stored) return reply(stored.error());
        reply(json_response(http::status::ok, render_checkout(c)));
      });

  add_async_route(
      router, api,
      {http::verb::get, "/v1/checkout/{id}", Who::kAnyKey,
       "A checkout's status, fulfilling it if Stripe says it is paid; with the account",
       "CheckoutStatus", Body::kNone, /*browser=*/true},
      [&api](const Call& call, const Reply& reply) {
        const std::string& project = call.caller->project.id;
        auto found = api.store.get_checkout(project, call.param("id"));
        if (!found) return reply(found.error());
        if (!found.value()) return reply(fail(ErrorCode::kNotFound, "no such checkout", "id"));
        Checkout c = *found.value();
        int64_t now = api.now_ms();
        if (c.status == "open" && now >= c.expires_at_ms && c.simulated) c.status = "expired";
        if (c.fulfilled_at_ms || c.simulated || c.status == "expired" || api.stripe == nullptr)
          return answer_checkout(api, c, reply);
        auto keys = stripe_keys(deps_of(api), project);
        if (!keys) return reply(keys.error());
        if (!keys.value()) return answer_checkout(api, c, reply);
        // Not fulfilled yet: ask Stripe, and fulfil through the same function as the webhook.
        api.stripe->get(keys.value()->secret_key, "/v1/checkout/sessions/" + c.id,
                        [&api, c, reply](Result<json> session) {
                          if (!session) return reply(session.error());
                          fulfil(deps_of(api), c, session_state(session.value()),
                                 [&api, reply](Result<Checkout> after) {
                                   if (!after) return reply(after.error());
                                   answer_checkout(api, after.value(), reply);
                                 });
                        });
      });

  add_async_route(router, api,
                  {http::verb::post,
                   "/v1/billing/portal",
                   Who::kAnyKey,
                   "A customer-portal session for an end user: Stripe's, or a simulated page",
                   "PortalSession",
                   Body::kJson,
                   /*browser=*/true,
                   false,
                   {{"userId", FieldType::kString, true, 1, kUserIdBytesMax},
                    {"returnUrl", FieldType::kString, false, 1, kUrlBytesMax}}},
                  [&api](const Call& call, const Reply& reply) {
                    std::string user = call.text("userId");
                    if (auto checked = check_text(user, "userId", kUserIdBytesMax); !checked)
                      return reply(checked.error());
                    auto back = redirect_url(api, call, "returnUrl");
                    if (!back) return reply(back.error());
                    open_portal(api, call.caller->project.id, user, back.value().value_or(""),
                                [reply](Result<std::string> url) {
                                  if (!url) return reply(url.error());
                                  reply(json_response(
                                      http::status::ok,
                                      ojson{{"object", "portal_session"}, {"url", url.value()}}));
                                });
                  });

  // ---- The Stripe webhook: verified on the raw bytes before anything is read ----
  add_async_route(
      router, api,
      {http::verb::post, "/v1/webhooks/stripe/{projectId}", Who::kNone,
       "Receives Stripe's events for a project, verified by their Stripe-Signature",
       "WebhookReceipt"},
      [&api](const Call& call, const Reply& reply) {
        const std::string& project = call.param("projectId");
        const std::string& payload = call.request.body();
        std::string header(call.request["stripe-signature"]);
        auto keys = stripe_keys(deps_of(api), project);
        if (!keys) return reply(keys.error());
        std::string secret = keys.value() ? keys.value()->webhook_secret : std::string();
        if (auto verified = verify_stripe_signature(header, payload, secret, api.now_ms() / 1000);
            !verified) {
          return reply(verified.error());
        }
        if (payload.size() > kStripeEventBytesMax) {
          return reply(invalid_field("the event is too large", "body"));
        }
        auto event = json_read::parse(payload, kStripeEventDepthMax);
        if (!event || !event.value().is_object())
          return reply(invalid_field("the event is not a JSON object", "body"));
        std::string id = json_read::string_or(event.value(), "id", "");
        std::string type = json_read::string_or(event.value(), "type", "");
        if (id.empty() || id.size() > 255) return reply(invalid_field("the event has no id", "id"));
        auto seen = api.store.find_stripe_event(project, id);
        if (!seen) return reply(seen.error());
        if (seen.value()) {
          return reply(json_response(
              http::status::ok,
              ojson{{"received", true}, {"duplicate", true}, {"outcome", seen.value()->outcome}}));
        }
        int64_t created = json_read::int64_or(event.value(), "created", 0);
        handle_stripe_event(
            deps_of(api), project, event.value(),
            [&api, project, id, type, created, reply](Result<std::string> outcome) {
              // A failure to act (the store down) is a 503: Stripe delivers the event again.
              if (!outcome) return reply(outcome.error());
              if (api.log != nullptr) {
                api.log->info("billing.stripe_event", {{"project_id", project},
                                                       {"event", id},
                                                       {"type", type.substr(0, 64)},
                                                       {"outcome", outcome.value()}});
              }
              auto recorded = api.store.record_stripe_event(
                  {project, id, type.substr(0, 128), created, outcome.value(), api.now_ms()});
              if (!recorded) return reply(recorded.error());
              reply(json_response(http::status::ok, ojson{{"received", true},
                                                          {"duplicate", !recorded.value()},
                                                          {"outcome", outcome.value()}}));
            });
      });

  add_route(
      router, api,
      {http::verb::get,
       "/v1/billing/events",
       Who::kSecretKey,
       "The Stripe events received, newest first, with what each did",
       "StripeEventList",
       Body::kNone,
       false,
       false,
       {{"limit", FieldType::kInteger, false, 1, kPageLimitMax, false, {}, "at most this many"},
        {"starting_after",
         FieldType::kString,
         false,
         1,
         255,
         false,
         {},
         "the last event id of the page before"}}},
      [&api](const Call& call) -> Result<Response> {
        auto limit = int_param(call.query, "limit", 1, kPageLimitMax, kPageLimitDefault);
        if (!limit) return limit.error();
        Page page{limit.value() + 1, std::nullopt};
        if (auto after = call.query.find("starting_after");
            after != call.query.end() && !after->second.empty()) {
          page.starting_after = after->second;
        }
        auto events = api.store.list_stripe_events(call.caller->project.id, page);
        if (!events) return events.error();
        bool more = static_cast<int64_t>(events.value().size()) > limit.value();
        if (more) events.value().pop_back();
        ojson data = ojson::array();
        for (const StripeEventRecord& e : events.value()) {
          data.push_back({{"id", e.event_id},
                          {"type", e.type},
                          {"created", e.created},
                          {"outcome", e.outcome},
                          {"receivedAtMs", e.received_at_ms}});
        }
        return json_response(http::status::ok, ojson{{"data", data}, {"hasMore", more}});
      });

  // ---- The simulated pages (no Stripe keys) ----
  router.add_async(
      http::verb::get, "/checkout/simulate/portal",
      [](const Request& request, const PathParams&, const Respond& respond) {
        std::string back;
        std::string_view target = request.target();
        if (size_t at = target.find("return="); at != std::string_view::npos)
          back = std::string(target.substr(at + 7));
        std::string content =
            "<p class=\"note\" role=\"note\"><b>This is a simulated customer portal.</b> "
            "With Stripe keys set, this is Stripe's billing portal, where an end user "
            "changes or cancels their plan.</p><h1>Billing</h1>";
        if (url_origin(back)) {
          content += "<p><a class=\"button\" href=\"" + html_escape(back) + "\">Return</a></p>";
        }
        respond(html_response(http::status::ok, page("Simulated portal", content)));
      });
  router.add_async(
      http::verb::get, "/checkout/simulate/{id}",
      [&api](const Request&, const PathParams& params, const Respond& respond) {
        auto found = simulated_checkout(api, params.at("id"));
        if (!found) return respond(error_response(found.error()));
        if (!found.value()) {
          return respond(html_response(http::status::not_found,
                                       page("Checkout not found", "<h1>Checkout not found</h1>")));
        }
        const Checkout& c = *found.value();
        std::string what = c.product_kind == "plan"
                               ? "Plan <b>" + html_escape(c.product) + "</b>, " +
                                     std::to_string(c.credits) + " credits each period"
                               : "<b>" + std::to_string(c.credits) + " credits</b> (" +
                                     html_escape(c.product) + ")";
        std::string content =
            "<p class=\"note\" role=\"note\"><b>This is a simulated checkout.</b> No money "
            "moves and no card is asked for: this Tollgate project has no Stripe keys. "
            "With keys set, this page is Stripe Checkout.</p><h1>Checkout</h1><p>" +
            what + "</p><p class=\"price\">" + html_escape(price_text(c.price_micros, c.currency)) +
            (c.product_kind == "plan" ? " a period" : "") + "</p>";
        if (c.status != "open" || c.fulfilled_at_ms) {
          content += "<p>This checkout is " + html_escape(c.status) + ".</p>";
        } else {
          content += "<form method=\"post\" action=\"/checkout/simulate/" + html_escape(c.id) +
                     "/pay\"><button type=\"submit\" id=\"pay\">Pay</button><a "
                     "class=\"cancel\" id=\"cancel\" href=\"" +
                     html_escape(c.cancel_url) + "\">Cancel</a></form>";
        }
        respond(html_response(http::status::ok, page("Simulated checkout", content)));
      });
  router.add_async(
      http::verb::post, "/checkout/simulate/{id}/pay",
      [&api](const Request&, const PathParams& params, const Respond& respond) {
        auto found = simulated_checkout(api, params.at("id"));
        if (!found) return respond(error_response(found.error()));
        if (!found.value())
          return respond(error_response(fail(ErrorCode::kNotFound, "no such checkout", "id")));
        Checkout c = *found.value();
        if (c.status == "open" && api.now_ms() >= c.expires_at_ms) {
          return respond(error_response(fail(ErrorCode::kConflict, "the checkout expired", "id")));
        }
        // Pay: the very fulfilment the webhook runs, with what Stripe would say of a paid one.
        SessionState paid{"complete", "paid", "", "", "", ""};
        fulfil(deps_of(api), c, paid, [respond](Result<Checkout> after) {
          if (!after) return respond(error_response(after.error()));
          respond(redirect(with_session_id(after.value().success_url, after.value().id)));
        });
      });
  router.add_async(http::verb::get, "/checkout/done",
                   [](const Request&, const PathParams&, const Respond& respond) {
                     respond(html_response(
                         http::status::ok,
                         page("Checkout", "<h1>Thank you</h1><p>You can close this page.</p>")));
                   });
  for (auto [method, path, summary] :
       {std::tuple{http::verb::get, "/checkout/simulate/portal", "The simulated customer portal"},
        std::tuple{http::verb::get, "/checkout/simulate/{id}",
                   "The simulated checkout page: the product, its price, Pay and Cancel"},
        std::tuple{http::verb::post, "/checkout/simulate/{id}/pay",
                   "Pays a simulated checkout, fulfils it, and redirects to its successUrl"},
        std::tuple{http::verb::get, "/checkout/done", "Where a checkout returns by default"}}) {
    RouteDoc doc = public_route_doc(summary, "HtmlPage");
    doc.response_media_type = "text/html";
    router.describe(method, path, std::move(doc));
  }
}

}  // namespace tollgate::server
