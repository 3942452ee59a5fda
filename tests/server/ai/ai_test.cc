// The provider-facing pieces without a network: the pricing catalog, failure texts, the demo
// provider's schema-driven answers, and both wire-format dialects on good and broken input.
#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <future>
#include <thread>

#include "server/ai/demo_provider.h"
#include "server/ai/http_client.h"
#include "server/ai/http_provider.h"
#include "server/ai/pricing_catalog.h"
#include "tollgate/structured/json_schema.h"

namespace tollgate::server {
namespace {

using json = nlohmann::json;

TEST(PricingCatalog, ShippedCatalogParsesAndFallsBackToProviderWildcard) {
  auto catalog = PricingCatalog::load(std::nullopt);
  ASSERT_TRUE(catalog.ok()) << catalog.error().message;
  auto mini = catalog.value().find("openai", "gpt-4o-mini");
  ASSERT_TRUE(mini);
  EXPECT_EQ(mini->input_per_million.value(), 150'000);
  EXPECT_EQ(mini->output_per_million.value(), 600'000);
  auto demo = catalog.value().find("demo", "anything");
  ASSERT_TRUE(demo);
  EXPECT_EQ(demo->input_per_million.value(), 1'000'000);
  EXPECT_FALSE(catalog.value().find("openai", "unknown-model"));
}

TEST(PricingCatalog, BadEntriesAreNamed) {
  struct Case {
    const char* text;
    const char* param;
  } cases[] = {
      {"[]", "models"},
      {R"({"models": {"nomodel": {"inputPerMillionMicros": 1, "outputPerMillionMicros": 1}}})",
       "models.nomodel"},
      {R"({"models": {"a/b": {"inputPerMillionMicros": -1, "outputPerMillionMicros": 1}}})",
       "models.a/b.inputPerMillionMicros"},
      {R"({"models": {"a/b": {"inputPerMillionMicros": 1.5, "outputPerMillionMicros": 1}}})",
       "models.a/b.inputPerMillionMicros"},
      {R"({"models": {"a/b": {"inputPerMillionMicros": 1}}})", "models.a/b.outputPerMillionMicros"},
      {R"({"models": {"a/b": {"inputPerMillionMicros": 1000000001, "outputPerMillionMicros": 1}}})",
       "models.a/b.inputPerMillionMicros"},
  };
  for (const Case& c : cases) {
    auto parsed = PricingCatalog::parse(c.text);
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_EQ(parsed.error().param, c.param) << c.text;
  }
}

TEST(DemoProvider, BuildsValuesTheSchemaAccepts) {
  const char* schemas[] = {
      R"({"type":"object","properties":{"summary":{"type":"string","minLength":10},
          "priority":{"enum":["low","high"]},"score":{"type":"integer","minimum":3,"maximum":9},
          "ratio":{"type":"number","exclusiveMinimum":0},"tags":{"type":"array","items":{"type":"string"},"minItems":2},
          "ok":{"type":"boolean"}},"required":["summary","priority","score"],"additionalProperties":false})",
      R"({"$defs":{"item":{"type":"object","properties":{"n":{"type":"integer","multipleOf":5,"minimum":7}},"required":["n"]}},
          "type":"object","properties":{"items":{"type":"array","items":{"$ref":"#/$defs/item"},"minItems":1}},"required":["items"]})",
      R"({"anyOf":[{"type":"string","maxLength":3},{"type":"integer"}]})",
      R"({"type":["null","string"],"const":"fixed"})",
  };
  for (const char* text : schemas) {
    json schema = json::parse(text);
    auto compiled = structured::JsonSchema::compile(schema);
    ASSERT_TRUE(compiled.ok()) << compiled.error().message;
    json value = demo_value(schema);
    EXPECT_TRUE(compiled.value().accepts(value)) << text << " -> " << value.dump() << "\n"
                                                 << structured::describe(compiled.value().validate(value));
  }
}

