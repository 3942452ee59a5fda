#include "server/config/master_key.h"

#include <gtest/gtest.h>

#include <string>

namespace tollgate::server {
namespace {

TEST(MasterKey, ParsesHexAndNamesTheVariable) {
  auto key = parse_master_key(std::string(64, 'a'), "TOLLGATE_MASTER_KEY");
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key.value()[0], 0xaa);
  auto mixed = parse_master_key("00ff" + std::string(56, '0') + "A1b2", "TOLLGATE_MASTER_KEY");
  ASSERT_TRUE(mixed.ok());
  EXPECT_EQ(mixed.value()[1], 0xff);
  EXPECT_EQ(mixed.value()[30], 0xa1);
  EXPECT_EQ(mixed.value()[31], 0xb2);
  for (std::string bad : {std::string(63, 'a'), std::string(65, 'a'), std::string(64, 'g'),
                          std::string(), std::string(62, 'a') + "a "}) {
    auto refused = parse_master_key(bad, "TOLLGATE_MASTER_KEY");
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(refused.error().param, "TOLLGATE_MASTER_KEY");
    EXPECT_NE(refused.error().message.find("64 hex characters"), std::string::npos);
  }
}

TEST(MasterKey, TheErrorNamesWhereTheKeyCameFrom) {
  auto refused = parse_master_key("short", "/data/master.key");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().param, "/data/master.key");
  EXPECT_TRUE(refused.error().message.starts_with("/data/master.key must be"))
      << refused.error().message;
  // The message never repeats what was given: it may be a real key with one typo.
  EXPECT_EQ(refused.error().message.find("short"), std::string::npos);
}

}  // namespace
}  // namespace tollgate::server
