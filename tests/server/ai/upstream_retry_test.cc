// Which upstream failures are tried again, and how long the client waits first.
#include "server/ai/upstream_retry.h"

#include <gtest/gtest.h>

#include "server/ai/http_client.h"

namespace tollgate::server {
namespace {

using std::chrono::milliseconds;

TEST(UpstreamRetry, OnlyTooManyRequestsAndServerErrorsAreRetryable) {
  for (int status : {429, 500, 502, 503, 504, 599}) EXPECT_TRUE(retryable_status(status)) << status;
  for (int status : {200, 204, 301, 302, 400, 401, 403, 404, 409, 413, 422, 428, 499}) {
    EXPECT_FALSE(retryable_status(status)) << status;
  }
}

TEST(UpstreamRetry, AtMostkUpstreamAttemptsMaxAttemptsInAll) {
  ASSERT_EQ(kUpstreamAttemptsMax, 3);
  for (int status : {0, 429, 503}) {  // 0: the provider was not reached
    EXPECT_TRUE(retry_allowed(status, 1)) << status;
    EXPECT_TRUE(retry_allowed(status, kUpstreamAttemptsMax - 1)) << status;
    EXPECT_FALSE(retry_allowed(status, kUpstreamAttemptsMax)) << status;
  }
  for (int status : {400, 404, 301}) EXPECT_FALSE(retry_allowed(status, 1)) << status;
}

TEST(UpstreamRetry, TheBackoffIsAJitteredExponentialUpToTheCap) {
  // The ceiling doubles from kRetryBackoffBase each attempt, up to kRetryBackoffCap; every pick
  // lies in [0, ceiling], and over many picks both ends of the range are reached.
  for (int attempt = 1; attempt <= 12; ++attempt) {
    int64_t ceiling = std::min<int64_t>(kRetryBackoffCap.count(), kRetryBackoffBase.count()
                                                                      << std::min(attempt - 1, 10));
    milliseconds smallest = milliseconds::max(), largest = milliseconds::zero();
    for (int i = 0; i < 2'000; ++i) {
      milliseconds delay = retry_backoff(attempt, std::nullopt);
      ASSERT_GE(delay.count(), 0) << attempt;
      ASSERT_LE(delay.count(), ceiling) << attempt;
      smallest = std::min(smallest, delay);
      largest = std::max(largest, delay);
    }
    EXPECT_LT(smallest.count(), ceiling / 4) << attempt;
    EXPECT_GT(largest.count(), ceiling * 3 / 4) << attempt;
  }
  EXPECT_EQ(kRetryBackoffBase, milliseconds(200));
  EXPECT_EQ(kRetryBackoffCap, milliseconds(2'000));
}

TEST(UpstreamRetry, RetryAfterLengthensTheWaitUpToTheCap) {
  milliseconds largest = milliseconds::zero();
  for (int i = 0; i < 200; ++i) {
    EXPECT_GE(retry_backoff(1, milliseconds(1'000)), milliseconds(1'000));
    EXPECT_EQ(retry_backoff(1, milliseconds(60'000)), kRetryBackoffCap);
    largest = std::max(largest, retry_backoff(12, milliseconds(0)));
  }
  // A Retry-After shorter than the pick does not shorten it.
  EXPECT_GT(largest, milliseconds(1'000));
}

TEST(UpstreamRetry, RetryAfterIsDelaySecondsOnly) {
  EXPECT_EQ(parse_retry_after("0"), milliseconds(0));
  EXPECT_EQ(parse_retry_after("2"), milliseconds(2'000));
  EXPECT_EQ(parse_retry_after("3600"), milliseconds(3'600'000));
  EXPECT_EQ(parse_retry_after("999999999"), milliseconds(kRetryAfterSecondsMax * 1'000));
  for (std::string_view bad : {"", "-1", "1.5", "2 ", " 2", "+2", "soon",
                               "Wed, 21 Oct 2015 07:28:00 GMT", "99999999999999999999999"}) {
    EXPECT_EQ(parse_retry_after(bad), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace tollgate::server
