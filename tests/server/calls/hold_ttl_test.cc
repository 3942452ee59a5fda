// The hold TTL of an invoke against the real bounds of what it waits for.
#include <gtest/gtest.h>

#include "server/calls/hold_ttl.h"
#include "server/ledger/hold_close.h"

namespace tollgate::server {
namespace {

using std::chrono::milliseconds;

TEST(InvokeBounds, CountsEveryModelCallAnInvokeMayMake) {
  EXPECT_EQ(invoke_model_calls_max(false, false), 1);
  EXPECT_EQ(invoke_model_calls_max(true, false), 2);
  EXPECT_EQ(invoke_model_calls_max(false, true), 2);
  EXPECT_EQ(invoke_model_calls_max(true, true), 3);
}

TEST(InvokeBounds, TheWorstCaseAddsUpEveryBound) {
  UpstreamTimeouts timeouts;
  milliseconds one_call =
      timeouts.total + kRetryBackoffCap * (kUpstreamAttemptsMax - 1) + kStoreReadBound;
  milliseconds close = kLedgerAnswerBound * kHoldCloseAttemptsMax + hold_close_backoff_total();
  for (int64_t calls : {1, 2, 3}) {
    EXPECT_EQ(invoke_worst_case(timeouts, calls), kLedgerAnswerBound + one_call * calls + close)
        << calls;
  }
}

TEST(InvokeBounds, TheTtlIsStrictlyAboveTheWorstCase) {
  UpstreamTimeouts timeouts;
  for (bool repair : {false, true}) {
    for (bool fallback : {false, true}) {
      int64_t ttl = invoke_hold_ttl_ms(timeouts, repair, fallback);
      int64_t worst = invoke_worst_case(timeouts, invoke_model_calls_max(repair, fallback)).count();
      EXPECT_GT(ttl, worst);
      EXPECT_EQ(ttl - worst, kInvokeHoldTtlMargin.count());
      // Each model call alone may take the whole upstream deadline.
      EXPECT_GT(ttl, timeouts.total.count() * invoke_model_calls_max(repair, fallback));
    }
  }
  // The old fixed TTL (10 minutes) was not above a call with a repair at the default 5-minute
  // upstream deadline: two deadlines are already 10 minutes.
  EXPECT_GT(invoke_hold_ttl_ms(timeouts, true, false), 10 * 60'000);
}

TEST(InvokeBounds, TheTtlFollowsTheUpstreamDeadline) {
  UpstreamTimeouts base;
  UpstreamTimeouts longer = base;
  longer.total += milliseconds(60'000);
  EXPECT_EQ(invoke_hold_ttl_ms(longer, true, false) - invoke_hold_ttl_ms(base, true, false),
            2 * 60'000);
  EXPECT_EQ(invoke_hold_ttl_ms(longer, false, false) - invoke_hold_ttl_ms(base, false, false),
            60'000);
}

}  // namespace
}  // namespace tollgate::server
