// Stripe's wire format: bracket-notation form bodies, and the Stripe-Signature check on the
// raw bytes (t and every v1, the tolerance both ways, the whole whsec_ string as the key).
#include "server/billing/stripe_wire.h"

#include <gtest/gtest.h>

namespace tollgate::server {
namespace {

using json = nlohmann::json;

constexpr std::string_view kSecret = "whsec_test_secret";
constexpr int64_t kSignedAt = 1'800'000'000;

std::string header_for(std::string_view payload, int64_t t, std::string_view secret = kSecret) {
  return "t=" + std::to_string(t) + ",v1=" + stripe_signature(payload, secret, t);
}

TEST(StripeWire, FormBodiesUseBracketNotation) {
  json params = {
      {"mode", "payment"},
      {"line_items", json::array({{{"price_data", {{"unit_amount", 500}}}, {"quantity", 1}}})},
      {"metadata", {{"user", "a b&c=d"}}},
      {"flag", true},
      {"skip", nullptr}};
  EXPECT_EQ(form_encode(params),
            "flag=true&line_items%5B0%5D%5Bprice_data%5D%5Bunit_amount%5D=500&"
            "line_items%5B0%5D%5Bquantity%5D=1&metadata%5Buser%5D=a%20b%26c%3Dd&mode=payment");
}

TEST(StripeWire, OnlyAValidSignatureIsAccepted) {
  const std::string payload = R"({"id":"evt_1","type":"invoice.paid"})";
  EXPECT_TRUE(verify_stripe_signature(header_for(payload, kSignedAt), payload, kSecret, kSignedAt).ok());
  // Within the tolerance either way, and not one second beyond.
  EXPECT_TRUE(
      verify_stripe_signature(header_for(payload, kSignedAt - 300), payload, kSecret, kSignedAt).ok());
  EXPECT_TRUE(
      verify_stripe_signature(header_for(payload, kSignedAt + 300), payload, kSecret, kSignedAt).ok());
  EXPECT_FALSE(
      verify_stripe_signature(header_for(payload, kSignedAt - 301), payload, kSecret, kSignedAt).ok());
  EXPECT_FALSE(
      verify_stripe_signature(header_for(payload, kSignedAt + 301), payload, kSecret, kSignedAt).ok());
  // A tampered body, the wrong secret, or the secret without its whsec_ prefix.
  EXPECT_FALSE(
      verify_stripe_signature(header_for(payload, kSignedAt), payload + " ", kSecret, kSignedAt).ok());
  EXPECT_FALSE(
      verify_stripe_signature(header_for(payload, kSignedAt, "whsec_other"), payload, kSecret, kSignedAt)
          .ok());
  EXPECT_FALSE(
      verify_stripe_signature(header_for(payload, kSignedAt, "test_secret"), payload, kSecret, kSignedAt)
          .ok());
  // Two v1, one valid, in either order; v0 and unknown schemes are not signatures.
  std::string good = stripe_signature(payload, kSecret, kSignedAt);
  std::string zeros(64, '0');
  std::string t = "t=" + std::to_string(kSignedAt);
  EXPECT_TRUE(
      verify_stripe_signature(t + ",v1=" + zeros + ",v1=" + good, payload, kSecret, kSignedAt).ok());
  EXPECT_TRUE(
      verify_stripe_signature(t + ",v1=" + good + ",v1=" + zeros, payload, kSecret, kSignedAt).ok());
  EXPECT_FALSE(verify_stripe_signature(t + ",v0=" + good, payload, kSecret, kSignedAt).ok());
  // Malformed headers.
  for (std::string header : {std::string(), "v1=" + good, t, "t=abc,v1=" + good, "t=-5,v1=" + good,
                             std::string(5000, 'x')}) {
    auto checked = verify_stripe_signature(header, payload, kSecret, kSignedAt);
    ASSERT_FALSE(checked.ok()) << header.substr(0, 40);
    EXPECT_EQ(checked.error().param, "Stripe-Signature");
  }
  // No secret set: nothing verifies.
  EXPECT_FALSE(verify_stripe_signature(header_for(payload, kSignedAt, ""), payload, "", kSignedAt).ok());
}

}  // namespace
}  // namespace tollgate::server
