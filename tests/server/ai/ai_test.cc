// The provider-facing pieces without a network: the pricing catalog, URL parsing, the demo
// provider's schema-driven answers, and both wire-format dialects on good and broken input.
#include <gtest/gtest.h>

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

TEST(ParseUrl, AcceptsHttpAndHttpsWithPortsAndIpv6) {
  auto plain = parse_url("http://127.0.0.1:8080/v1");
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->tls);
  EXPECT_EQ(plain->host, "127.0.0.1");
  EXPECT_EQ(plain->port, "8080");
  EXPECT_EQ(plain->target, "/v1");
  auto tls = parse_url("https://api.openai.com");
  ASSERT_TRUE(tls);
  EXPECT_TRUE(tls->tls);
  EXPECT_EQ(tls->port, "443");
  EXPECT_EQ(tls->target, "/");
  auto v6 = parse_url("http://[::1]:11434/v1/chat");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, "11434");
  for (const char* bad : {"ftp://x", "http://", "http://user@host/", "http://host:99999/",
                          "http://host:/", "https://host:8a/", "http://host:0/"}) {
    EXPECT_FALSE(parse_url(bad)) << bad;
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

TEST(DescribeFailure, NeverCarriesTheProvidersText) {
  UpstreamFailure failure{fail(ErrorCode::kUpstreamError, "x"), 401, "Incorrect API key sk-abc", false};
  Error error = describe_failure(failure, "openai");
  EXPECT_EQ(error.message.find("sk-abc"), std::string::npos);
  EXPECT_NE(error.message.find("HTTP 401"), std::string::npos);
}

TEST(ProviderDetail, MasksTheKeyBeforeTheCutAndKeepsTheStatus) {
  const std::string key = "sk-live-0123456789abcdef";
  UpstreamFailure failure{fail(ErrorCode::kUpstreamError, "x"), 400,
                          "{\"error\":\"bad key " + key + "\"} " + key, false};
  EXPECT_EQ(provider_detail(failure, key),
            "HTTP 400: {\"error\":\"bad key [api key]\"} [api key]");
  // A key that would straddle the cut is masked first, so no prefix of it survives.
  failure.body = std::string(kProviderDetailBytesMax - 20, 'a') + key + std::string(100, 'b');
  std::string detail = provider_detail(failure, key);
  EXPECT_LE(detail.size(), kProviderDetailBytesMax + std::string("…").size());
  EXPECT_EQ(detail.find("sk-live"), std::string::npos);
  EXPECT_TRUE(detail.ends_with("…"));
  // No HTTP answer (a timeout, a refused connection): nothing from the provider to keep.
  failure.status = 0;
  EXPECT_EQ(provider_detail(failure, key), "");
  // Keys too short to mask safely are left; the text is still only in the owner's log.
  failure = UpstreamFailure{fail(ErrorCode::kUpstreamError, "x"), 500, "abc abc", false};
  EXPECT_EQ(provider_detail(failure, "abc"), "HTTP 500: abc abc");
}

}  // namespace
}  // namespace tollgate::server
