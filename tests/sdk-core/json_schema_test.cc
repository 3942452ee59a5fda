#include "tollgate/structured/json_schema.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "vectors.h"

namespace tollgate::structured {
namespace {

using nlohmann::json;
using testing::vector_cases;

TEST(JsonSchema, ValidationVectors) {
  for (const auto& group : vector_cases("json_schema.json", "groups")) {
    auto schema = JsonSchema::compile(group["schema"]);
    ASSERT_TRUE(schema.ok()) << group["name"] << ": " << schema.error().message;
    for (const auto& t : group["tests"]) {
      auto violations = schema.value().validate(t["data"]);
      EXPECT_EQ(violations.empty(), t["valid"].get<bool>())
          << group["name"] << " with " << t["data"].dump() << ": " << describe(violations);
    }
  }
}

TEST(JsonSchema, InvalidSchemasNameThePointer) {
  for (const auto& v : vector_cases("json_schema.json", "invalid_schemas")) {
    auto schema = JsonSchema::compile(v["schema"], "responseFormat");
    ASSERT_FALSE(schema.ok()) << v["name"];
    EXPECT_EQ(schema.error().code, ErrorCode::kInvalidArgument) << v["name"];
    EXPECT_EQ(schema.error().param, "responseFormat") << v["name"];
    std::string quoted = "'";
    quoted += v["pointer"].get<std::string>();
    quoted += "'";
    EXPECT_NE(schema.error().message.find(quoted), std::string::npos)
        << v["name"] << ": " << schema.error().message;
  }
}

TEST(JsonSchema, ViolationsSayWhereAndWhy) {
  auto schema = JsonSchema::compile(json::parse(R"({
    "type": "object",
    "properties": {
      "title": {"type": "string", "maxLength": 5},
      "tags": {"type": "array", "items": {"enum": ["a", "b"]}}
    },
    "required": ["title", "owner"],
    "additionalProperties": false
  })"));
  ASSERT_TRUE(schema.ok());
  auto violations = schema.value().validate(
      json::parse(R"({"title": "too long", "tags": ["a", "c"], "x/y": 1})"));
  ASSERT_EQ(violations.size(), 4u) << describe(violations);
  EXPECT_EQ(describe(violations),
            "(root): missing required property 'owner'\n"
            "/tags/1: must be one of [\"a\",\"b\"]\n"
            "/title: must be at most 5 characters long\n"
            "/x~1y: property 'x/y' is not allowed");
  EXPECT_EQ(violations[0].keyword, "required");
  EXPECT_EQ(violations[3].keyword, "additionalProperties");
}

TEST(JsonSchema, ViolationsAreCapped) {
  auto schema = JsonSchema::compile(json::parse(R"({"items": {"type": "string"}})"));
  ASSERT_TRUE(schema.ok());
  json many = json::array();
  for (int i = 0; i < 100; ++i) many.push_back(i);
  EXPECT_EQ(schema.value().validate(many).size(), kSchemaViolationsMax);
}

TEST(JsonSchema, ARefCycleThatConsumesNothingStopsAtTheDepthLimit) {
  auto schema = JsonSchema::compile(json::parse(R"({"$defs": {"a": {"$ref": "#/$defs/b"},
                                                   "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"})"));
  ASSERT_TRUE(schema.ok());
  auto violations = schema.value().validate(1);
  ASSERT_FALSE(violations.empty());
  EXPECT_NE(violations[0].message.find("deeper than"), std::string::npos);
}

TEST(JsonSchema, PatternSubjectLimit) {
  auto schema = JsonSchema::compile(json::parse(R"({"pattern": "^a*$"})"));
  ASSERT_TRUE(schema.ok());
  EXPECT_TRUE(schema.value().accepts(std::string(kPatternSubjectBytesMax, 'a')));
  auto violations = schema.value().validate(std::string(kPatternSubjectBytesMax + 1, 'a'));
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].keyword, "pattern");
}

TEST(JsonSchema, PatternErrorsSayWhy) {
  auto schema = JsonSchema::compile(
      json::parse(R"js({"properties": {"a": {"pattern": "x(?!y)"}}})js"), "responseFormat");
  ASSERT_FALSE(schema.ok());
  EXPECT_EQ(schema.error().message,
            "invalid schema at '#/properties/a/pattern': is not a supported regular expression: "
            "lookahead is not supported at byte 1");
}

// Random a/b text keeps every DFA state of [ab]*a[ab]{200}c new, so each code point costs about
// as many steps as the program has instructions.
std::string costly_subject(uint32_t seed) {
  std::mt19937 random(seed);
  std::string text(1000, 'a');
  for (char& c : text) c = "ab"[random() % 2];
  return text;
}
constexpr const char* kCostlyPattern = "[ab]*a[ab]{200}c";
constexpr uint64_t kSmallBudget = 300'000;  // a little over two subjects' worth

TEST(JsonSchema, PatternChecksShareOneStepBudget) {
  auto schema = JsonSchema::compile({{"items", {{"pattern", kCostlyPattern}}}});
  ASSERT_TRUE(schema.ok());
  json answer = json::array();
  for (uint32_t i = 0; i < 4; ++i) answer.push_back(costly_subject(i));
  EXPECT_EQ(schema.value().validate(answer).size(), 4u);
  for (const auto& v : schema.value().validate(answer)) {
    EXPECT_EQ(v.message, std::string("must match the pattern ") + kCostlyPattern);
  }
  auto violations = schema.value().validate(answer, kSmallBudget);
  ASSERT_EQ(violations.size(), 4u) << describe(violations);
  EXPECT_EQ(violations[0].message, std::string("must match the pattern ") + kCostlyPattern);
  EXPECT_EQ(violations[3].keyword, "pattern");
  EXPECT_EQ(violations[3].message,
            "was not checked against its pattern: the instance's pattern checks took more than " +
                std::to_string(kSmallBudget) + " steps");
}

