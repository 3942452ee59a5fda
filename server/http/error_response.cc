#include "server/http/error_response.h"

namespace tollgate::server {

http::status http_status(ErrorCode code) {
  using enum ErrorCode;
  switch (code) {
    case kInvalidArgument:
    case kOverflow:
    case kBase64Invalid:
    case kTemplateSyntax:
    case kTemplateVariableMissing:
    case kJsonSyntax:
      return http::status::bad_request;
    case kUnauthenticated:
    case kTokenMalformed:
    case kTokenSignatureInvalid:
    case kTokenExpired:
      return http::status::unauthorized;
    case kInsufficientCredits:
      return http::status::payment_required;
    case kForbidden:
    case kTokenScopeDenied:
      return http::status::forbidden;
    case kNotFound:
      return http::status::not_found;
    case kMethodNotAllowed:
      return http::status::method_not_allowed;
    case kConflict:
      return http::status::conflict;
    case kPayloadTooLarge:
      return http::status::payload_too_large;
    case kHeadersTooLarge:
      return http::status::request_header_fields_too_large;
    case kRequestTimeout:
      return http::status::request_timeout;
    case kNotImplemented:
      return http::status::not_implemented;
    case kRateLimited:
      return http::status::too_many_requests;
    case kUpstreamError:
      return http::status::bad_gateway;
    case kUpstreamTimeout:
      return http::status::gateway_timeout;
    case kStoreUnavailable:
      return http::status::service_unavailable;
    case kAddressInUse:
    case kIoError:
    case kInternal:
      return http::status::internal_server_error;
  }
  return http::status::internal_server_error;  // unreachable for valid codes
}

std::string_view error_type(http::status status) {
  switch (status) {
    case http::status::unauthorized:
      return "authentication_error";
    case http::status::payment_required:
      return "insufficient_credits";
    case http::status::forbidden:
      return "permission_error";
    case http::status::too_many_requests:
      return "rate_limit_error";
    default:
      return static_cast<unsigned>(status) >= 500 ? "api_error" : "invalid_request_error";
  }
}

nlohmann::ordered_json error_body(const Error& error) {
  nlohmann::ordered_json param =
      error.param.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(error.param);
  return {{"error",
           {{"type", error_type(http_status(error.code))},
            {"code", error_code_name(error.code)},
            {"message", error.message},
            {"param", param}}}};
}

std::string_view request_log_level(unsigned status) {
  if (status == 502 || status == 504) return "warn";
  return status >= 500 ? "error" : "info";
}

Response json_response(http::status status, const nlohmann::ordered_json& body) {
  Response res{status, 11};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.body() = body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  return res;
}

Response error_response(const Error& error) {
  if (error.code == ErrorCode::kStoreUnavailable) {
    // Database messages can name hosts, tables or internal state: never show them to clients.
    return json_response(
        http_status(error.code),
        error_body(fail(error.code,
                        "the store is unavailable; retry shortly (with the same "
                        "Idempotency-Key, so a retry can never apply twice)",
                        error.param == "DATABASE_URL" ? "" : error.param)));
  }
  return json_response(http_status(error.code), error_body(error));
}

Response insufficient_credits_response(const Error& error, int64_t remaining, int64_t cost) {
  nlohmann::ordered_json body = error_body(error);
  body["allowed"] = false;
  body["remaining"] = remaining;
  body["cost"] = cost;
  return json_response(http::status::payment_required, body);
}

}  // namespace tollgate::server