TEST(DemoProvider, AnswersToolsFirstThenTextAndNeverRepeatsThePrompt) {
  DemoProvider demo;
  ModelRequest request;
  request.model = "echo";
  request.messages = {{ChatMessage::Role::kSystem, "SECRET SYSTEM PROMPT", {}, {}},
                      {ChatMessage::Role::kUser, "SECRET TEMPLATE hello", {}, {}}};
  request.tools = {{"lookup", "Looks up", json{{"type", "object"}, {"properties", {{"id", {{"type", "string"}}}}}}}};
  ModelResult result;
  demo.start(request, nullptr, [&](ModelResult r) { result = std::move(r); });
  auto& first = std::get<ModelAnswer>(result);
  ASSERT_EQ(first.tool_calls.size(), 1u);
  EXPECT_EQ(first.tool_calls[0].name, "lookup");
  EXPECT_EQ(first.finish_reason, "tool_calls");
  request.messages.push_back({ChatMessage::Role::kAssistant, "", first.tool_calls, {}});
  request.messages.push_back({ChatMessage::Role::kTool, "{}", {}, first.tool_calls[0].id});
  request.stream = true;
  std::string streamed;
  demo.start(request, [&](const ModelDelta& d) { streamed += d.text; },
             [&](ModelResult r) { result = std::move(r); });
  auto& second = std::get<ModelAnswer>(result);
  EXPECT_TRUE(second.tool_calls.empty());
  EXPECT_EQ(streamed, second.text);
  EXPECT_EQ(second.text.find("SECRET"), std::string::npos);
  ASSERT_TRUE(second.usage);
  EXPECT_GT(second.usage->input_tokens, 0);
}

TEST(OpenAiDialect, BuildsTheRequestInItsOwnFormat) {
  ModelRequest request;
  request.model = "gpt-4o-mini";
  request.messages = {{ChatMessage::Role::kSystem, "sys", {}, {}}, {ChatMessage::Role::kUser, "hi", {}, {}}};
  request.response_format = json{{"type", "object"}};
  request.temperature = 0.5;
  request.stream = true;
  auto built = OpenAiDialect().build(request, {"openai", "sk-key", "https://api.openai.com/v1"});
  ASSERT_TRUE(built.ok());
  EXPECT_EQ(built.value().url, "https://api.openai.com/v1/chat/completions");
  json body = json::parse(built.value().body);
  EXPECT_EQ(body["messages"][0], (json{{"role", "system"}, {"content", "sys"}}));
  EXPECT_EQ(body["response_format"]["type"], "json_schema");
  EXPECT_EQ(body["stream_options"]["include_usage"], true);
  EXPECT_EQ(body["temperature"], 0.5);
}

TEST(OpenAiDialect, StreamEventsBuildTheAnswerAndRefuseMalformedChunks) {
  OpenAiDialect dialect;
  StreamState state;
  std::string text;
  OnDelta on_delta = [&](const ModelDelta& d) { text += d.text; };
  auto event = [](std::string data) { return stream::SseEvent{"message", std::move(data), ""}; };
  ASSERT_TRUE(dialect.on_event(event(R"({"choices":[{"index":0,"delta":{"content":"Hel"}}]})"), state, on_delta).ok());
  ASSERT_TRUE(dialect.on_event(event(R"({"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]})"), state, on_delta).ok());
  ASSERT_TRUE(dialect.on_event(event(R"({"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}})"), state, on_delta).ok());
  ASSERT_TRUE(dialect.on_event(event("[DONE]"), state, on_delta).ok());
  EXPECT_TRUE(state.finished);
  EXPECT_EQ(text, "Hello");
  EXPECT_EQ(state.answer.finish_reason, "stop");
  EXPECT_EQ(*state.input_tokens, 5);
  StreamState broken;
  auto bad = dialect.on_event(event("{not json"), broken, on_delta);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kUpstreamError);
  EXPECT_FALSE(dialect.on_event(event(R"({"choices":[{"delta":{"tool_calls":[{"function":{}}]}}]})"), broken, on_delta).ok());
  EXPECT_FALSE(dialect.parse(R"({"choices":[]})").ok());
}

TEST(AnthropicDialect, SystemGoesTopLevelAndStructuredOutputIsAForcedTool) {
  ModelRequest request;
  request.model = "claude";
  request.messages = {{ChatMessage::Role::kSystem, "sys", {}, {}}, {ChatMessage::Role::kUser, "hi", {}, {}}};
  request.response_format = json{{"type", "object"}, {"properties", {{"a", {{"type", "string"}}}}}};
  auto built = AnthropicDialect().build(request, {"anthropic", "key", "https://api.anthropic.com"});
  ASSERT_TRUE(built.ok());
  json body = json::parse(built.value().body);
  EXPECT_EQ(body["system"], "sys");
  EXPECT_EQ(body["messages"].size(), 1u);
  EXPECT_EQ(body["tool_choice"], (json{{"type", "tool"}, {"name", "tollgate_output"}}));
  request.response_format = json{{"type", "array"}};
  EXPECT_FALSE(AnthropicDialect().build(request, {"anthropic", "key", "x"}).ok());
  auto answer = AnthropicDialect().parse(
      R"({"content":[{"type":"tool_use","id":"t","name":"tollgate_output","input":{"a":"b"}}],
          "stop_reason":"tool_use","usage":{"input_tokens":3,"output_tokens":4}})");
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer.value().text, R"({"a":"b"})");
  EXPECT_TRUE(answer.value().tool_calls.empty());
  EXPECT_EQ(answer.value().finish_reason, "stop");
  EXPECT_EQ(answer.value().usage->output_tokens, 4);
}

