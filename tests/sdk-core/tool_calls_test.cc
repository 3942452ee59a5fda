#include "tollgate/structured/tool_calls.h"

#include <gtest/gtest.h>

#include <string>

#include "vectors.h"

namespace tollgate::structured {
namespace {

using nlohmann::json;
using testing::outcome;

TEST(ToolCalls, OpenAiStyleInterleavedDeltas) {
  ToolCallAssembler calls;
  ASSERT_TRUE(calls.add(0, "call_a", "get_weather", "").ok());
  ASSERT_TRUE(calls.add(0, "", "", "{\"city\": \"Par").ok());
  ASSERT_TRUE(calls.add(1, "call_b", "get_time", "{\"tz\"").ok());
  EXPECT_EQ(calls.partial()[0].arguments, json({{"city", "Par"}}));
  EXPECT_EQ(calls.partial()[1].arguments, json::object());
  ASSERT_TRUE(calls.add(0, "", "", "is\"}").ok());
  ASSERT_TRUE(calls.add(1, "", "", ": \"CET\"}").ok());
  auto done = calls.finish();
  ASSERT_TRUE(done.ok()) << done.error().message;
  ASSERT_EQ(done.value().size(), 2u);
  EXPECT_EQ(done.value()[0].id, "call_a");
  EXPECT_EQ(done.value()[0].name, "get_weather");
  EXPECT_EQ(done.value()[0].arguments, json({{"city", "Paris"}}));
  EXPECT_EQ(done.value()[1].name, "get_time");
  EXPECT_EQ(done.value()[1].arguments, json({{"tz", "CET"}}));
}

TEST(ToolCalls, ArgumentsSplitAtEveryOffset) {
  const std::string arguments = R"({"query": "caf\u00e9 \"x\"", "limit": 10, "tags": ["a", "b"]})";
  const json expected = json::parse(arguments);
  for (size_t cut = 0; cut <= arguments.size(); ++cut) {
    ToolCallAssembler calls;
    ASSERT_TRUE(calls.add(3, "toolu_1", "search", "").ok());
    ASSERT_TRUE(calls.add(3, "", "", std::string_view(arguments).substr(0, cut)).ok());
    ASSERT_TRUE(calls.add(3, "", "", std::string_view(arguments).substr(cut)).ok());
    auto done = calls.finish();
    ASSERT_TRUE(done.ok()) << cut;
    EXPECT_EQ(done.value()[0].arguments, expected) << cut;
  }
}

TEST(ToolCalls, NoArgumentsMeansAnEmptyObject) {
  ToolCallAssembler calls;
  ASSERT_TRUE(calls.add(0, "call_1", "list_items", "").ok());
  auto done = calls.finish();
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done.value()[0].arguments, json::object());
}

TEST(ToolCalls, BadStreamsAreRefused) {
  {
    ToolCallAssembler calls;
    EXPECT_EQ(outcome(calls.add(-1, "a", "b", "")), "invalid_argument");
    EXPECT_EQ(outcome(calls.add(static_cast<int64_t>(kToolCallsMax), "a", "b", "")),
              "invalid_argument");
    EXPECT_EQ(outcome(calls.add(0, std::string(kToolCallIdBytesMax + 1, 'x'), "b", "")),
              "invalid_argument");
  }
  {
    ToolCallAssembler calls;
    ASSERT_TRUE(calls.add(0, "call_1", "a", "").ok());
    auto changed = calls.add(0, "call_2", "", "");
    EXPECT_EQ(outcome(changed), "invalid_argument");
    EXPECT_EQ(changed.error().param, "tool_calls");
  }
  {
    ToolCallAssembler calls;
    ASSERT_TRUE(calls.add(0, "", "a", "{}").ok());
    EXPECT_EQ(outcome(calls.finish()), "invalid_argument");  // no id
  }
  {
    ToolCallAssembler calls;
    ASSERT_TRUE(calls.add(0, "call_1", "a", "[1, 2]").ok());
    EXPECT_EQ(outcome(calls.finish()), "invalid_argument");  // not an object
  }
  {
    ToolCallAssembler calls;
    ASSERT_TRUE(calls.add(0, "call_1", "a", "{\"x\": ").ok());
    EXPECT_EQ(outcome(calls.finish()), "invalid_argument");  // cut short
  }
  {
    ToolCallAssembler calls;
    EXPECT_EQ(outcome(calls.add(0, "call_1", "a", "{x}")), "json_syntax");
  }
  {
    ToolCallAssembler calls;
    ASSERT_TRUE(calls.add(0, "call_1", "a", "\"").ok());
    ASSERT_TRUE(calls.add(0, "", "", std::string(kToolCallArgumentsBytesMax - 1, 'a')).ok());
    EXPECT_EQ(outcome(calls.add(0, "", "", "a")), "payload_too_large");
  }
}

}  // namespace
}  // namespace tollgate::structured
