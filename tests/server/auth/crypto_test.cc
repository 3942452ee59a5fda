#include "server/auth/crypto.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace tollgate::server {
namespace {

bool all_base62(std::string_view text) {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) return false;
  }
  return true;
}

TEST(TimeOrderedId, PrefixThenFixedWidthTimeThenRandom) {
  std::string id = new_time_ordered_id("hold_", 1'764'000'000'000);
  ASSERT_EQ(id.size(), 5 + kIdRandomChars);
  EXPECT_EQ(id.substr(0, 5), "hold_");
  EXPECT_TRUE(all_base62(id.substr(5)));
  EXPECT_EQ(new_time_ordered_id("hold_", 0).substr(5, kIdTimeChars), std::string(kIdTimeChars, '0'));
  EXPECT_EQ(new_time_ordered_id("hold_", 61).substr(5, kIdTimeChars), "0000000z");
  EXPECT_EQ(new_time_ordered_id("hold_", 62).substr(5, kIdTimeChars), "00000010");
}

TEST(TimeOrderedId, TextOrderIsTimeOrder) {
  // Across digit boundaries (9→A, Z→a, z→10) and far apart.
  const int64_t times[] = {0, 9, 10, 35, 36, 61, 62, 3'843, 3'844, 1'764'000'000'000,
                           1'764'000'000'001, 4'102'444'800'000};
  for (size_t i = 1; i < std::size(times); ++i) {
    EXPECT_LT(new_time_ordered_id("h_", times[i - 1]), new_time_ordered_id("h_", times[i]))
        << times[i - 1] << " vs " << times[i];
  }
}

TEST(TimeOrderedId, SameMillisecondStillUnique) {
  std::set<std::string> ids;
  for (int i = 0; i < 10'000; ++i) ids.insert(new_time_ordered_id("hold_", 1'764'000'000'000));
  EXPECT_EQ(ids.size(), 10'000u);
}

}  // namespace
}  // namespace tollgate::server