// ---- Hostile answers: a wrong type anywhere is a named 502, never a throw ------------------

// A value of every kind that is wrong for a field holding `original` (a string, an object, an
// array, a boolean or a non-negative integer): every other kind, plus, for integers, a negative
// one, a float and one past int64.
std::vector<std::pair<std::string, json>> wrong_values(const json& original) {
  const std::vector<std::pair<std::string, json>> all = {
      {"integer", 7},
      {"float", 1.5},
      {"negative", -3},
      {"string", "x"},
      {"bool", true},
      {"object", json::object({{"a", 1}})},
      {"array", json::array({1, "a"})},
      {"past-int64", json::parse("18446744073709551615")},
  };
  std::vector<std::pair<std::string, json>> wrong;
  for (const auto& [kind, value] : all) {
    bool fits = (original.is_string() && value.is_string()) ||
                (original.is_object() && value.is_object()) ||
                (original.is_array() && value.is_array()) ||
                (original.is_boolean() && value.is_boolean()) ||
                (original.is_number_integer() && kind == "integer");
    if (!fits) wrong.emplace_back(kind, value);
  }
  return wrong;
}

// Sets `pointer` in a copy of `doc`.
json with(const json& doc, const std::string& pointer, const json& value) {
  json copy = doc;
  copy[json::json_pointer(pointer)] = value;
  return copy;
}

const json kOpenAiAnswer = json::parse(R"({
  "id": "chatcmpl-1", "object": "chat.completion",
  "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant",
    "content": "thinking", "tool_calls": [{"id": "call_1", "type": "function",
    "function": {"name": "get_order", "arguments": "{\"id\":\"A-1\"}"}}]}}],
  "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}})");

// Each field the OpenAI dialect reads, as a JSON pointer and the path its error names.
const std::vector<std::pair<std::string, std::string>> kOpenAiFields = {
    {"/choices", "'choices'"},
    {"/choices/0", "'choices[0]'"},
    {"/choices/0/message", "'choices[0].message'"},
    {"/choices/0/message/content", "'choices[0].message.content'"},
    {"/choices/0/message/tool_calls", "'choices[0].message.tool_calls'"},
    {"/choices/0/message/tool_calls/0", "'choices[0].message.tool_calls[0]'"},
    {"/choices/0/message/tool_calls/0/id", "'choices[0].message.tool_calls[0].id'"},
    {"/choices/0/message/tool_calls/0/type", "'choices[0].message.tool_calls[0].type'"},
    {"/choices/0/message/tool_calls/0/function", "'choices[0].message.tool_calls[0].function'"},
    {"/choices/0/message/tool_calls/0/function/name",
     "'choices[0].message.tool_calls[0].function.name'"},
    {"/choices/0/message/tool_calls/0/function/arguments",
     "'choices[0].message.tool_calls[0].function.arguments'"},
    {"/choices/0/finish_reason", "'choices[0].finish_reason'"},
    {"/usage", "'usage'"},
    {"/usage/prompt_tokens", "'usage.prompt_tokens'"},
    {"/usage/completion_tokens", "'usage.completion_tokens'"},
};

void expect_malformed(const Result<ModelAnswer>& parsed, const std::string& field,
                      const std::string& context) {
  ASSERT_FALSE(parsed.ok()) << context;
  EXPECT_EQ(parsed.error().code, ErrorCode::kUpstreamError) << context;
  EXPECT_TRUE(parsed.error().message.starts_with("the provider sent a malformed answer: "))
      << context << ": " << parsed.error().message;
  EXPECT_NE(parsed.error().message.find(field), std::string::npos)
      << context << ": " << parsed.error().message;
}

