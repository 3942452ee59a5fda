#include "server/api/invoke_input.h"

#include <algorithm>

#include "server/input/fields.h"
#include "tollgate/core/bytes.h"
#include "tollgate/core/json_read.h"

namespace tollgate::server {
namespace {

using json = nlohmann::json;

Error not_ours() { return invalid_field("'continuation' is not one this server made", "continuation"); }

std::string continuation_binding(const token::RuntimeClaims& claims, std::string_view slug) {
  std::string binding = "continuation/";
  binding += claims.session_id;
  binding += '/';
  binding += slug;
  return binding;
}

const char* role_name(ChatMessage::Role role) {
  switch (role) {
    case ChatMessage::Role::kSystem: return "system";
    case ChatMessage::Role::kUser: return "user";
    case ChatMessage::Role::kAssistant: return "assistant";
    case ChatMessage::Role::kTool: return "tool";
  }
  return "user";
}

json conversation_json(const std::vector<ChatMessage>& messages, int64_t step) {
  json list = json::array();
  for (const ChatMessage& m : messages) {
    if (m.role == ChatMessage::Role::kSystem) continue;
    json calls = json::array();
    for (const ToolCall& call : m.tool_calls)
      calls.push_back({{"id", call.id}, {"name", call.name}, {"arguments", call.arguments}});
    list.push_back({{"role", role_name(m.role)}, {"content", m.content}, {"toolCalls", calls},
                    {"toolCallId", m.tool_call_id}});
  }
  return {{"v", 1}, {"step", step}, {"messages", list}};
}

// Reads a conversation that conversation_json() wrote (and the secret box authenticated), with
// checked reads all the same: anything unexpected is "not one this server made".
Result<std::pair<std::vector<ChatMessage>, int64_t>> conversation_from(const json& doc) {
  Error bad = not_ours();
  json_read::Path at;
  auto version = json_read::need_int64(doc, "v", at);
  auto step = json_read::need_int64(doc, "step", at, 1, kToolStepsMax);
  auto list = json_read::need_array(doc, "messages", at);
  if (!version || version.value() != 1 || !step || !list) return bad;
  std::vector<ChatMessage> messages;
  for (const json& m : *list.value()) {
    auto role = json_read::need_string(m, "role", at);
    auto content = json_read::get_string(m, "content", at);
    auto call_id = json_read::get_string(m, "toolCallId", at);
    auto calls = json_read::get_array(m, "toolCalls", at);
    if (!role || !content || !call_id || !calls) return bad;
    ChatMessage message;
    message.role = role.value() == "assistant" ? ChatMessage::Role::kAssistant
                   : role.value() == "tool"    ? ChatMessage::Role::kTool
                                               : ChatMessage::Role::kUser;
    message.content = content.value().value_or("");
    message.tool_call_id = call_id.value().value_or("");
    if (calls.value() != nullptr) {
      for (const json& call : *calls.value()) {
        auto id = json_read::need_string(call, "id", at);
        auto name = json_read::need_string(call, "name", at);
        auto arguments = json_read::get_string(call, "arguments", at);
        if (!id || !name || !arguments) return bad;
        message.tool_calls.push_back({std::string(id.value()), std::string(name.value()),
                                      std::string(arguments.value().value_or("{}"))});
      }
    }
    messages.push_back(std::move(message));
  }
  return std::make_pair(std::move(messages), step.value());
}

Result<void> follow_up(const json& body, const SecretBox& secrets,
                       const token::RuntimeClaims& claims, const Operation& op,
                       Conversation& conversation) {
  if (body.contains("input")) {
    return invalid_field("a follow-up sends 'continuation' and 'toolResults', not 'input'", "input");
  }
  auto field =
      json_read::need_string(body, "continuation", json_read::Path(), kContinuationBytesMax);
  if (!field) {
    return invalid_field("'continuation' must be the string a tool-calling answer returned",
                   "continuation");
  }
  auto opened = secrets.open(field.value(), continuation_binding(claims, op.slug));
  if (!opened) {
    return invalid_field("'continuation' does not belong to this session and feature, or was altered",
                   "continuation");
  }
  auto doc = json_read::parse(opened.value(), kContinuationDepthMax);
  if (!doc) return not_ours();
  auto earlier = conversation_from(doc.value());
  if (!earlier) return earlier.error();
  auto& [messages, step] = earlier.value();
  if (messages.empty() || messages.back().tool_calls.empty()) return not_ours();
  if (step >= kToolStepsMax) {
    return invalid_field("this conversation reached the limit of " + std::to_string(kToolStepsMax) +
                       " tool steps",
                   "continuation");
  }
  auto results = tool_results(body, messages.back());
  if (!results) return results.error();
  conversation.step = step + 1;
  for (ChatMessage& message : messages) conversation.messages.push_back(std::move(message));
  for (ChatMessage& result : results.value()) conversation.messages.push_back(std::move(result));
  return {};
}

Result<void> first_turn(const json& body, const Operation& op, Conversation& conversation) {
  if (body.contains("toolResults")) {
    return invalid_field("'toolResults' needs the 'continuation' it answers", "toolResults");
  }
  auto values = input_variables(body, op);
  if (!values) return values.error();
  auto tmpl = prompt::Template::parse(op.user_template);
  if (!tmpl) return fail(ErrorCode::kInternal, "the feature's template no longer parses");
  auto rendered = tmpl.value().render(values.value());
  if (!rendered) {
    Error error = rendered.error();
    if (error.code == ErrorCode::kTemplateVariableMissing) {
      error.code = ErrorCode::kInvalidArgument;
      error.param = "input." + error.param;
      error.message = "'input' is missing the variable '" + rendered.error().param + "'";
    } else {
      error.message = "the rendered prompt is longer than 1 MiB";
      error.param = "input";
    }
    return error;
  }
  conversation.messages.push_back({ChatMessage::Role::kUser, std::move(rendered.value()), {}, {}});
  return {};
}

}  // namespace

Result<Conversation> conversation_for(const json& body, const Operation& op,
                                      const SecretBox& secrets,
                                      const token::RuntimeClaims& claims) {
  Conversation conversation;
  if (!op.system_prompt.empty())
    conversation.messages.push_back({ChatMessage::Role::kSystem, op.system_prompt, {}, {}});
  auto built = body.contains("continuation") ? follow_up(body, secrets, claims, op, conversation)
                                             : first_turn(body, op, conversation);
  if (!built) return built.error();
  return conversation;
}

std::optional<std::string> seal_continuation(const SecretBox& secrets,
                                             const token::RuntimeClaims& claims,
                                             std::string_view slug,
                                             const std::vector<ChatMessage>& messages,
                                             int64_t step) {
  auto sealed = secrets.seal(
      conversation_json(messages, step).dump(-1, ' ', false, json::error_handler_t::replace),
      continuation_binding(claims, slug));
  if (!sealed || sealed.value().size() > kContinuationBytesMax) return std::nullopt;
  return std::move(sealed).value();
}

Result<prompt::Variables> input_variables(const json& body, const Operation& op) {
  prompt::Variables values;
  auto input = body.find("input");
  if (input == body.end() || input->is_null()) {
    if (op.variables.empty()) return values;
    return fail(ErrorCode::kInvalidArgument,
                "'input' must hold the feature's variables: " + op.variables.front() + "…",
                "input");
  }
  if (!input->is_object() || input->size() > kInputVariablesMax) {
    return fail(ErrorCode::kInvalidArgument,
                "'input' must be an object of at most " + std::to_string(kInputVariablesMax) +
                    " variables",
                "input");
  }
  for (const auto& [name, value] : input->items()) {
    std::string where = "input." + name;
    if (std::find(op.variables.begin(), op.variables.end(), name) == op.variables.end()) {
      return fail(ErrorCode::kInvalidArgument,
                  "the feature has no variable '" + name + "'", where);
    }
    std::string text;
    if (value.is_string()) {
      text = value.get<std::string>();
    } else if (value.is_number() || value.is_boolean()) {
      text = value.dump();
    } else {
      return fail(ErrorCode::kInvalidArgument,
                  "'" + where + "' must be a string, a number or a boolean", where);
    }
    if (text.size() > kInputValueBytesMax) {
      return fail(ErrorCode::kInvalidArgument, "'" + where + "' is longer than 64 KiB", where);
    }
    // Newlines and tabs are normal in prompts; other control characters are refused.
    bool controls = std::any_of(text.begin(), text.end(), [](char c) {
      auto byte = static_cast<unsigned char>(c);
      return (byte < 0x20 && c != '\n' && c != '\t' && c != '\r') || byte == 0x7F;
    });
    if (controls || !is_valid_utf8(text)) {
      return fail(ErrorCode::kInvalidArgument,
                  "'" + where + "' must be valid UTF-8 without control characters other than "
                                "newlines and tabs",
                  where);
    }
    values.emplace(name, std::move(text));
  }
  for (const std::string& name : op.variables) {
    if (!values.count(name)) {
      return fail(ErrorCode::kInvalidArgument, "'input' is missing the variable '" + name + "'",
                  "input." + name);
    }
  }
  return values;
}


Result<std::vector<ChatMessage>> tool_results(const json& body, const ChatMessage& last) {
  auto field = body.find("toolResults");
  if (field == body.end() || !field->is_array() || field->empty() || field->size() > kToolsMax) {
    return fail(ErrorCode::kInvalidArgument,
                "'toolResults' must list one {id, output} per tool call of the last answer",
                "toolResults");
  }
  std::vector<ChatMessage> results;
  json_read::Path list("toolResults");
  size_t i = 0;
  for (const json& result : *field) {
    json_read::Path at(list, i++);
    std::string where = at.str();
    auto id_read = json_read::need_string(result, "id", at);
    auto output_read = json_read::need_string(result, "output", at);
    if (!result.is_object() || result.size() != 2 || !id_read || !output_read) {
      return fail(ErrorCode::kInvalidArgument, "'" + where + "' must be {id, output} strings",
                  where);
    }
    std::string id(id_read.value());
    std::string output(output_read.value());
    if (output.size() > kToolResultBytesMax || !is_valid_utf8(output)) {
      return fail(ErrorCode::kInvalidArgument,
                  "'" + where + ".output' must be valid UTF-8 of at most 64 KiB", where + ".output");
    }
    bool known = std::any_of(last.tool_calls.begin(), last.tool_calls.end(),
                             [&](const ToolCall& call) { return call.id == id; });
    bool repeated = std::any_of(results.begin(), results.end(),
                                [&](const ChatMessage& m) { return m.tool_call_id == id; });
    if (!known || repeated) {
      return fail(ErrorCode::kInvalidArgument,
                  "'" + where + ".id' must name a tool call of the last answer, once", where + ".id");
    }
    results.push_back({ChatMessage::Role::kTool, std::move(output), {}, std::move(id)});
  }
  if (results.size() != last.tool_calls.size()) {
    return fail(ErrorCode::kInvalidArgument,
                "'toolResults' must answer all " + std::to_string(last.tool_calls.size()) +
                    " tool calls of the last answer",
                "toolResults");
  }
  return results;
}


}  // namespace tollgate::server
