// Calls to Stripe's REST API: form-encoded, with the pinned Stripe-Version and an
// Idempotency-Key on every POST, through the HttpClient (and so the outbound guard, its
// timeouts and its retries of 429s, 5xx and unreachable attempts, which the Idempotency-Key
// makes safe). The answer is read with a size limit and parsed; a Stripe error answer becomes
// kUpstreamError carrying Stripe's own message.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "server/ai/http_client.h"
#include "tollgate/core/result.h"

namespace tollgate::server {

inline constexpr size_t kStripeAnswerBytesMax = size_t{1} << 20;

class StripeApi {
 public:
  using Done = std::function<void(Result<nlohmann::json>)>;

  // `base`: https://api.stripe.com, or STRIPE_API_BASE for tests.
  StripeApi(HttpClient& http, std::string base) : http_(http), base_(std::move(base)) {}

  // POST `path` (e.g. "/v1/checkout/sessions") with `params` form-encoded. `done` runs once.
  void post(const std::string& secret_key, const std::string& path, const nlohmann::json& params,
            const std::string& idempotency_key, Done done) const;
  void get(const std::string& secret_key, const std::string& path, Done done) const;

  const std::string& base() const { return base_; }

 private:
  void call(std::string method, const std::string& secret_key, const std::string& path,
            std::string body, const std::string& idempotency_key, Done done) const;

  HttpClient& http_;
  std::string base_;
};

}  // namespace tollgate::server