TEST(OpenAiDialect, AWholeAnswerIsReadWithEveryFieldChecked) {
  auto good = OpenAiDialect().parse(kOpenAiAnswer.dump());
  ASSERT_TRUE(good.ok()) << good.error().message;
  ASSERT_EQ(good.value().tool_calls.size(), 1u);
  EXPECT_EQ(good.value().tool_calls[0].id, "call_1");
  EXPECT_EQ(good.value().usage->input_tokens, 12);
  int cases = 0;
  for (const auto& [pointer, field] : kOpenAiFields) {
    for (const auto& [kind, value] : wrong_values(kOpenAiAnswer[json::json_pointer(pointer)])) {
      expect_malformed(OpenAiDialect().parse(with(kOpenAiAnswer, pointer, value).dump()), field,
                       pointer + " = " + kind);
      ++cases;
    }
  }
  EXPECT_GT(cases, 80);
}

TEST(OpenAiDialect, ANumericToolCallIdIsAMalformedAnswerNotACrash) {
  auto parsed = OpenAiDialect().parse(
      with(kOpenAiAnswer, "/choices/0/message/tool_calls/0/id", 12345).dump());
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().message,
            "the provider sent a malformed answer: 'choices[0].message.tool_calls[0].id' must be "
            "a string");
}

TEST(OpenAiDialect, LenientWhereTheProtocolAllowsIt) {
  // Null content beside tool calls, no usage, no finish reason, null tool calls.
  json answer = with(kOpenAiAnswer, "/choices/0/message/content", nullptr);
  answer.erase("usage");
  answer["choices"][0].erase("finish_reason");
  auto parsed = OpenAiDialect().parse(answer.dump());
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed.value().text, "");
  EXPECT_FALSE(parsed.value().usage);
  auto no_calls = OpenAiDialect().parse(
      with(with(kOpenAiAnswer, "/choices/0/message/tool_calls", nullptr), "/usage", nullptr)
          .dump());
  ASSERT_TRUE(no_calls.ok());
  EXPECT_TRUE(no_calls.value().tool_calls.empty());
  // A usage block without one of its counts is "not reported", not a guess.
  json partial = kOpenAiAnswer;
  partial["usage"].erase("completion_tokens");
  EXPECT_FALSE(OpenAiDialect().parse(partial.dump()).value().usage);
}

TEST(OpenAiDialect, RefusesWhatWouldChargeWrongOrRecurseDeep) {
  expect_malformed(
      OpenAiDialect().parse(
          with(kOpenAiAnswer, "/usage/prompt_tokens", kProviderTokenCountMax + 1).dump()),
      "'usage.prompt_tokens' must be an integer between 0 and", "too many tokens");
  expect_malformed(OpenAiDialect().parse(
                       with(kOpenAiAnswer, "/usage/completion_tokens", json::parse("1e3")).dump()),
                   "'usage.completion_tokens'", "a float count");
  expect_malformed(
      OpenAiDialect().parse(with(kOpenAiAnswer, "/choices/0/message/tool_calls/0/id", "").dump()),
      "must not be empty", "an empty id");
  std::string deep = "{\"choices\":" + std::string(100'000, '[') + std::string(100'000, ']') + "}";
  expect_malformed(OpenAiDialect().parse(deep), "nests deeper", "deep nesting");
  expect_malformed(OpenAiDialect().parse("[1]"), "not a JSON object", "an array");
  expect_malformed(OpenAiDialect().parse("{\"choices\": NaN}"), "is not JSON", "NaN");
  expect_malformed(OpenAiDialect().parse(R"({"choices":[]})"), "'choices' must not be empty",
                   "none");
}

// Feeds `chunks` to the OpenAI dialect; the first failure, if any.
Result<void> feed_openai(const std::vector<json>& chunks, StreamState& state) {
  OpenAiDialect dialect;
  for (const json& chunk : chunks) {
    auto handled = dialect.on_event(stream::SseEvent{"message", chunk.dump(), ""}, state, nullptr);
    if (!handled) return handled;
  }
  return dialect.on_event(stream::SseEvent{"message", "[DONE]", ""}, state, nullptr);
}

const std::vector<json> kOpenAiChunks = {
    json::parse(
        R"({"choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}],"usage":null})"),
    json::parse(
        R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_order","arguments":"{\"id\""}}]}}]})"),
    json::parse(
        R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]},"finish_reason":"tool_calls"}]})"),
    json::parse(R"({"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4}})"),
};

