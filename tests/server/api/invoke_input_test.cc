// The prompt of a runtime invoke from its body: the first turn from `input`, a tool follow-up
// from a sealed `continuation`, and every refusal naming its field.
#include "server/api/invoke_input.h"

#include <gtest/gtest.h>

namespace tollgate::server {
namespace {

using nlohmann::json;

SecretBox box() {
  SecretBox::Key key;
  key.fill(3);
  return SecretBox(key);
}

Operation feature(json fields = json::object()) {
  json definition = {{"slug", "summarize"},
                     {"model", "openai/gpt-4o-mini"},
                     {"systemPrompt", "You are terse. SECRET-SYSTEM"},
                     {"userTemplate", "Summarize {{text}} for {{reader}}"}};
  definition.update(fields);
  auto op = parse_operation(definition);
  EXPECT_TRUE(op) << op.error().message;
  return op.value();
}

token::RuntimeClaims session(std::string id = "rts_1") {
  token::RuntimeClaims claims;
  claims.session_id = std::move(id);
  claims.project_id = "proj_1";
  claims.end_user_id = "alice";
  claims.operations = {"summarize"};
  return claims;
}

void expect_refused(const Result<Conversation>& result, std::string_view param) {
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kInvalidArgument) << result.error().message;
  EXPECT_EQ(result.error().param, param) << result.error().message;
}

TEST(InvokeInput, AFirstTurnIsTheSystemPromptThenTheRenderedTemplate) {
  auto conversation = conversation_for({{"input", {{"text", "a long text"}, {"reader", 7}}}},
                                       feature(), box(), session());
  ASSERT_TRUE(conversation) << conversation.error().message;
  const auto& messages = conversation.value().messages;
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0].role, ChatMessage::Role::kSystem);
  EXPECT_EQ(messages[0].content, "You are terse. SECRET-SYSTEM");
  EXPECT_EQ(messages[1].role, ChatMessage::Role::kUser);
  EXPECT_EQ(messages[1].content, "Summarize a long text for 7");
  EXPECT_EQ(conversation.value().step, 1);
}

TEST(InvokeInput, BadInputIsRefusedNamingTheVariable) {
  const Operation op = feature();
  expect_refused(conversation_for(json::object(), op, box(), session()), "input");
  expect_refused(conversation_for({{"input", "text"}}, op, box(), session()), "input");
  expect_refused(conversation_for({{"input", {{"text", "a"}}}}, op, box(), session()),
                 "input.reader");
  expect_refused(
      conversation_for({{"input", {{"text", "a"}, {"reader", "b"}, {"txet", "c"}}}}, op, box(),
                       session()),
      "input.txet");
  expect_refused(conversation_for({{"input", {{"text", json::array()}, {"reader", "b"}}}}, op,
                                  box(), session()),
                 "input.text");
  expect_refused(conversation_for({{"input", {{"text", "bell\x07"}, {"reader", "b"}}}}, op,
                                  box(), session()),
                 "input.text");
  expect_refused(conversation_for({{"input", {{"text", std::string(kInputValueBytesMax + 1, 'x')},
                                              {"reader", "b"}}}},
                                  op, box(), session()),
                 "input.text");
  // Tool results need the continuation they answer.
  expect_refused(conversation_for({{"input", {{"text", "a"}, {"reader", "b"}}},
                                   {"toolResults", json::array()}},
                                  op, box(), session()),
                 "toolResults");
}

// The conversation after an answer that called `lookup`.
std::vector<ChatMessage> answered_with_tool_call() {
  return {{ChatMessage::Role::kSystem, "You are terse. SECRET-SYSTEM", {}, {}},
          {ChatMessage::Role::kUser, "Summarize x for y", {}, {}},
          {ChatMessage::Role::kAssistant, "", {{"call_1", "lookup", R"({"q":"x"})"}}, {}}};
}

