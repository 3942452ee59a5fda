#include "tollgate/calendar/calendar.h"

#include <string>

namespace tollgate::calendar {
namespace {

struct Civil {
  int64_t year;
  int64_t month;  // 1..12
};

// Days since 1970-01-01 of a civil date, and back (H. Hinnant's algorithms, for year >= 0).
int64_t days_from_civil(int64_t year, int64_t month, int64_t day) {
  year -= month <= 2 ? 1 : 0;
  const int64_t era = year / 400;
  const int64_t year_of_era = year - era * 400;
  const int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146'097 + day_of_era - 719'468;
}

Civil civil_from_days(int64_t days) {
  days += 719'468;
  const int64_t era = days / 146'097;
  const int64_t day_of_era = days - era * 146'097;
  const int64_t year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36'524 - day_of_era / 146'096) / 365;
  const int64_t day_of_year =
      day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const int64_t shifted_month = (5 * day_of_year + 2) / 153;  // March is 0
  const int64_t month = shifted_month < 10 ? shifted_month + 3 : shifted_month - 9;
  return {year_of_era + era * 400 + (month <= 2 ? 1 : 0), month};
}

Result<void> check(int64_t ms) {
  if (ms < 0 || ms > kCalendarMsMax) {
    return fail(ErrorCode::kInvalidArgument,
                "the time must be in [0, " + std::to_string(kCalendarMsMax) + "] ms", "timeMs");
  }
  return {};
}

}  // namespace

Result<int64_t> day_start_ms(int64_t ms) {
  if (auto checked = check(ms); !checked) return checked.error();
  return ms - ms % kMsPerDay;
}

Result<int64_t> month_start_ms(int64_t ms) {
  if (auto checked = check(ms); !checked) return checked.error();
  Civil date = civil_from_days(ms / kMsPerDay);
  return days_from_civil(date.year, date.month, 1) * kMsPerDay;
}

Result<int64_t> next_month_start_ms(int64_t ms) {
  if (auto checked = check(ms); !checked) return checked.error();
  Civil date = civil_from_days(ms / kMsPerDay);
  int64_t year = date.month == 12 ? date.year + 1 : date.year;
  int64_t month = date.month == 12 ? 1 : date.month + 1;
  return days_from_civil(year, month, 1) * kMsPerDay;
}

}  // namespace tollgate::calendar
