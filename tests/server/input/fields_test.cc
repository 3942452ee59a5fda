// The field checks every request body and feature definition goes through: each refusal is
// kInvalidArgument whose param is the field and whose message quotes it.
#include "server/input/fields.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

namespace tollgate::server {
namespace {

// The refusal of `result`, checked to name `field` in its param and its message.
template <typename T>
std::string refusal(const Result<T>& result, std::string_view field) {
  EXPECT_FALSE(result.ok()) << field;
  if (result.ok()) return "";
  EXPECT_EQ(result.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(result.error().param, field);
  EXPECT_NE(result.error().message.find(quoted_field(field)), std::string::npos)
      << result.error().message;
  return result.error().message;
}

TEST(Fields, QuotedFieldAndInvalidField) {
  EXPECT_EQ(quoted_field("userId"), "'userId'");
  EXPECT_EQ(quoted_field(""), "''");
  Error error = invalid_field("bad", "cost");
  EXPECT_EQ(error.code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(error.message, "bad");
  EXPECT_EQ(error.param, "cost");
}

// ---- Strings ----------------------------------------------------------------------------------

TEST(StringField, RequiredPresentAndAString) {
  json body = {{"userId", "alice"}, {"nothing", nullptr}, {"number", 5}, {"list", {"a"}}};
  EXPECT_EQ(string_field(body, "userId", 10).value(), "alice");
  EXPECT_EQ(refusal(string_field(body, "missing", 10), "missing"), "'missing' is required");
  EXPECT_EQ(refusal(string_field(body, "nothing", 10), "nothing"), "'nothing' is required");
  EXPECT_EQ(refusal(string_field(body, "number", 10), "number"), "'number' must be a string");
  EXPECT_EQ(refusal(string_field(body, "list", 10), "list"), "'list' must be a string");
}

TEST(StringField, BoundsCountBytes) {
  json body = {{"exact", std::string(8, 'x')},
               {"over", std::string(9, 'x')},
               {"accents", "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"},
               {"empty", ""}};
  EXPECT_TRUE(string_field(body, "exact", 8).ok());
  EXPECT_EQ(refusal(string_field(body, "over", 8), "over"), "'over' must be at most 8 bytes");
  // Five characters, ten bytes.
  EXPECT_FALSE(string_field(body, "accents", 8).ok());
  EXPECT_TRUE(string_field(body, "accents", 10).ok());
  EXPECT_EQ(refusal(string_field(body, "empty", 8), "empty"), "'empty' must not be empty");
}

TEST(OptionalStringField, AbsentOrNullIsNoneOtherwiseTheSameChecks) {
  json body = {{"title", "T"}, {"gone", nullptr}, {"bad", 1}, {"long", "abcd"}};
  EXPECT_EQ(optional_string_field(body, "title", 5).value(), "T");
  EXPECT_EQ(optional_string_field(body, "missing", 5).value(), std::nullopt);
  EXPECT_EQ(optional_string_field(body, "gone", 5).value(), std::nullopt);
  refusal(optional_string_field(body, "bad", 5), "bad");
  refusal(optional_string_field(body, "long", 3), "long");
}

TEST(CheckText, ControlCharactersAndUtf8) {
  for (std::string ok : {"alice", "user@example.com", "\xC3\xA9t\xC3\xA9", "\xF0\x9F\x98\x80",
                         "with space", "~!@#"}) {
    EXPECT_TRUE(check_text(ok, "userId", 64).ok()) << ok;
  }
  for (std::string control : {std::string("a\nb"), std::string("tab\t"), std::string("\x7F"),
                              std::string("nul\0x", 5), std::string("\x1B[31m")}) {
    EXPECT_EQ(refusal(check_text(control, "userId", 64), "userId"),
              "'userId' must not contain control characters");
  }
  for (std::string broken : {std::string("\xFF"), std::string("\xC3"), std::string("\xC0\xAF"),
                             std::string("\xED\xA0\x80"), std::string("ok\xF0\x9F\x98")}) {
    EXPECT_EQ(refusal(check_text(broken, "event", 64), "event"), "'event' must be valid UTF-8");
  }
  // Emptiness and length are checked first, before the text is scanned.
  EXPECT_EQ(refusal(check_text("", "event", 64), "event"), "'event' must not be empty");
  EXPECT_EQ(refusal(check_text("\n\n\n", "event", 2), "event"), "'event' must be at most 2 bytes");
}

TEST(StringField, RunsCheckText) {
  json body = {{"event", "a\rb"}, {"utf8", std::string("\xFE")}};
  refusal(string_field(body, "event", 64), "event");
  refusal(string_field(body, "utf8", 64), "utf8");
}

// ---- Integers ---------------------------------------------------------------------------------

TEST(IntField, BoundsAreInclusiveAndNamed) {
  json body = {{"low", -5}, {"high", 100}, {"below", -6}, {"above", 101}};
  EXPECT_EQ(int_field(body, "low", -5, 100).value(), -5);
  EXPECT_EQ(int_field(body, "high", -5, 100).value(), 100);
  EXPECT_EQ(refusal(int_field(body, "below", -5, 100), "below"),
            "'below' must be between -5 and 100");
  EXPECT_EQ(refusal(int_field(body, "above", -5, 100), "above"),
            "'above' must be between -5 and 100");
}

TEST(IntField, OnlyIntegers) {
  json body = {{"float", 2.0}, {"half", 1.5}, {"text", "5"}, {"flag", true}, {"list", {1}}};
  for (const char* name : {"float", "half", "text", "flag", "list"}) {
    EXPECT_EQ(refusal(int_field(body, name, 0, 10), name),
              quoted_field(name) + " must be an integer between 0 and 10");
  }
}

TEST(IntField, ValuesPastInt64AreOutOfRangeNotWrapped) {
  json body = {{"huge", std::numeric_limits<uint64_t>::max()},
               {"just_over", uint64_t{std::numeric_limits<int64_t>::max()} + 1},
               {"max", std::numeric_limits<int64_t>::max()},
               {"min", std::numeric_limits<int64_t>::min()}};
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  refusal(int_field(body, "huge", kMin, kMax), "huge");
  refusal(int_field(body, "just_over", 0, kMax), "just_over");
  EXPECT_EQ(int_field(body, "max", kMin, kMax).value(), kMax);
  EXPECT_EQ(int_field(body, "min", kMin, kMax).value(), kMin);
  // An unsigned value under the bound is read normally.
  json small = {{"cost", uint64_t{7}}};
  EXPECT_EQ(int_field(small, "cost", 1, 10).value(), 7);
}

TEST(IntField, AbsentOrNullTakesTheFallbackOrIsRequired) {
  json body = {{"gone", nullptr}};
  EXPECT_EQ(int_field(body, "missing", 0, 10, 3).value(), 3);
  EXPECT_EQ(int_field(body, "gone", 0, 10, 3).value(), 3);
  EXPECT_EQ(refusal(int_field(body, "missing", 0, 10), "missing"), "'missing' is required");
  EXPECT_EQ(refusal(int_field(body, "gone", 0, 10), "gone"), "'gone' is required");
}

// ---- Booleans ---------------------------------------------------------------------------------

TEST(BoolField, OnlyTrueOrFalse) {
  json body = {{"yes", true}, {"no", false}, {"null", nullptr}, {"text", "true"}, {"one", 1}};
  EXPECT_TRUE(bool_field(body, "yes", false).value());
  EXPECT_FALSE(bool_field(body, "no", true).value());
  EXPECT_TRUE(bool_field(body, "missing", true).value());
  EXPECT_FALSE(bool_field(body, "missing", false).value());
  for (const char* name : {"null", "text", "one"}) {
    EXPECT_EQ(refusal(bool_field(body, name, false), name),
              quoted_field(name) + " must be true or false");
  }
}

// ---- Unknown fields ---------------------------------------------------------------------------

TEST(OnlyFields, AnUnknownFieldIsNamedAndKeyIsAlwaysAllowed) {
  json body = {{"userId", "a"}, {"key", "sk_x"}, {"cost", 1}};
  EXPECT_TRUE(only_fields(body, {"userId", "cost"}).ok());
  EXPECT_EQ(refusal(only_fields(body, {"userId"}), "cost"), "unknown field 'cost'");
  EXPECT_TRUE(only_fields(json::object(), {}).ok());
  EXPECT_TRUE(only_fields(json{{"key", 1}}, {}).ok());
  // A typo is refused, not ignored.
  EXPECT_EQ(refusal(only_fields(json{{"userID", "a"}}, {"userId"}), "userID"),
            "unknown field 'userID'");
}

TEST(OnlyFields, APredicateDecidesEachName) {
  json body = {{"metadata.a", 1}, {"metadata.b", 2}, {"other", 3}};
  auto metadata = [](std::string_view name) { return name.starts_with("metadata."); };
  EXPECT_EQ(refusal(only_fields(body, metadata), "other"), "unknown field 'other'");
  body.erase("other");
  EXPECT_TRUE(only_fields(body, metadata).ok());
}

// ---- Origins ----------------------------------------------------------------------------------

TEST(OriginsField, AbsentOrNullIsNone) {
  EXPECT_TRUE(origins_field(json::object(), "allowedOrigins").value().empty());
  EXPECT_TRUE(origins_field(json{{"allowedOrigins", nullptr}}, "allowedOrigins").value().empty());
  refusal(origins_field(json{{"allowedOrigins", "https://a.com"}}, "allowedOrigins"),
          "allowedOrigins");
}

TEST(OriginsField, EachEntryIsAnOriginNamedByItsIndex) {
  json good = {{"o", {"https://app.example.com", "http://localhost:3000", "http://[::1]:8080"}}};
  EXPECT_EQ(origins_field(good, "o").value().size(), 3u);
  for (json bad : {json("https://App.example.com"), json("https://a.com/path"), json("a.com"),
                   json("https://"), json("ftp://a.com"),
                   json("https://" + std::string(kOriginBytesMax, 'a')), json(5)}) {
    json body = {{"o", {"https://ok.com", bad}}};
    refusal(origins_field(body, "o"), "o[1]");
  }
}

TEST(OriginsField, AtMostTheLimit) {
  json origins = json::array();
  for (size_t i = 0; i < kAllowedOriginsMax; ++i) {
    origins.push_back("https://a" + std::to_string(i) + ".com");
  }
  EXPECT_EQ(origins_field(json{{"o", origins}}, "o").value().size(), kAllowedOriginsMax);
  origins.push_back("https://one-more.com");
  EXPECT_EQ(refusal(origins_field(json{{"o", origins}}, "o"), "o"),
            "'o' may list at most " + std::to_string(kAllowedOriginsMax));
}

}  // namespace
}  // namespace tollgate::server
