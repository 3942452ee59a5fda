// The single mapping from ErrorCode to HTTP, and the JSON error shape every response uses:
// {"error":{"type":…,"code":…,"message":…,"param":…}} (OpenAI's shape, so its clients show it).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "server/http/types.h"
#include "tollgate/core/result.h"

namespace tollgate::server {

// The HTTP status for a code. Exhaustive: a new ErrorCode fails to compile until it is mapped.
http::status http_status(ErrorCode code);

// The OpenAI-style error type for a status, e.g. "invalid_request_error" for 400.
std::string_view error_type(http::status status);

// {"error":{…}} for an Error; param is null when the error concerns no single field.
nlohmann::ordered_json error_body(const Error& error);

// The level of a request's log line: "warn" for an upstream failure (502, 504: the model
// provider failed, and provider_call_failed says how), "error" for every other status of 500 or
// above (Tollgate's own failure, which an operator must look at), "info" otherwise.
std::string_view request_log_level(unsigned status);

// A JSON response with the status, body and content type set.
Response json_response(http::status status, const nlohmann::ordered_json& body);

// The error response for an Error: status from http_status(), body from error_body().
Response error_response(const Error& error);

// The one 402 shape, whatever the route (meter, invoke): the error shape plus
// "allowed": false, "remaining" (the balance) and "cost" (what the call needed).
Response insufficient_credits_response(const Error& error, int64_t remaining, int64_t cost);

}  // namespace tollgate::server
