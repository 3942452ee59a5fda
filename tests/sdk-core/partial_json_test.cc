#include "tollgate/structured/partial_json.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "vectors.h"

namespace tollgate::structured {
namespace {

using nlohmann::json;
using testing::outcome;
using testing::vector_cases;

// Feeds the chunks in order and finishes; "ok" or the first error's wire name.
std::string parse_chunks(const std::vector<std::string_view>& chunks, json* out = nullptr) {
  PartialJsonParser parser;
  for (std::string_view chunk : chunks) {
    if (auto fed = parser.feed(chunk); !fed) return outcome(fed);
  }
  auto done = parser.finish();
  if (done && out) *out = done.value();
  return outcome(done);
}

// True when `partial` could be what a parser shows partway through `whole`: strings are
// prefixes, arrays hold a prefix of the elements, objects a subset of the members.
bool is_partial_of(const json& partial, const json& whole) {
  if (partial.is_string()) {
    return whole.is_string() && whole.get_ref<const std::string&>().starts_with(
                                    partial.get_ref<const std::string&>());
  }
  if (partial.is_array()) {
    if (!whole.is_array() || partial.size() > whole.size()) return false;
    for (size_t i = 0; i < partial.size(); ++i) {
      if (!is_partial_of(partial[i], whole[i])) return false;
    }
    return true;
  }
  if (partial.is_object()) {
    if (!whole.is_object()) return false;
    for (const auto& [key, value] : partial.items()) {
      if (!whole.contains(key) || !is_partial_of(value, whole[key])) return false;
    }
    return true;
  }
  return partial == whole;
}

TEST(PartialJson, ValidDocumentsWholeAndSplitAtEveryOffset) {
  for (const auto& v : vector_cases("partial_json.json", "valid")) {
    const std::string text = v["text"].get<std::string>();
    const json expected = json::parse(text);
    json got;
    ASSERT_EQ(parse_chunks({text}, &got), "ok") << v["name"];
    EXPECT_EQ(got, expected) << v["name"];
    for (size_t cut = 0; cut <= text.size(); ++cut) {
      std::string_view all(text);
      json split;
      ASSERT_EQ(parse_chunks({all.substr(0, cut), all.substr(cut)}, &split), "ok")
          << v["name"] << " cut at " << cut;
      EXPECT_EQ(split, expected) << v["name"] << " cut at " << cut;
    }
  }
}

TEST(PartialJson, EveryIntermediateValueIsAPrefixOfTheFinalOne) {
  for (const auto& v : vector_cases("partial_json.json", "valid")) {
    const std::string text = v["text"].get<std::string>();
    const json expected = json::parse(text);
    PartialJsonParser parser;
    bool started = false;
    for (size_t i = 0; i < text.size(); ++i) {
      ASSERT_TRUE(parser.feed(std::string_view(text).substr(i, 1)).ok()) << v["name"] << " @" << i;
      started = started || !std::isspace(static_cast<unsigned char>(text[i]));
      const json& now = parser.value();
      // A value the parser shows must always serialize: whole UTF-8 characters only.
      EXPECT_NO_THROW((void)now.dump()) << v["name"] << " @" << i;
      if (started && !now.is_null() && !v.contains("notPrefix")) {
        EXPECT_TRUE(is_partial_of(now, expected)) << v["name"] << " @" << i << ": " << now.dump();
      }
    }
    EXPECT_EQ(parser.bytes(), text.size());
    ASSERT_TRUE(parser.finish().ok()) << v["name"];
    EXPECT_EQ(parser.value(), expected) << v["name"];
  }
}

TEST(PartialJson, InvalidDocumentsFailHoweverTheyAreSplit) {
  for (const auto& v : vector_cases("partial_json.json", "invalid")) {
    const std::string text = v["text"].get<std::string>();
    // nlohmann/json skips a leading byte order mark; RFC 8259 parsers may refuse it, and we do.
    if (v["name"] != "byte order mark") {
      EXPECT_FALSE(json::accept(text)) << v["name"] << ": the vector should be invalid JSON";
    }
    EXPECT_EQ(parse_chunks({text}), "json_syntax") << v["name"];
    for (size_t cut = 0; cut <= text.size(); ++cut) {
      std::string_view all(text);
      EXPECT_EQ(parse_chunks({all.substr(0, cut), all.substr(cut)}), "json_syntax")
          << v["name"] << " cut at " << cut;
    }
  }
}

TEST(PartialJson, PartialValuesShowWhatHasArrived) {
  for (const auto& v : vector_cases("partial_json.json", "partial")) {
    PartialJsonParser parser;
    ASSERT_TRUE(parser.feed(v["text"].get<std::string>()).ok()) << v["name"];
    EXPECT_EQ(parser.value(), v["value"]) << v["name"];
    EXPECT_FALSE(parser.complete()) << v["name"];
    EXPECT_EQ(outcome(parser.finish()), "json_syntax") << v["name"];
  }
}

TEST(PartialJson, MultiByteCharactersAppearOnlyWhenWhole) {
  const std::string euro = "\xE2\x82\xAC";  // U+20AC, three bytes
  PartialJsonParser parser;
  ASSERT_TRUE(parser.feed("[\"a").ok());
  ASSERT_TRUE(parser.feed(euro.substr(0, 1)).ok());
  EXPECT_EQ(parser.value(), json::array({"a"}));
  ASSERT_TRUE(parser.feed(euro.substr(1, 1)).ok());
  EXPECT_EQ(parser.value(), json::array({"a"}));
  ASSERT_TRUE(parser.feed(euro.substr(2)).ok());
  EXPECT_EQ(parser.value(), json::array({"a" + euro}));
  ASSERT_TRUE(parser.feed("\"]").ok());
  EXPECT_TRUE(parser.complete());
}

TEST(PartialJson, InvalidUtf8IsRefused) {
  const std::vector<std::string> bad = {
      "\"\x80\"",              // a continuation byte alone
      "\"\xC0\xAF\"",          // overlong '/'
      "\"\xE0\x80\xAF\"",      // overlong, three bytes
      "\"\xED\xA0\x80\"",      // an encoded surrogate (U+D800)
      "\"\xF4\x90\x80\x80\"",  // above U+10FFFF
      "\"\xF5\x80\x80\x80\"",  // a lead byte that never occurs
      "\"\xE2\x82\"",          // cut short by the closing quote
      "\"\xE2\x82x\"",         // cut short by a plain character
  };
  for (const std::string& text : bad) {
    EXPECT_FALSE(json::accept(text)) << json(text).dump(-1, ' ', true, json::error_handler_t::replace);
    for (size_t cut = 0; cut <= text.size(); ++cut) {
      std::string_view all(text);
      EXPECT_EQ(parse_chunks({all.substr(0, cut), all.substr(cut)}), "json_syntax");
    }
  }
}

TEST(PartialJson, ErrorsNameTheByteOffsetAndTheParserStaysFailed) {
  PartialJsonParser parser;
  auto fed = parser.feed("[1, 2 x");
  ASSERT_FALSE(fed.ok());
  EXPECT_EQ(fed.error().code, ErrorCode::kJsonSyntax);
  EXPECT_NE(fed.error().message.find("at byte 6"), std::string::npos) << fed.error().message;
  EXPECT_EQ(outcome(parser.feed("]")), "json_syntax");
  EXPECT_EQ(outcome(parser.finish()), "json_syntax");
}

TEST(PartialJson, DepthLimit) {
  std::string deepest_allowed = std::string(kJsonDepthMax, '[') + std::string(kJsonDepthMax, ']');
  EXPECT_EQ(parse_chunks({deepest_allowed}), "ok");
  std::string too_deep = std::string(kJsonDepthMax + 1, '[') + std::string(kJsonDepthMax + 1, ']');
  EXPECT_EQ(parse_chunks({too_deep}), "json_syntax");
}

TEST(PartialJson, NumberLengthLimit) {
  std::string longest = "[1" + std::string(kJsonNumberBytesMax - 1, '0') + "]";
  EXPECT_EQ(parse_chunks({longest}), "ok");
  std::string too_long = "[1" + std::string(kJsonNumberBytesMax, '0') + "]";
  EXPECT_EQ(parse_chunks({too_long}), "json_syntax");
}

TEST(PartialJson, StreamSizeLimit) {
  PartialJsonParser parser;
  ASSERT_TRUE(parser.feed("\"").ok());
  ASSERT_TRUE(parser.feed(std::string(kJsonStreamBytesMax - 2, 'a')).ok());
  ASSERT_TRUE(parser.feed("\"").ok());
  EXPECT_TRUE(parser.complete());
  EXPECT_EQ(outcome(parser.feed(" ")), "payload_too_large");
}

// A large document fed one byte at a time parses to the same value as a whole parse. The
// parser touches each byte once, so this stays fast; it is a correctness test, not a timing.
TEST(PartialJson, LargeDocumentByteByByte) {
  json big = json::array();
  for (int i = 0; i < 2000; ++i) {
    big.push_back({{"id", i}, {"text", std::string(40, static_cast<char>('a' + i % 26))},
                   {"score", i * 0.25}, {"tags", {"x", "y\n\u00e9"}}});
  }
  const std::string text = big.dump();
  PartialJsonParser parser;
  for (char c : text) ASSERT_TRUE(parser.feed(std::string_view(&c, 1)).ok());
  auto done = parser.finish();
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done.value(), big);
}

}  // namespace
}  // namespace tollgate::structured