TEST(OpenAiDialect, StreamChunksAreReadWithEveryFieldChecked) {
  StreamState good;
  ASSERT_TRUE(feed_openai(kOpenAiChunks, good).ok());
  EXPECT_EQ(good.answer.text, "Hi");
  EXPECT_EQ(*good.input_tokens, 9);
  const std::vector<std::tuple<size_t, std::string, std::string>> fields = {
      {0, "/choices", "'choices'"},
      {0, "/choices/0", "'choices[0]'"},
      {0, "/choices/0/delta", "'choices[0].delta'"},
      {0, "/choices/0/delta/content", "'choices[0].delta.content'"},
      {0, "/choices/0/finish_reason", "'choices[0].finish_reason'"},
      {1, "/choices/0/delta/tool_calls", "'choices[0].delta.tool_calls'"},
      {1, "/choices/0/delta/tool_calls/0", "'choices[0].delta.tool_calls[0]'"},
      {1, "/choices/0/delta/tool_calls/0/index", "'choices[0].delta.tool_calls[0].index'"},
      {1, "/choices/0/delta/tool_calls/0/id", "'choices[0].delta.tool_calls[0].id'"},
      {1, "/choices/0/delta/tool_calls/0/type", "'choices[0].delta.tool_calls[0].type'"},
      {1, "/choices/0/delta/tool_calls/0/function", "'choices[0].delta.tool_calls[0].function'"},
      {1, "/choices/0/delta/tool_calls/0/function/name",
       "'choices[0].delta.tool_calls[0].function.name'"},
      {2, "/choices/0/delta/tool_calls/0/function/arguments",
       "'choices[0].delta.tool_calls[0].function.arguments'"},
      {3, "/usage", "'usage'"},
      {3, "/usage/prompt_tokens", "'usage.prompt_tokens'"},
      {3, "/usage/completion_tokens", "'usage.completion_tokens'"},
  };
  int cases = 0;
  for (const auto& [which, pointer, field] : fields) {
    const json& original = kOpenAiChunks[which][json::json_pointer(pointer)];
    for (const auto& [kind, value] : wrong_values(original.is_null() ? json("text") : original)) {
      std::vector<json> chunks = kOpenAiChunks;
      chunks[which] = with(chunks[which], pointer, value);
      StreamState state;
      auto fed = feed_openai(chunks, state);
      std::string context = std::to_string(which) + pointer + " = " + kind;
      ASSERT_FALSE(fed.ok()) << context;
      EXPECT_EQ(fed.error().code, ErrorCode::kUpstreamError) << context;
      EXPECT_NE(fed.error().message.find("in a stream chunk, " + field), std::string::npos)
          << context << ": " << fed.error().message;
      ++cases;
    }
  }
  EXPECT_GT(cases, 90);
}

TEST(OpenAiDialect, AHugeToolIndexIsRefusedNotTruncated) {
  for (const char* index :
       {"4294967296", "9223372036854775807", "18446744073709551615", "64", "-1", "1.0"}) {
    std::vector<json> chunks = kOpenAiChunks;
    chunks[1]["choices"][0]["delta"]["tool_calls"][0]["index"] = json::parse(index);
    StreamState state;
    auto fed = feed_openai(chunks, state);
    ASSERT_FALSE(fed.ok()) << index;
    EXPECT_NE(fed.error().message.find("must be an integer between 0 and 63"), std::string::npos)
        << fed.error().message;
  }
}

const json kAnthropicAnswer = json::parse(R"({
  "id": "msg_1", "type": "message", "role": "assistant", "stop_reason": "tool_use",
  "content": [{"type": "text", "text": "Looking"},
              {"type": "tool_use", "id": "toolu_1", "name": "get_order", "input": {"id": "A-1"}}],
  "usage": {"input_tokens": 20, "output_tokens": 7}})");

TEST(AnthropicDialect, AWholeAnswerIsReadWithEveryFieldChecked) {
  auto good = AnthropicDialect().parse(kAnthropicAnswer.dump());
  ASSERT_TRUE(good.ok()) << good.error().message;
  EXPECT_EQ(good.value().tool_calls.at(0).arguments, R"({"id":"A-1"})");
  const std::vector<std::pair<std::string, std::string>> fields = {
      {"/type", "'type'"},
      {"/content", "'content'"},
      {"/content/0", "'content[0]'"},
      {"/content/0/type", "'content[0].type'"},
      {"/content/0/text", "'content[0].text'"},
      {"/content/1/id", "'content[1].id'"},
      {"/content/1/name", "'content[1].name'"},
      {"/content/1/input", "'content[1].input'"},
      {"/stop_reason", "'stop_reason'"},
      {"/usage", "'usage'"},
      {"/usage/input_tokens", "'usage.input_tokens'"},
      {"/usage/output_tokens", "'usage.output_tokens'"},
  };
  int cases = 0;
  for (const auto& [pointer, field] : fields) {
    for (const auto& [kind, value] : wrong_values(kAnthropicAnswer[json::json_pointer(pointer)])) {
      expect_malformed(AnthropicDialect().parse(with(kAnthropicAnswer, pointer, value).dump()),
                       field, pointer + " = " + kind);
      ++cases;
    }
  }
  EXPECT_GT(cases, 60);
  // Unknown block types (thinking, server tools) are skipped, not refused.
  json thinking = kAnthropicAnswer;
  thinking["content"].push_back({{"type", "thinking"}, {"thinking", 5}});
  EXPECT_TRUE(AnthropicDialect().parse(thinking.dump()).ok());
}

