#include "server/billing/stripe_api.h"

#include "server/billing/stripe_wire.h"
#include "tollgate/core/json_read.h"

namespace tollgate::server {
namespace {

using json = nlohmann::json;

// Stripe's error answer, {"error":{"type","code","message","param"}}, as an Error.
Error stripe_error(const UpstreamFailure& failure) {
  json answer = json::parse(failure.body, nullptr, false);
  std::string message = "Stripe ";
  if (failure.status != 0) {
    message += "answered " + std::to_string(failure.status);
  } else {
    message += failure.error.message;
  }
  if (const json* error = json_read::find(answer, "error");
      error != nullptr && error->is_object()) {
    std::string said = json_read::string_or(*error, "message", "");
    if (!said.empty()) message += ": " + said.substr(0, 500);
  }
  Error error = failure.error;
  error.code = failure.error.code == ErrorCode::kUpstreamTimeout ? ErrorCode::kUpstreamTimeout
                                                                 : ErrorCode::kUpstreamError;
  error.message = std::move(message);
  error.param = "stripe";
  return error;
}

}  // namespace

void StripeApi::post(const std::string& secret_key, const std::string& path, const json& params,
                     const std::string& idempotency_key, Done done) const {
  call("POST", secret_key, path, form_encode(params), idempotency_key, std::move(done));
}

void StripeApi::get(const std::string& secret_key, const std::string& path, Done done) const {
  call("GET", secret_key, path, "", "", std::move(done));
}

void StripeApi::call(std::string method, const std::string& secret_key, const std::string& path,
                     std::string body, const std::string& idempotency_key, Done done) const {
  UpstreamRequest request;
  request.url = base_ + path;
  request.method = std::move(method);
  request.body = std::move(body);
  request.headers = {{"Authorization", "Bearer " + secret_key},
                     {"Stripe-Version", std::string(kStripeVersion)},
                     {"Content-Type", "application/x-www-form-urlencoded"}};
  if (!idempotency_key.empty()) request.headers.emplace_back("Idempotency-Key", idempotency_key);
  struct State {
    std::string answer;
    bool too_long = false;
    Done done;
  };
  auto state = std::make_shared<State>();
  state->done = std::move(done);
  UpstreamHandlers handlers;
  handlers.on_body = [state](std::string_view piece) {
    if (state->answer.size() + piece.size() > kStripeAnswerBytesMax) {
      state->too_long = true;
      return;
    }
    state->answer.append(piece);
  };
  handlers.on_done = [state](std::optional<UpstreamFailure> failure) {
    if (failure) return state->done(stripe_error(*failure));
    if (state->too_long) {
      return state->done(
          fail(ErrorCode::kUpstreamError,
               "Stripe's answer is longer than " + std::to_string(kStripeAnswerBytesMax) + " bytes",
               "stripe"));
    }
    json answer = json::parse(state->answer, nullptr, false);
    if (!answer.is_object()) {
      return state->done(
          fail(ErrorCode::kUpstreamError, "Stripe's answer is not a JSON object", "stripe"));
    }
    state->done(std::move(answer));
  };
  http_.post(std::move(request), std::move(handlers));
}

}  // namespace tollgate::server
