#include "tollgate/keys/api_key.h"

#include <gtest/gtest.h>

#include <vector>

namespace tollgate::keys {
namespace {

std::vector<uint8_t> bytes(size_t count, uint8_t seed) {
  std::vector<uint8_t> out(count);
  for (size_t i = 0; i < count; ++i) out[i] = static_cast<uint8_t>(seed + i * 37);
  return out;
}

TEST(ApiKey, Crc32MatchesTheStandardCheckValue) {
  EXPECT_EQ(crc32("123456789"), 0xCBF43926u);
  EXPECT_EQ(crc32(""), 0u);
}

TEST(ApiKey, FormatsAndParsesEveryPrefix) {
  for (const char* prefix : {"pk", "sk", "tgadm"}) {
    auto key = format_key(prefix, bytes(kKeyRandomChars, 7));
    ASSERT_TRUE(key.ok());
    EXPECT_EQ(key.value().size(),
              std::string(prefix).size() + 1 + kKeyRandomChars + kKeyChecksumChars);
    auto parsed = parse_key(key.value());
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed.value(), prefix);
  }
}

TEST(ApiKey, EverySingleCharacterChangeIsRefused) {
  std::string key = format_key("sk", bytes(kKeyRandomChars, 3)).value();
  for (size_t i = 0; i < key.size(); ++i) {
    for (char replacement : {'0', 'Z', 'z', '_', '-'}) {
      if (key[i] == replacement) continue;
      std::string changed = key;
      changed[i] = replacement;
      auto parsed = parse_key(changed);
      if (parsed.ok()) {
        // Only a change inside the prefix can still parse, and then it names another prefix.
        EXPECT_NE(parsed.value(), "sk") << changed;
      } else {
        EXPECT_EQ(parsed.error().code, ErrorCode::kUnauthenticated);
        EXPECT_EQ(parsed.error().message.find(changed), std::string::npos);  // never echoed
      }
    }
  }
}

// `head` followed by `key` from position `from` (built by appending: GCC 12 misreports
// operator+ on temporaries under -Wrestrict).
std::string splice(std::string head, const std::string& key, size_t from) {
  head.append(key, from, std::string::npos);
  return head;
}

TEST(ApiKey, MalformedShapesAreRefused) {
  std::string good = format_key("pk", bytes(kKeyRandomChars, 9)).value();
  std::vector<std::string> bad = {"", "pk", "pk_", good.substr(0, good.size() - 1),
                                  splice(good, "0", 0), splice("PK", good, 2),
                                  splice("toolongprefix_", good, 3), splice("_", good, 3)};
  for (const std::string& key : bad) EXPECT_FALSE(parse_key(key).ok()) << key;
}

TEST(ApiKey, FormatRefusesBadPrefixesAndShortRandomness) {
  EXPECT_EQ(format_key("SK", bytes(kKeyRandomChars, 1)).error().param, "prefix");
  EXPECT_EQ(format_key("", bytes(kKeyRandomChars, 1)).error().param, "prefix");
  EXPECT_EQ(format_key("sk", bytes(kKeyRandomChars - 1, 1)).error().param, "random");
}

}  // namespace
}  // namespace tollgate::keys