// Feeds Anthropic events (each object's "type" names it); the first failure, if any.
Result<void> feed_anthropic(const std::vector<json>& events, StreamState& state) {
  AnthropicDialect dialect;
  for (const json& data : events) {
    std::string type =
        data.contains("type") && data["type"].is_string() ? data["type"].get<std::string>() : "";
    auto handled = dialect.on_event(stream::SseEvent{type, data.dump(), ""}, state, nullptr);
    if (!handled) return handled;
  }
  return {};
}

const std::vector<json> kAnthropicEvents = {
    json::parse(
        R"({"type":"message_start","message":{"id":"msg_1","usage":{"input_tokens":20,"output_tokens":1}}})"),
    json::parse(
        R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"),
    json::parse(
        R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}})"),
    json::parse(
        R"({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_order","input":{}}})"),
    json::parse(
        R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"id\":1}"}})"),
    json::parse(
        R"({"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}})"),
    json::parse(R"({"type":"message_stop"})"),
};

TEST(AnthropicDialect, StreamEventsAreReadWithEveryFieldChecked) {
  StreamState good;
  ASSERT_TRUE(feed_anthropic(kAnthropicEvents, good).ok());
  EXPECT_TRUE(good.finished);
  EXPECT_EQ(good.answer.text, "Hi");
  EXPECT_EQ(*good.output_tokens, 9);
  const std::vector<std::tuple<size_t, std::string, std::string>> fields = {
      {0, "/message", "message_start event, 'message'"},
      {0, "/message/usage", "'message.usage'"},
      {0, "/message/usage/input_tokens", "'message.usage.input_tokens'"},
      {0, "/message/usage/output_tokens", "'message.usage.output_tokens'"},
      {1, "/index", "content_block_start event, 'index'"},
      {1, "/content_block", "'content_block'"},
      {1, "/content_block/type", "'content_block.type'"},
      {1, "/content_block/text", "'content_block.text'"},
      {2, "/index", "content_block_delta event, 'index'"},
      {2, "/delta", "'delta'"},
      {2, "/delta/type", "'delta.type'"},
      {2, "/delta/text", "'delta.text'"},
      {3, "/content_block/id", "'content_block.id'"},
      {3, "/content_block/name", "'content_block.name'"},
      {3, "/content_block/input", "'content_block.input'"},
      {4, "/delta/partial_json", "'delta.partial_json'"},
      {5, "/delta", "message_delta event, 'delta'"},
      {5, "/delta/stop_reason", "'delta.stop_reason'"},
      {5, "/usage", "'usage'"},
      {5, "/usage/output_tokens", "'usage.output_tokens'"},
  };
  int cases = 0;
  for (const auto& [which, pointer, field] : fields) {
    for (const auto& [kind, value] :
         wrong_values(kAnthropicEvents[which][json::json_pointer(pointer)])) {
      std::vector<json> events = kAnthropicEvents;
      events[which] = with(events[which], pointer, value);
      StreamState state;
      auto fed = feed_anthropic(events, state);
      std::string context = std::to_string(which) + pointer + " = " + kind;
      ASSERT_FALSE(fed.ok()) << context;
      EXPECT_EQ(fed.error().code, ErrorCode::kUpstreamError) << context;
      EXPECT_NE(fed.error().message.find(field), std::string::npos)
          << context << ": " << fed.error().message;
      ++cases;
    }
  }
  EXPECT_GT(cases, 100);
}

