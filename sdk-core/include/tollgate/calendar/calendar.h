// The UTC calendar the ledger's periods follow: days and months start at 00:00 UTC. Monthly
// allowances and invocation limits count from the month start, and reset at the next one.
//
// Pure integer arithmetic on Unix milliseconds (the proleptic Gregorian calendar, no time zone
// database, no libc), so the server and the wasm SDK agree to the millisecond. Times must be in
// [0, kCalendarMsMax] (the year 1970 up to the end of 9999); kInvalidArgument otherwise.
#pragma once

#include <cstdint>

#include "tollgate/core/result.h"

namespace tollgate::calendar {

inline constexpr int64_t kMsPerDay = 86'400'000;
inline constexpr int64_t kCalendarMsMax = 253'402'300'799'999;  // 9999-12-31T23:59:59.999Z

// 00:00 UTC of the day holding `ms`.
Result<int64_t> day_start_ms(int64_t ms);
// 00:00 UTC of the first day of the month holding `ms`.
Result<int64_t> month_start_ms(int64_t ms);
// 00:00 UTC of the first day of the month after the one holding `ms`: when a monthly period
// resets. For December of 9999 it is 10000-01-01, still representable.
Result<int64_t> next_month_start_ms(int64_t ms);

}  // namespace tollgate::calendar
