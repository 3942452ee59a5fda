// Seeded random inputs against the parsers that see untrusted text: none may crash, and each
// accepted input must obey the module's round-trip promise. Deterministic, so a failure replays.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "tollgate/codec/base64url.h"
#include "tollgate/prompt/template.h"
#include "tollgate/token/runtime_token.h"

namespace tollgate {
namespace {

constexpr int kIterations = 20'000;

std::string random_bytes(std::mt19937_64& rng, size_t length_max, std::string_view alphabet = {}) {
  std::uniform_int_distribution<size_t> length(0, length_max);
  std::string out(length(rng), '\0');
  for (char& c : out) {
    c = alphabet.empty() ? static_cast<char>(rng() & 0xFF) : alphabet[rng() % alphabet.size()];
  }
  return out;
}

TEST(Properties, Base64UrlDecodeAcceptsOnlyCanonicalText) {
  std::mt19937_64 rng(1);
  constexpr std::string_view kMostlyValid =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/ ";
  for (int i = 0; i < kIterations; ++i) {
    std::string text = random_bytes(rng, 24, i % 2 ? kMostlyValid : std::string_view{});
    auto decoded = codec::base64url_decode(text);
    if (decoded.ok()) {
      EXPECT_EQ(codec::base64url_encode(decoded.value()), text);
    }
  }
}

TEST(Properties, MutatedTokensNeverVerify) {
  std::mt19937_64 rng(2);
  token::Signer sign = [](std::string_view input) -> Result<std::string> {
    // A keyed toy MAC is enough here: the property is about the codec, not the hash.
    uint64_t h = 1469598103934665603ULL;
    for (char c : input) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ULL;
    return std::string(reinterpret_cast<const char*>(&h), sizeof h);
  };
  token::RuntimeClaims claims{"rts_1", "proj_1", "user", {"a", "b-c"}, 1000, 2000, "rtk_1"};
  auto token = token::encode(claims, sign);
  ASSERT_TRUE(token.ok());
  for (int i = 0; i < kIterations; ++i) {
    std::string mutated = token.value();
    int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      size_t at = rng() % mutated.size();
      switch (rng() % 3) {
        case 0:
          mutated[at] = static_cast<char>(rng() & 0xFF);
          break;
        case 1:
          mutated.erase(at, 1);
          break;
        default: {
          std::string next(mutated, 0, at);
          next.push_back(static_cast<char>(rng() & 0xFF));
          next.append(mutated, at);
          mutated.swap(next);
        } break;
      }
    }
    if (mutated == token.value()) continue;
    (void)token::decode_unverified(mutated);  // must not crash
    EXPECT_FALSE(token::verify(mutated, sign, 1500).ok()) << mutated;
  }
}

TEST(Properties, TemplatesParseOrFailCleanlyAndEscapeRoundTrips) {
  std::mt19937_64 rng(3);
  constexpr std::string_view kTemplateish = "{}\\ ab_1x\n";
  for (int i = 0; i < kIterations; ++i) {
    std::string source = random_bytes(rng, 32, kTemplateish);
    auto parsed = prompt::Template::parse(source);
    if (parsed.ok()) {
      prompt::Variables all;
      for (const auto& name : parsed.value().variables()) all.emplace(name, "v");
      EXPECT_TRUE(parsed.value().render(all).ok()) << source;
    }
    // Any text, escaped, renders back to exactly itself and declares no variables.
    auto escaped = prompt::Template::parse(prompt::escape(source));
    ASSERT_TRUE(escaped.ok()) << source;
    EXPECT_TRUE(escaped.value().variables().empty());
    EXPECT_EQ(escaped.value().render({}).value(), source);
  }
}

}  // namespace
}  // namespace tollgate
