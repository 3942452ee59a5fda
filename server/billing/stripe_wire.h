// Stripe's wire format, the parts Tollgate speaks: form-encoded bodies in Stripe's bracket
// notation, and the Stripe-Signature header on webhook deliveries. Pure: no I/O, no clock.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "tollgate/core/result.h"

namespace tollgate::server {

// The API version every request pins (Stripe-Version): the one the stripe npm library of this
// release speaks. Webhook payloads are read in both the current and the pre-2025 shapes anyway,
// as an endpoint's own version may differ.
inline constexpr std::string_view kStripeVersion = "2026-11-18.endive";
inline constexpr std::string_view kStripeApiBase = "https://api.stripe.com";

// A JSON object as a form body in bracket notation: {"a":{"b":[1,"x"]}} is a[b][0]=1&a[b][1]=x.
// Strings, integers and booleans are values; null and empty objects send nothing.
std::string form_encode(const nlohmann::json& params);

// How far a signature's timestamp may be from now, either way.
inline constexpr int64_t kSignatureToleranceSeconds = 300;
inline constexpr size_t kSignatureHeaderBytesMax = 4096;

// Verifies `header` (Stripe-Signature: t=…,v1=…[,v1=…]) over the raw `payload`: HMAC-SHA256 of
// "<t>.<payload>" keyed with the whole `secret` ("whsec_…"), compared in constant time with
// every v1; `t` within kSignatureToleranceSeconds of `now_s`. kInvalidArgument naming
// "Stripe-Signature" and saying why otherwise.
Result<void> verify_stripe_signature(std::string_view header, std::string_view payload,
                                     std::string_view secret, int64_t now_s);

// The signature a header would carry, for tests: hex HMAC-SHA256 of "<t>.<payload>".
std::string stripe_signature(std::string_view payload, std::string_view secret, int64_t t);

}  // namespace tollgate::server
