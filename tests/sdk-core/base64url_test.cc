#include "tollgate/codec/base64url.h"

#include <gtest/gtest.h>

#include "vectors.h"

namespace tollgate::codec {
namespace {

using testing::from_hex;
using testing::load_vectors;

TEST(Base64Url, VectorsRoundTrip) {
  auto doc = load_vectors("base64url.json");
  for (const auto& v : doc["roundtrip"]) {
    std::string bytes = from_hex(v["hex"]);
    EXPECT_EQ(base64url_encode(bytes), v["text"].get<std::string>());
    auto decoded = base64url_decode(v["text"].get<std::string>());
    ASSERT_TRUE(decoded.ok()) << v["text"];
    EXPECT_EQ(decoded.value(), bytes);
  }
}

TEST(Base64Url, VectorsRejectNonCanonical) {
  auto doc = load_vectors("base64url.json");
  for (const auto& v : doc["decode_invalid"]) {
    auto decoded = base64url_decode(v["text"].get<std::string>());
    EXPECT_EQ(testing::outcome(decoded), v["code"].get<std::string>()) << v["name"];
  }
}

TEST(Base64Url, EveryByteValueRoundTrips) {
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  for (size_t length = 0; length <= all.size(); length += 7) {
    std::string bytes = all.substr(0, length);
    auto decoded = base64url_decode(base64url_encode(bytes));
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(decoded.value(), bytes);
  }
}

}  // namespace
}  // namespace tollgate::codec
