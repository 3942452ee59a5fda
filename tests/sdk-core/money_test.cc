#include "tollgate/money/money.h"

#include <gtest/gtest.h>

#include "vectors.h"

namespace tollgate::money {
namespace {

using testing::outcome;
using testing::to_int64;
using testing::vector_cases;

// Runs one arithmetic vector on one unit, so credits and micros are proven to behave alike.
template <typename Unit>
void check_arithmetic(const nlohmann::json& v) {
  Amount<Unit> a(to_int64(v["a"]));
  int64_t b = to_int64(v["b"]);
  std::string op = v["op"];
  Result<Amount<Unit>> got = op == "add"   ? add(a, Amount<Unit>(b))
                             : op == "sub" ? sub(a, Amount<Unit>(b))
                                           : mul(a, b);
  if (v.contains("error")) {
    EXPECT_EQ(outcome(got), v["error"].get<std::string>()) << v.dump();
  } else {
    ASSERT_TRUE(got.ok()) << v.dump();
    EXPECT_EQ(got.value().value(), to_int64(v["result"])) << v.dump();
  }
}

TEST(Money, ArithmeticVectors) {
  for (const auto& v : vector_cases("money.json", "arithmetic")) {
    check_arithmetic<CreditsUnit>(v);
    check_arithmetic<MicrosUnit>(v);
  }
}

TEST(Money, ConversionVectors) {
  for (const auto& v : vector_cases("money.json", "convert")) {
    Rate rate{Credits(to_int64(v["rate"]["credits"])), Micros(to_int64(v["rate"]["micros"]))};
    int64_t amount = to_int64(v["amount"]);
    Result<int64_t> got = 0;
    if (v["to"] == "micros") {
      auto r = to_micros(Credits(amount), rate);
      got = r.ok() ? Result<int64_t>(r.value().value()) : Result<int64_t>(r.error());
    } else {
      auto r = to_credits(Micros(amount), rate);
      got = r.ok() ? Result<int64_t>(r.value().value()) : Result<int64_t>(r.error());
    }
    if (v.contains("error")) {
      EXPECT_EQ(outcome(got), v["error"].get<std::string>()) << v["name"];
    } else {
      ASSERT_TRUE(got.ok()) << v["name"];
      EXPECT_EQ(got.value(), to_int64(v["result"])) << v["name"];
    }
  }
}

TEST(Money, FormatUsdVectors) {
  for (const auto& v : vector_cases("money.json", "format_usd")) {
    EXPECT_EQ(format_usd(Micros(to_int64(v["micros"]))), v["text"].get<std::string>());
  }
}

TEST(Money, ParseUsdVectors) {
  for (const auto& v : vector_cases("money.json", "parse_usd")) {
    auto got = parse_usd(v["text"].get<std::string>());
    if (v.contains("error")) {
      EXPECT_EQ(outcome(got), v["error"].get<std::string>()) << v["text"];
    } else {
      ASSERT_TRUE(got.ok()) << v["text"];
      EXPECT_EQ(got.value().value(), to_int64(v["micros"])) << v["text"];
    }
  }
}

TEST(Money, ParseInt64Vectors) {
  for (const auto& v : vector_cases("money.json", "parse_int64")) {
    auto got = parse_int64(v["text"].get<std::string>());
    if (v.contains("error")) {
      EXPECT_EQ(outcome(got), v["error"].get<std::string>()) << v["text"];
    } else {
      ASSERT_TRUE(got.ok()) << v["text"];
      EXPECT_EQ(std::to_string(got.value()), v["value"].get<std::string>());
    }
  }
}

TEST(Money, FormatThenParseIsIdentity) {
  for (int64_t micros :
       {int64_t{0}, int64_t{7}, int64_t{-1234567}, int64_t{1'000'000}, INT64_MAX, INT64_MIN}) {
    auto back = parse_usd(format_usd(Micros(micros)));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back.value().value(), micros);
  }
}

TEST(Money, ConversionNeverUndercharges) {
  // For every amount, converting micros to credits and back covers at least the original cost.
  Rate rate{Credits(3), Micros(1'000'000)};
  for (int64_t micros = 0; micros < 2'000'000; micros += 9'973) {
    auto credits = to_credits(Micros(micros), rate);
    ASSERT_TRUE(credits.ok());
    auto back = to_micros(credits.value(), rate);
    ASSERT_TRUE(back.ok());
    EXPECT_GE(back.value().value(), micros);
  }
}

// Stripe's minor units: exact, and a price that does not convert is refused, naming the field.
TEST(Money, MinorUnitsConvertExactlyOrAreRefused) {
  struct Case {
    int64_t micros;
    const char* currency;
    int64_t minor;  // -1: refused
  };
  const Case cases[] = {
      {1'990'000, "usd", 199},
      {10'000, "eur", 1},
      {5'000, "usd", -1},
      {500'000'000, "jpy", 500},
      {500'500'000, "jpy", -1},
      {1'230'000, "kwd", 1230},
      {1'234'000, "kwd", -1},
      {12'000'000, "isk", 1200},
      {12'500'000, "isk", -1},
      {0, "usd", 0},
      {-10'000, "usd", -1},
      {INT64_MAX, "jpy", -1},
      {9'223'372'036'854'001'000, "bhd", -1},  // a whole fil, but not a multiple of 10
  };
  for (const Case& c : cases) {
    auto got = to_minor_units(Micros(c.micros), c.currency);
    if (c.minor < 0) {
      ASSERT_FALSE(got.ok()) << c.micros << " " << c.currency;
      EXPECT_EQ(got.error().param, "priceMicros");
    } else {
      ASSERT_TRUE(got.ok()) << c.micros << " " << c.currency << ": " << got.error().message;
      EXPECT_EQ(got.value(), c.minor);
      EXPECT_EQ(from_minor_units(c.minor, c.currency).value().value(), c.micros);
    }
  }
  for (const char* bad : {"USD", "us", "usdd", "u$d", ""}) {
    auto got = to_minor_units(Micros(1'000'000), bad);
    ASSERT_FALSE(got.ok()) << bad;
    EXPECT_EQ(got.error().param, "currency");
  }
  EXPECT_EQ(minor_unit_decimals("jpy"), 0);
  EXPECT_EQ(minor_unit_decimals("omr"), 3);
  EXPECT_EQ(minor_unit_decimals("gbp"), 2);
  EXPECT_FALSE(from_minor_units(INT64_MAX, "usd").ok());
}

}  // namespace
}  // namespace tollgate::money
