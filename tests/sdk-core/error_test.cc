#include "tollgate/core/error.h"

#include <gtest/gtest.h>

#include <set>

#include "tollgate/core/result.h"

namespace tollgate {
namespace {

TEST(ErrorCode, NamesAreUniqueSnakeCaseAndRoundTrip) {
  std::set<std::string_view> seen;
  for (int32_t i = 0; i < kErrorCodeCount; ++i) {
    auto code = static_cast<ErrorCode>(i);
    std::string_view name = error_code_name(code);
    EXPECT_TRUE(seen.insert(name).second) << name;
    EXPECT_FALSE(name.empty());
    for (char c : name)
      EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') << name;
    auto back = error_code_from_name(name);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, code);
  }
  EXPECT_FALSE(error_code_from_name("no_such_code").has_value());
}

TEST(Result, CarriesValueOrError) {
  Result<int> good = 42;
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(good.value(), 42);

  Result<int> bad = fail(ErrorCode::kOverflow, "too big", "amount");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kOverflow);
  EXPECT_EQ(bad.error().param, "amount");

  Result<void> done;
  EXPECT_TRUE(done.ok());
  Result<void> failed = fail(ErrorCode::kNotFound, "gone");
  EXPECT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().message, "gone");
}

TEST(ResultDeathTest, ReadingTheWrongSideAborts) {
  Result<int> bad = fail(ErrorCode::kInternal, "x");
  EXPECT_DEATH((void)bad.value(), "");
  Result<int> good = 1;
  EXPECT_DEATH((void)good.error(), "");
}

}  // namespace
}  // namespace tollgate