TEST(AnthropicDialect, BlockIndexesAreCheckedAgainstTheBlocksThatStarted) {
  auto refuse = [](std::vector<json> events, const std::string& what) {
    StreamState state;
    auto fed = feed_anthropic(events, state);
    ASSERT_FALSE(fed.ok()) << what;
    EXPECT_NE(fed.error().message.find(what), std::string::npos) << fed.error().message;
  };
  std::vector<json> events = kAnthropicEvents;
  events[2]["index"] = 5;
  refuse(events, "never started");
  events = kAnthropicEvents;
  events[3]["index"] = 0;
  refuse(events, "already started");
  events = kAnthropicEvents;
  events[1]["index"] = json::parse("9223372036854775808");
  refuse(events, "'index' must be an integer between 0 and 1023");
  events = kAnthropicEvents;
  events[4]["delta"] = {{"type", "text_delta"}, {"text", "x"}};
  refuse(events, "not text");
  events = kAnthropicEvents;
  events[2]["delta"] = {{"type", "input_json_delta"}, {"partial_json", "{}"}};
  refuse(events, "in a text block");
  events = kAnthropicEvents;
  events[0]["type"] = 12;
  refuse(events, "in a stream event, 'type' must be a string");
  // An error event, in either spelling, is the provider's error.
  StreamState state;
  auto error = AnthropicDialect().on_event(
      stream::SseEvent{"error", R"({"type":"error","error":5})", ""}, state, nullptr);
  ASSERT_FALSE(error.ok());
  EXPECT_EQ(error.error().message, "the provider reported an error mid-stream");
}

// ---- Defense in depth: an exception escaping a dialect ends the call, not the process --------

