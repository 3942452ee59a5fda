#include "tollgate/calendar/calendar.h"

#include <gtest/gtest.h>

#include "vectors.h"

namespace tollgate::calendar {
namespace {

using testing::outcome;
using testing::to_int64;
using testing::vector_cases;

TEST(Calendar, StartVectors) {
  for (const auto& v : vector_cases("calendar.json", "starts")) {
    int64_t ms = to_int64(v["timeMs"]);
    auto day = day_start_ms(ms);
    auto month = month_start_ms(ms);
    auto next = next_month_start_ms(ms);
    if (v.contains("error")) {
      for (const Result<int64_t>* result : {&day, &month, &next}) {
        ASSERT_FALSE(result->ok()) << v["name"];
        EXPECT_EQ(outcome(*result), v["error"].get<std::string>()) << v["name"];
        EXPECT_EQ(result->error().param, v["param"].get<std::string>()) << v["name"];
      }
      continue;
    }
    ASSERT_TRUE(day.ok() && month.ok() && next.ok()) << v["name"];
    EXPECT_EQ(day.value(), to_int64(v["dayStartMs"])) << v["name"];
    EXPECT_EQ(month.value(), to_int64(v["monthStartMs"])) << v["name"];
    EXPECT_EQ(next.value(), to_int64(v["nextMonthStartMs"])) << v["name"];
  }
}

// Every day for 500 years: the month start is a day start no later than the time, the next
// month start is after it, and the next month's own start is that same instant.
TEST(Calendar, MonthsTileTheTimeline) {
  int64_t previous_month = -1;
  for (int64_t day = 0; day < 500 * 366 && day * kMsPerDay <= kCalendarMsMax; ++day) {
    int64_t ms = day * kMsPerDay + 12 * 3'600'000;
    int64_t month = month_start_ms(ms).value();
    int64_t next = next_month_start_ms(ms).value();
    ASSERT_LE(month, ms);
    ASSERT_GT(next, ms);
    ASSERT_EQ(month % kMsPerDay, 0);
    ASSERT_GE(next - month, 28 * kMsPerDay);
    ASSERT_LE(next - month, 31 * kMsPerDay);
    ASSERT_EQ(month_start_ms(next).value(), next);
    if (month != previous_month && previous_month >= 0) {
      ASSERT_EQ(next_month_start_ms(previous_month).value(), month);
    }
    previous_month = month;
  }
}

}  // namespace
}  // namespace tollgate::calendar
