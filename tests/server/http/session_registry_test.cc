#include "server/http/session_registry.h"

#include <gtest/gtest.h>

namespace tollgate::server {
namespace {

namespace ip = boost::asio::ip;

TEST(ClientBucket, IPv4IsItsAddressAndIPv6ItsSlash64) {
  EXPECT_EQ(client_bucket(ip::make_address("203.0.113.7")), "203.0.113.7");
  EXPECT_EQ(client_bucket(ip::make_address("::ffff:203.0.113.7")), "203.0.113.7");
  std::string one = client_bucket(ip::make_address("2001:db8:1:2::1"));
  EXPECT_EQ(one, "2001:0db8:0001:0002::/64");
  EXPECT_EQ(client_bucket(ip::make_address("2001:db8:1:2:ffff:ffff:ffff:ffff")), one);
  EXPECT_NE(client_bucket(ip::make_address("2001:db8:1:3::1")), one);
}

TEST(SessionSlot, OnlyASheddableSessionCanBeClaimed) {
  SessionSlot slot;
  EXPECT_EQ(slot.sheddable_since_ns(), SessionSlot::kBusy);
  EXPECT_FALSE(slot.claim(SessionSlot::kBusy));  // busy: handling or writing
  slot.mark_sheddable(100);
  slot.mark_sheddable(200);  // still the same wait: the earlier time stays
  EXPECT_EQ(slot.sheddable_since_ns(), 100);
  EXPECT_FALSE(slot.claim(200));  // the registry saw another state
  EXPECT_TRUE(slot.mark_busy());
  EXPECT_FALSE(slot.claim(100));
  slot.mark_sheddable(300);
  EXPECT_TRUE(slot.claim(300));
  EXPECT_EQ(slot.sheddable_since_ns(), SessionSlot::kShedding);
  // Once claimed, the session may not become busy or sheddable again: it must close.
  EXPECT_FALSE(slot.mark_busy());
  slot.mark_sheddable(400);
  EXPECT_EQ(slot.sheddable_since_ns(), SessionSlot::kShedding);
  EXPECT_FALSE(slot.claim(400));
}

}  // namespace
}  // namespace tollgate::server
