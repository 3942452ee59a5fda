// The /v1 API: what every handler shares, and the functions that register each area's routes.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "server/ai/http_client.h"
#include "server/ai/pricing_catalog.h"
#include "server/api/runtime_cache.h"
#include "server/auth/auth.h"
#include "server/auth/secret_box.h"
#include "server/auth/signing_keys.h"
#include "server/billing/billing.h"
#include "server/billing/stripe_api.h"
#include "server/http/router.h"
#include "server/ledger/hold_close.h"
#include "server/ledger/ledger_writer.h"
#include "server/metrics/metrics.h"
#include "server/store/store.h"

namespace tollgate::server {

struct ApiContext {
  Store& store;
  LedgerWriter& ledger;
  Authenticator& auth;
  std::string admin_token_hash;  // SHA-256 of the instance admin token
  Clock now_ms = system_now_ms;
  const SecretBox* secrets = nullptr;       // seals provider keys; set before serving
  SigningKeys* signing = nullptr;           // signs runtime tokens; set before serving
  const PricingCatalog* pricing = nullptr;  // model prices; set before serving
  HttpClient* upstream = nullptr;           // calls model providers; set before serving
  UpstreamTimeouts upstream_timeouts{};     // the timeouts `upstream` was made with
  RunAfter run_after{};                     // timers for retries (hold closes); may be empty
  Logger* log = nullptr;                    // the owner's log (provider failures)
  Metrics* metrics = nullptr;               // counts meter decisions and provider calls
  RuntimeCache runtime{};                   // features and provider credentials, briefly
  // The server's own origins in --demo mode (http://localhost:<port>, http://127.0.0.1:<port>),
  // which browser routes allow for the demo project; set before serving.
  std::vector<std::string> demo_origins{};
  const StripeApi* stripe = nullptr;  // calls Stripe (STRIPE_API_BASE); set before serving
  std::string public_url{};           // where this server is reached: webhook and page URLs
};

// The largest cost one meter call may have, and the largest single credit grant.
inline constexpr int64_t kMeterCostMax = 1'000'000;
inline constexpr int64_t kCreditAmountMax = 1'000'000'000'000;
inline constexpr int64_t kPageLimitMax = 100;
inline constexpr int64_t kPageLimitDefault = 20;
inline constexpr size_t kIdempotencyKeyBytesMax = 255;

// Idempotency-Key: optional; 1..kIdempotencyKeyBytesMax printable ASCII characters, scoped to
// the caller's key. The request it stands for is the method, the path and the parsed body with
// its keys sorted and without a "key" field, so a retry that spells the same JSON differently
// (or moves the API key to a header) is still the same request.
Result<std::optional<Idempotency>> idempotency_of(const Request& request, const Caller& caller,
                                                  const nlohmann::json& body);

void add_project_routes(Router& router, ApiContext& api);
void add_meter_routes(Router& router, ApiContext& api);
void add_account_routes(Router& router, ApiContext& api);
void add_operation_routes(Router& router, ApiContext& api);
void add_provider_routes(Router& router, ApiContext& api);
void add_runtime_routes(Router& router, ApiContext& api);
void add_invoke_routes(Router& router, ApiContext& api);
// GET /metrics (admin token): api.metrics in the Prometheus text format.
void add_metrics_routes(Router& router, ApiContext& api);
// Stripe keys, checkout, the customer portal, the Stripe webhook and the simulated pages.
void add_billing_routes(Router& router, ApiContext& api);
// User keys (tgk_…): POST/GET/PATCH/DELETE /v1/keys…, and GET /v1/key.
void add_user_key_routes(Router& router, ApiContext& api);
// The gateway (user keys): POST /v1/chat/completions, GET /v1/models, POST /v1/messages,
// POST /v1/quote.
void add_gateway_routes(Router& router, ApiContext& api);
// The project's Stripe keys, opened (none: its checkouts are simulated).
Result<std::optional<StripeKeys>> project_stripe_keys(ApiContext& api,
                                                      const std::string& project_id);
// The end user's Stripe Customer: stored, or created once (a deterministic Idempotency-Key makes
// two concurrent creations one). Needs api.stripe.
void with_stripe_customer(ApiContext& api, const std::string& secret_key,
                          const std::string& project_id, const std::string& user_id,
                          std::function<void(Result<std::string>)> then);
// Usage reports and invoicing (sk): GET /v1/usage, POST /v1/usage/invoice-items.
void add_usage_routes(Router& router, ApiContext& api);
// Seals and stores a project's Stripe keys (PUT /v1/billing/stripe, and --demo's environment).
Result<StripeAccount> set_stripe_keys(ApiContext& api, const std::string& project,
                                      const std::string& secret, const std::string& webhook);

// The associated data a provider key is sealed with: "<project id>/<provider name>".
std::string provider_key_binding(std::string_view project_id, std::string_view name);

// A new project with fresh keys; the key strings are returned once and only their hashes kept.
struct CreatedProject {
  Project project;
  std::string publishable_key;
  std::string secret_key;
};
Result<CreatedProject> create_project(Store& store, std::string name, bool demo, int64_t now_ms);

// The instance admin token: the configured one, or one made and stored (hashed) on first start.
// `created` receives the new token when this call made it, so the caller can show it once.
Result<std::string> admin_token_hash(Store& store, const std::optional<std::string>& configured,
                                     std::optional<std::string>& created);
// kUnauthenticated unless the request carries the instance admin token; `what` names the act.
Result<void> require_admin(const ApiContext& api, const Request& request, std::string_view what);

}  // namespace tollgate::server