// Answers one HTTP request on 127.0.0.1 with `response`, then closes the connection.
class OneShotServer {
 public:
  explicit OneShotServer(std::string response)
      : acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this, response = std::move(response)] {
      boost::asio::ip::tcp::socket socket(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec) return;
      boost::asio::streambuf buffer;
      size_t head = boost::asio::read_until(socket, buffer, "\r\n\r\n", ec);
      std::string text(boost::asio::buffers_begin(buffer.data()),
                       boost::asio::buffers_end(buffer.data()));
      size_t length = 0;
      for (const char* name : {"Content-Length: ", "content-length: "}) {
        if (auto at = text.find(name); at != std::string::npos)
          length = std::stoul(text.substr(at + std::strlen(name)));
      }
      // Read the whole body first: closing with unread bytes would reset the connection.
      if (buffer.size() < head + length)
        boost::asio::read(socket, buffer,
                          boost::asio::transfer_exactly(head + length - buffer.size()), ec);
      boost::asio::write(socket, boost::asio::buffer(response), ec);
      socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    });
  }
  ~OneShotServer() { thread_.join(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::thread thread_;
};

// The OpenAI dialect, except that its second stream event (or a whole answer) hits the
// original bug: nlohmann's get<std::string>() on a number.
class ThrowingDialect final : public Dialect {
 public:
  Result<UpstreamRequest> build(const ModelRequest& request,
                                const ProviderCredentials& credentials) const override {
    return openai_.build(request, credentials);
  }
  Result<ModelAnswer> parse(std::string_view) const override {
    ModelAnswer answer;
    answer.text = throw_now();
    return answer;
  }
  Result<void> on_event(const stream::SseEvent& event, StreamState& state,
                        const OnDelta& on_delta) const override {
    if (events_++ == 0) return openai_.on_event(event, state, on_delta);
    state.answer.text += throw_now();
    return {};
  }

 private:
  static std::string throw_now() { return json(5).get<std::string>(); }
  OpenAiDialect openai_;
  mutable int events_ = 0;
};

ModelResult call_once(const Dialect& dialect, const std::string& body, bool stream) {
  OneShotServer server(body);
  // For the whole process, as the server's is: the call's end is reported before its exchange
  // has finished closing, which a client destroyed at once would cut short (and leak).
  static HttpClient client(OutboundGuard(/*allow_private=*/true));
  HttpProvider provider(client, dialect, {"openai", "sk-test-key-0123456789", server.url()});
  ModelRequest request;
  request.model = "gpt";
  request.messages = {{ChatMessage::Role::kUser, "hi", {}, {}}};
  request.stream = stream;
  std::promise<ModelResult> done;
  std::string streamed;
  auto call = provider.start(
      request, [&](const ModelDelta& delta) { streamed += delta.text; },
      [&](ModelResult result) { done.set_value(std::move(result)); });
  ModelResult result = done.get_future().get();
  EXPECT_EQ(streamed, stream ? "Hel" : "");
  return result;
}

TEST(HttpProvider, AnExceptionInAStreamedAnswerIsAFailureWithWhatWasProduced) {
  ThrowingDialect dialect;
  ModelResult result =
      call_once(dialect,
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n"
                "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n"
                "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n"
                "data: [DONE]\n\n",
                true);
  auto* failure = std::get_if<ModelFailure>(&result);
  ASSERT_NE(failure, nullptr);
  EXPECT_EQ(failure->error.code, ErrorCode::kUpstreamError);
  EXPECT_EQ(failure->error.message,
            "the provider sent a malformed answer: Tollgate could not read it");
  ASSERT_TRUE(failure->produced);
  EXPECT_EQ(failure->produced->text, "Hel");  // charged: it reached the caller
  EXPECT_FALSE(failure->produced->complete);
  EXPECT_NE(failure->provider_detail.find("type_error"), std::string::npos)
      << failure->provider_detail;  // the owner's log says what threw
}

TEST(HttpProvider, AnExceptionReadingAWholeAnswerIsAFailureThatProducedNothing) {
  ThrowingDialect dialect;
  std::string body = R"({"choices":[{"message":{"content":"Hello"}}]})";
  ModelResult result = call_once(dialect,
                                 "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                                 "content-length: " +
                                     std::to_string(body.size()) + "\r\n\r\n" + body,
                                 false);
  auto* failure = std::get_if<ModelFailure>(&result);
  ASSERT_NE(failure, nullptr);
  EXPECT_EQ(failure->error.code, ErrorCode::kUpstreamError);
  EXPECT_FALSE(failure->produced);  // nothing reached the caller: released, not charged
}

TEST(DescribeFailure, NeverCarriesTheProvidersText) {
  UpstreamFailure failure{
      fail(ErrorCode::kUpstreamError, "x"), 401, "Incorrect API key sk-abc", false, {}};
  Error error = describe_failure(failure, "openai");
  EXPECT_EQ(error.message.find("sk-abc"), std::string::npos);
  EXPECT_NE(error.message.find("HTTP 401"), std::string::npos);
}

TEST(DescribeFailure, ARedirectIsAFailureAndNotReachingTheProviderIsOneMessage) {
  UpstreamFailure redirect{fail(ErrorCode::kUpstreamError, "x"), 302, "", false, {}};
  Error error = describe_failure(redirect, "openai");
  EXPECT_EQ(error.code, ErrorCode::kUpstreamError);
  EXPECT_NE(error.message.find("redirect (HTTP 302), which is not followed"), std::string::npos);
  for (const char* detail : {"looking up x.invalid: Host not found", "connecting to a: refused",
                             "every address of localhost is refused: 127.0.0.1 is a loopback"}) {
    UpstreamFailure unreachable{fail(ErrorCode::kUpstreamError, std::string(kUpstreamUnreachable)),
                                0, "", false, detail};
    EXPECT_EQ(describe_failure(unreachable, "openai").message,
              "the provider 'openai': " + std::string(kUpstreamUnreachable));
  }
}

TEST(ProviderDetail, MasksTheKeyBeforeTheCutAndKeepsTheStatus) {
  const std::string key = "sk-live-0123456789abcdef";
  UpstreamFailure failure{fail(ErrorCode::kUpstreamError, "x"),
                          400,
                          "{\"error\":\"bad key " + key + "\"} " + key,
                          false,
                          {}};
  EXPECT_EQ(provider_detail(failure, key),
            "HTTP 400: {\"error\":\"bad key [api key]\"} [api key]");
  // A key that would straddle the cut is masked first, so no prefix of it survives.
  failure.body = std::string(kProviderDetailBytesMax - 20, 'a') + key + std::string(100, 'b');
  std::string detail = provider_detail(failure, key);
  EXPECT_LE(detail.size(), kProviderDetailBytesMax + std::string("…").size());
  EXPECT_EQ(detail.find("sk-live"), std::string::npos);
  EXPECT_TRUE(detail.ends_with("…"));
  // No HTTP answer (a timeout, a refused connection): nothing from the provider to keep, only
  // why it was not reached when that is known.
  failure.status = 0;
  EXPECT_EQ(provider_detail(failure, key), "");
  failure.detail = "connecting to api.example.com: Connection refused";
  EXPECT_EQ(provider_detail(failure, key), failure.detail);
  // Keys too short to mask safely are left; the text is still only in the owner's log.
  failure = UpstreamFailure{fail(ErrorCode::kUpstreamError, "x"), 500, "abc abc", false, {}};
  EXPECT_EQ(provider_detail(failure, "abc"), "HTTP 500: abc abc");
}

}  // namespace
}  // namespace tollgate::server