TEST(InvokeInput, AContinuationIsSealedWithoutTheSystemPromptAndOpensToAFollowUp) {
  const SecretBox secrets = box();
  auto sealed = seal_continuation(secrets, session(), "summarize", answered_with_tool_call(), 1);
  ASSERT_TRUE(sealed);
  EXPECT_EQ(sealed->find("SECRET-SYSTEM"), std::string::npos);
  EXPECT_EQ(sealed->find("lookup"), std::string::npos);  // sealed, not just signed
  auto follow_up = conversation_for(
      {{"continuation", *sealed}, {"toolResults", {{{"id", "call_1"}, {"output", "42"}}}}},
      feature(), secrets, session());
  ASSERT_TRUE(follow_up) << follow_up.error().message;
  const auto& messages = follow_up.value().messages;
  ASSERT_EQ(messages.size(), 4u);
  EXPECT_EQ(messages[0].role, ChatMessage::Role::kSystem);  // from the feature, not the client
  EXPECT_EQ(messages[2].tool_calls.at(0).name, "lookup");
  EXPECT_EQ(messages[3].role, ChatMessage::Role::kTool);
  EXPECT_EQ(messages[3].tool_call_id, "call_1");
  EXPECT_EQ(messages[3].content, "42");
  EXPECT_EQ(follow_up.value().step, 2);
}

TEST(InvokeInput, AContinuationWorksOnlyInItsSessionAndFeatureAndUnaltered) {
  const SecretBox secrets = box();
  auto sealed = seal_continuation(secrets, session(), "summarize", answered_with_tool_call(), 1);
  ASSERT_TRUE(sealed);
  json results = {{{"id", "call_1"}, {"output", "42"}}};
  expect_refused(conversation_for({{"continuation", *sealed}, {"toolResults", results}},
                                  feature(), secrets, session("rts_other")),
                 "continuation");
  expect_refused(conversation_for({{"continuation", *sealed}, {"toolResults", results}},
                                  feature({{"slug", "other"}}), secrets, session()),
                 "continuation");
  std::string altered = *sealed;
  altered[altered.size() / 2] = altered[altered.size() / 2] == 'A' ? 'B' : 'A';
  expect_refused(conversation_for({{"continuation", altered}, {"toolResults", results}},
                                  feature(), secrets, session()),
                 "continuation");
  expect_refused(conversation_for({{"continuation", 5}, {"toolResults", results}}, feature(),
                                  secrets, session()),
                 "continuation");
  expect_refused(conversation_for({{"continuation", *sealed},
                                   {"toolResults", results},
                                   {"input", json::object()}},
                                  feature(), secrets, session()),
                 "input");
}

TEST(InvokeInput, ToolResultsAnswerEachCallOnce) {
  const SecretBox secrets = box();
  auto sealed = seal_continuation(secrets, session(), "summarize", answered_with_tool_call(), 1);
  ASSERT_TRUE(sealed);
  auto with = [&](json results) {
    return conversation_for({{"continuation", *sealed}, {"toolResults", std::move(results)}},
                            feature(), secrets, session());
  };
  expect_refused(with(json::array()), "toolResults");
  expect_refused(with({{{"id", "call_9"}, {"output", "x"}}}), "toolResults[0].id");
  expect_refused(with({{{"id", "call_1"}, {"output", "x"}}, {{"id", "call_1"}, {"output", "y"}}}),
                 "toolResults[1].id");
  expect_refused(with({{{"id", "call_1"}}}), "toolResults[0]");
  expect_refused(with({{{"id", "call_1"}, {"output", std::string(kToolResultBytesMax + 1, 'x')}}}),
                 "toolResults[0].output");
}

TEST(InvokeInput, AConversationStopsAtTheToolStepLimit) {
  const SecretBox secrets = box();
  auto last = seal_continuation(secrets, session(), "summarize", answered_with_tool_call(),
                                kToolStepsMax);
  ASSERT_TRUE(last);
  expect_refused(conversation_for({{"continuation", *last},
                                   {"toolResults", {{{"id", "call_1"}, {"output", "x"}}}}},
                                  feature(), secrets, session()),
                 "continuation");
}

TEST(InvokeInput, AConversationTooLongToCarryIsNotSealed) {
  auto messages = answered_with_tool_call();
  messages[1].content = std::string(kContinuationBytesMax, 'x');
  EXPECT_FALSE(seal_continuation(box(), session(), "summarize", messages, 1));
}

}  // namespace
}  // namespace tollgate::server
