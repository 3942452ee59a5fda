#include "tollgate/core/json_read.h"

#include <gtest/gtest.h>

#include <string>

namespace tollgate::json_read {
namespace {

using nlohmann::json;

TEST(JsonRead, PathsRenderMembersAndIndexes) {
  Path root;
  Path choices(root, "choices");
  Path first(choices, size_t{0});
  Path message(first, "message");
  EXPECT_EQ(message.str(), "choices[0].message");
  Path named("chunk");
  Path usage(named, "usage");
  EXPECT_EQ(usage.str(), "chunk.usage");
  EXPECT_EQ(root.str(), "");
}

TEST(JsonRead, FindOnlyLooksInObjects) {
  json object = {{"a", 1}, {"n", nullptr}};
  EXPECT_NE(find(object, "a"), nullptr);
  EXPECT_NE(find(object, "n"), nullptr);  // present, though null
  EXPECT_EQ(find(object, "b"), nullptr);
  for (const json& other : {json(nullptr), json(3), json("a"), json::array({"a"}), json(true)}) {
    EXPECT_EQ(find(other, "a"), nullptr) << other.dump();
  }
}

TEST(JsonRead, StringsTellAbsentFromWrongType) {
  json object = {{"s", "text"}, {"n", nullptr}, {"i", 5}, {"o", json::object()}};
  Path at("msg");
  EXPECT_EQ(get_string(object, "s", at).value(), std::optional<std::string_view>("text"));
  EXPECT_FALSE(get_string(object, "n", at).value());
  EXPECT_FALSE(get_string(object, "missing", at).value());
  auto wrong = get_string(object, "i", at);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(wrong.error().param, "msg.i");
  EXPECT_EQ(wrong.error().message, "'msg.i' must be a string");
  auto absent = need_string(object, "n", at);
  ASSERT_FALSE(absent.ok());
  EXPECT_EQ(absent.error().message, "'msg.n' is required");
  EXPECT_FALSE(need_string(object, "o", at).ok());
  auto long_text = need_string(object, "s", at, 3);
  ASSERT_FALSE(long_text.ok());
  EXPECT_EQ(long_text.error().message, "'msg.s' must be at most 3 bytes");
  // Not an object at all: every member is absent.
  EXPECT_FALSE(get_string(json::array({1}), "s", at).value());
  EXPECT_FALSE(need_string(json(7), "s", at).ok());
}

TEST(JsonRead, IntegersAreInt64AndRangeChecked) {
  json object =
      json::parse(R"({"small": 3, "negative": -4, "float": 2.0, "big": 9223372036854775807,
      "past": 9223372036854775808, "huge": 18446744073709551616, "text": "5", "flag": true})");
  Path at;
  EXPECT_EQ(need_int64(object, "small", at).value(), 3);
  EXPECT_EQ(need_int64(object, "negative", at).value(), -4);
  EXPECT_EQ(need_int64(object, "big", at).value(), std::numeric_limits<int64_t>::max());
  for (const char* bad : {"float", "past", "huge", "text", "flag"}) {
    auto read = need_int64(object, bad, at);
    ASSERT_FALSE(read.ok()) << bad;
    std::string expected = "'";
    expected += bad;
    expected += "' must be an integer";
    EXPECT_EQ(read.error().message, expected) << bad;
  }
  auto negative = get_int64(object, "negative", at, 0, 100);
  ASSERT_FALSE(negative.ok());
  EXPECT_EQ(negative.error().message, "'negative' must be an integer between 0 and 100");
  EXPECT_FALSE(get_int64(object, "small", at, 0, 2).ok());
  EXPECT_FALSE(get_int64(object, "missing", at, 0, 2).value());
  EXPECT_FALSE(need_int64(object, "missing", at).ok());
}

TEST(JsonRead, BooleansObjectsAndArrays) {
  json object = {{"b", false}, {"o", {{"x", 1}}}, {"a", {1, 2}}, {"n", nullptr}, {"s", "x"}};
  Path at("v");
  EXPECT_EQ(need_bool(object, "b", at).value(), false);
  EXPECT_FALSE(need_bool(object, "s", at).ok());
  EXPECT_FALSE(get_bool(object, "n", at).value());
  EXPECT_EQ(need_object(object, "o", at).value()->size(), 1u);
  EXPECT_EQ(get_object(object, "n", at).value(), nullptr);
  EXPECT_FALSE(get_object(object, "a", at).ok());
  EXPECT_FALSE(need_object(object, "missing", at).ok());
  EXPECT_EQ(need_array(object, "a", at).value()->size(), 2u);
  EXPECT_EQ(get_array(object, "missing", at).value(), nullptr);
  auto wrong = get_array(object, "o", at);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().message, "'v.o' must be an array");
  EXPECT_EQ(as_object(json(1), Path()).error().message, "the value must be an object");
}

TEST(JsonRead, ErrorsNeverQuoteTheValue) {
  json object = {{"id", "SECRET-VALUE"}, {"n", "SECRET-VALUE"}};
  for (const Error& error :
       {need_int64(object, "id", Path()).error(), need_object(object, "n", Path()).error(),
        need_string(object, "id", Path(), 2).error()}) {
    EXPECT_EQ(error.message.find("SECRET"), std::string::npos) << error.message;
  }
}

TEST(JsonRead, ParseRefusesSyntaxAndDeepNesting) {
  EXPECT_EQ(parse(R"({"a": [1, {"b": "]]]]"}]})", 3).value()["a"][1]["b"], "]]]]");
  EXPECT_EQ(parse("{not json", 8).error().code, ErrorCode::kJsonSyntax);
  EXPECT_EQ(parse("NaN", 8).error().code, ErrorCode::kJsonSyntax);
  EXPECT_EQ(parse("1e999", 8).error().code, ErrorCode::kJsonSyntax);  // past double
  EXPECT_EQ(parse("\"\xff\"", 8).error().code, ErrorCode::kJsonSyntax);
  EXPECT_EQ(parse("[[[1]]]", 3).value().dump(), "[[[1]]]");
  auto deep = parse("[[[[1]]]]", 3);
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.error().code, ErrorCode::kInvalidArgument);
  // Far deeper than any stack: refused before anything recurses.
  std::string bomb(1'000'000, '[');
  EXPECT_FALSE(parse(bomb, 64).ok());
  // Brackets inside strings, escaped quotes included, do not count.
  EXPECT_TRUE(parse(R"(["\"[[[[[[[["])", 1).ok());
}

}  // namespace
}  // namespace tollgate::json_read