TEST(JsonSchema, ManyStringsUnderOnePatternShareItsDfa) {
  // Alone, each string costs this pattern about 270 steps, building its DFA states; 5,000 of
  // them would overrun this budget, but the states are built once for all of them.
  constexpr uint64_t kBudget = 500'000;
  auto schema = JsonSchema::compile({{"items",
                                      {{"pattern",
                                        "^(?:[a-z]|[0-9]|[A-Z]|_|-|\\.)+@(?:[a-z0-9-]+\\.)+"
                                        "(?:com|org|net|io|dev|[a-z]{2})$"}}}});
  ASSERT_TRUE(schema.ok());
  json answer = json::array();
  for (int i = 0; i < 5'000; ++i) answer.push_back("ada.lovelace@mail.example.org");
  EXPECT_EQ(describe(schema.value().validate(answer, kBudget)), "");
  answer.push_back("not an address");
  EXPECT_EQ(schema.value().validate(answer, kBudget).size(), 1u);
}

TEST(JsonSchema, MorePatternsThanKeptDfasStillCheckEach) {
  json schema = {{"items", {{"properties", json::object()}}}};
  json item = json::object();
  for (int i = 0; i < 20; ++i) {  // more than the DFAs one validation keeps, so some are dropped
    std::string n = std::to_string(i);
    schema["items"]["properties"]["p" + n] = {{"pattern", std::string("^v").append(n) + "$"}};
    item["p" + n] = std::string("v").append(n);
  }
  auto compiled = JsonSchema::compile(schema);
  ASSERT_TRUE(compiled.ok());
  json answer = json::array({item, item, item});
  EXPECT_EQ(describe(compiled.value().validate(answer)), "");
  answer[1]["p7"] = "v8";
  EXPECT_EQ(describe(compiled.value().validate(answer)), "/1/p7: must match the pattern ^v7$");
}

TEST(JsonSchema, AnUncheckedPatternNeverLetsAnInstanceThrough) {
  // Under `not`, a failure does not count; an unchecked pattern must still refuse the instance.
  auto spent = JsonSchema::compile({{"items", {{"not", {{"pattern", kCostlyPattern}}}}}});
  ASSERT_TRUE(spent.ok());
  json answer = json::array();
  for (uint32_t i = 0; i < 4; ++i) answer.push_back(costly_subject(i));
  EXPECT_TRUE(spent.value().accepts(answer));
  auto violations = spent.value().validate(answer, kSmallBudget);
  ASSERT_EQ(violations.size(), 1u) << describe(violations);
  EXPECT_EQ(violations[0].keyword, "pattern");
  EXPECT_NE(violations[0].message.find("could not be checked"), std::string::npos);

  auto banned = JsonSchema::compile(json::parse(R"({"not": {"pattern": "secret"}})"));
  ASSERT_TRUE(banned.ok());
  EXPECT_TRUE(banned.value().accepts("public"));
  EXPECT_FALSE(banned.value().accepts(std::string(kPatternSubjectBytesMax + 1, 'x')));
}

TEST(JsonSchema, ASchemaNestedPastItsLimitIsRefusedNotAStackOverflow) {
  json deep = true;
  for (size_t i = 0; i < kSchemaDepthMax; ++i) deep = {{"not", deep}};
  auto refused = JsonSchema::compile(deep);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(refused.error().message.find("nests deeper than"), std::string::npos);
  json fits = true;
  for (size_t i = 0; i + 1 < kSchemaDepthMax; ++i) fits = {{"not", fits}};
  EXPECT_TRUE(JsonSchema::compile(fits).ok());
  // Far deeper: refused at the limit, the rest of the document never walked. (Built by moving,
  // so making it takes linear time and no recursion.)
  json far = true;
  for (int i = 0; i < 1000; ++i) {
    json outer = json::object();
    outer["allOf"] = json::array();
    outer["allOf"].push_back(std::move(far));
    far = std::move(outer);
  }
  EXPECT_FALSE(JsonSchema::compile(far).ok());
}

TEST(JsonSchema, RecursionPastTheEvaluationDepthNeverLetsAnInstanceThrough) {
  // "#" recurses once per array level: past kSchemaEvaluationDepthMax the check gives up, and
  // under `not` that must still refuse the instance, not turn into a pass.
  auto schema = JsonSchema::compile(json::parse(R"({"not": {"items": {"$ref": "#/$defs/a"}},
      "$defs": {"a": {"items": {"$ref": "#/$defs/a"}}}})"));
  ASSERT_TRUE(schema.ok()) << schema.error().message;
  json deep = json::array();
  for (size_t i = 0; i < kSchemaEvaluationDepthMax; ++i) deep = json::array({deep});
  auto violations = schema.value().validate(deep);
  ASSERT_EQ(violations.size(), 1u) << describe(violations);
  EXPECT_EQ(violations[0].keyword, "$ref");
  EXPECT_NE(violations[0].message.find("could not be checked"), std::string::npos);
}

TEST(JsonSchema, SizeLimits) {
  json wide = {{"properties", json::object()}};
  for (size_t i = 0; i < kSchemaNodesMax; ++i) wide["properties"][std::to_string(i)] = true;
  auto too_many = JsonSchema::compile(wide);
  ASSERT_FALSE(too_many.ok());
  EXPECT_EQ(too_many.error().code, ErrorCode::kPayloadTooLarge);

  json big = {{"description", std::string(kSchemaBytesMax, 'x')}};
  auto too_big = JsonSchema::compile(big);
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.error().code, ErrorCode::kPayloadTooLarge);
}

}  // namespace
}  // namespace tollgate::structured
