#include "server/http/error_response.h"

#include <gtest/gtest.h>

namespace tollgate::server {
namespace {

TEST(ErrorResponse, EveryCodeMapsToAnErrorStatus) {
  for (int32_t i = 0; i < kErrorCodeCount; ++i) {
    auto code = static_cast<ErrorCode>(i);
    auto status = static_cast<unsigned>(http_status(code));
    EXPECT_GE(status, 400u) << error_code_name(code);
    EXPECT_LT(status, 600u) << error_code_name(code);
  }
}

TEST(ErrorResponse, RequestLinesOfFailuresAreErrorsAndUpstreamOnesWarnings) {
  EXPECT_EQ(request_log_level(200), "info");
  EXPECT_EQ(request_log_level(404), "info");
  EXPECT_EQ(request_log_level(499), "info");
  EXPECT_EQ(request_log_level(500), "error");
  EXPECT_EQ(request_log_level(503), "error");
  EXPECT_EQ(request_log_level(502), "warn");
  EXPECT_EQ(request_log_level(504), "warn");
  // By code: only the provider's failures are warnings; every other 5xx is an error.
  for (int32_t i = 0; i < kErrorCodeCount; ++i) {
    auto code = static_cast<ErrorCode>(i);
    unsigned status = static_cast<unsigned>(http_status(code));
    bool upstream = code == ErrorCode::kUpstreamError || code == ErrorCode::kUpstreamTimeout;
    std::string_view expected = upstream ? "warn" : status >= 500 ? "error" : "info";
    EXPECT_EQ(request_log_level(status), expected) << error_code_name(code);
  }
}

TEST(ErrorResponse, TableMatchesDesign) {
  EXPECT_EQ(http_status(ErrorCode::kInvalidArgument), http::status::bad_request);
  EXPECT_EQ(http_status(ErrorCode::kUnauthenticated), http::status::unauthorized);
  EXPECT_EQ(http_status(ErrorCode::kInsufficientCredits), http::status::payment_required);
  EXPECT_EQ(http_status(ErrorCode::kForbidden), http::status::forbidden);
  EXPECT_EQ(http_status(ErrorCode::kNotFound), http::status::not_found);
  EXPECT_EQ(http_status(ErrorCode::kConflict), http::status::conflict);
  EXPECT_EQ(http_status(ErrorCode::kPayloadTooLarge), http::status::payload_too_large);
  EXPECT_EQ(http_status(ErrorCode::kRateLimited), http::status::too_many_requests);
  EXPECT_EQ(http_status(ErrorCode::kUpstreamError), http::status::bad_gateway);
  EXPECT_EQ(http_status(ErrorCode::kUpstreamTimeout), http::status::gateway_timeout);
  EXPECT_EQ(http_status(ErrorCode::kStoreUnavailable), http::status::service_unavailable);
}

TEST(ErrorResponse, BodyHasTheOpenAIShape) {
  auto body = error_body(fail(ErrorCode::kInvalidArgument, "userId is required", "userId"));
  EXPECT_EQ(body["error"]["type"], "invalid_request_error");
  EXPECT_EQ(body["error"]["code"], "invalid_argument");
  EXPECT_EQ(body["error"]["message"], "userId is required");
  EXPECT_EQ(body["error"]["param"], "userId");

  auto no_param = error_body(fail(ErrorCode::kUnauthenticated, "no key"));
  EXPECT_TRUE(no_param["error"]["param"].is_null());
  EXPECT_EQ(no_param["error"]["type"], "authentication_error");
}

TEST(ErrorResponse, ResponseIsJson) {
  Response res = error_response(fail(ErrorCode::kNotFound, "nope"));
  EXPECT_EQ(res.result(), http::status::not_found);
  EXPECT_EQ(res[http::field::content_type], "application/json");
  auto parsed = nlohmann::json::parse(res.body());
  EXPECT_EQ(parsed["error"]["code"], "not_found");
}

TEST(ErrorResponse, InsufficientCreditsIsOneShape) {
  Response res =
      insufficient_credits_response(fail(ErrorCode::kInsufficientCredits, "too few"), 40, 41);
  EXPECT_EQ(res.result(), http::status::payment_required);
  auto parsed = nlohmann::json::parse(res.body());
  EXPECT_EQ(parsed["error"]["type"], "insufficient_credits");
  EXPECT_EQ(parsed["error"]["code"], "insufficient_credits");
  EXPECT_EQ(parsed["error"]["message"], "too few");
  EXPECT_EQ(parsed["allowed"], false);
  EXPECT_EQ(parsed["remaining"], 40);
  EXPECT_EQ(parsed["cost"], 41);
}

}  // namespace
}  // namespace tollgate::server
