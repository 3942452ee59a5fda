// The OpenAI Chat Completions wire format: POST {base}/chat/completions.
#include "server/ai/http_provider.h"

namespace tollgate::server {
namespace {

using json = nlohmann::json;

json message_json(const ChatMessage& message) {
  switch (message.role) {
    case ChatMessage::Role::kSystem:
      return {{"role", "system"}, {"content", message.content}};
    case ChatMessage::Role::kUser:
      return {{"role", "user"}, {"content", message.content}};
    case ChatMessage::Role::kTool:
      return {{"role", "tool"}, {"tool_call_id", message.tool_call_id}, {"content", message.content}};
    case ChatMessage::Role::kAssistant: {
      json out{{"role", "assistant"},
               {"content", message.content.empty() && !message.tool_calls.empty()
                               ? json()
                               : json(message.content)}};
      if (!message.tool_calls.empty()) {
        json calls = json::array();
        for (const ToolCall& call : message.tool_calls) {
          calls.push_back({{"id", call.id},
                           {"type", "function"},
                           {"function", {{"name", call.name}, {"arguments", call.arguments}}}});
        }
        out["tool_calls"] = calls;
      }
      return out;
    }
  }
  return {};
}

std::string finish_reason(const json& choice) {
  auto reason = choice.find("finish_reason");
  return reason != choice.end() && reason->is_string() ? reason->get<std::string>() : "";
}

}  // namespace

Result<UpstreamRequest> OpenAiDialect::build(const ModelRequest& request,
                                             const ProviderCredentials& credentials) const {
  json body{{"model", request.model}, {"max_tokens", request.max_tokens}};
  json messages = json::array();
  for (const ChatMessage& message : request.messages) messages.push_back(message_json(message));
  body["messages"] = std::move(messages);
  if (request.temperature) body["temperature"] = *request.temperature;
  if (request.response_format) {
    body["response_format"] = {
        {"type", "json_schema"},
        {"json_schema", {{"name", "output"}, {"schema", *request.response_format}, {"strict", false}}}};
  }
  if (!request.tools.empty()) {
    json tools = json::array();
    for (const ToolDefinition& tool : request.tools) {
      tools.push_back({{"type", "function"},
                       {"function",
                        {{"name", tool.name},
                         {"description", tool.description},
                         {"parameters", tool.parameters}}}});
    }
    body["tools"] = std::move(tools);
  }
  if (request.stream) {
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
  }
  UpstreamRequest out;
  out.url = credentials.base_url + "/chat/completions";
  out.headers.emplace_back("authorization", "Bearer " + credentials.api_key);
  if (request.stream) out.headers.emplace_back("accept", "text/event-stream");
  out.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return out;
}

Result<ModelAnswer> OpenAiDialect::parse(std::string_view text) const {
  json body = json::parse(text, nullptr, false);
  if (body.is_discarded() || !body.is_object()) return malformed("not a JSON object");
  auto choices = body.find("choices");
  if (choices == body.end() || !choices->is_array() || choices->empty() ||
      !(*choices)[0].is_object() || !(*choices)[0].contains("message") ||
      !(*choices)[0]["message"].is_object()) {
    return malformed("no choices[0].message");
  }
  const json& choice = (*choices)[0];
  const json& message = choice["message"];
  ModelAnswer answer;
  if (message.contains("content") && message["content"].is_string())
    answer.text = message["content"].get<std::string>();
  if (message.contains("tool_calls") && message["tool_calls"].is_array()) {
    for (const json& call : message["tool_calls"]) {
      if (!call.is_object() || !call.contains("function") || !call["function"].is_object())
        return malformed("a tool call without a function");
      const json& function = call["function"];
      answer.tool_calls.push_back({call.value("id", ""), function.value("name", ""),
                                   function.value("arguments", "{}")});
    }
  }
  answer.finish_reason = finish_reason(choice);
  if (body.contains("usage") && body["usage"].is_object()) {
    auto input = token_count(body["usage"], "prompt_tokens");
    auto output = token_count(body["usage"], "completion_tokens");
    if (input && output) answer.usage = pricing::Usage{*input, *output};
  }
  return answer;
}

Result<void> OpenAiDialect::on_event(const stream::SseEvent& event, StreamState& state,
                                     const OnDelta& on_delta) const {
  if (event.data == "[DONE]") {
    state.finished = true;
    return {};
  }
  json chunk = json::parse(event.data, nullptr, false);
  if (chunk.is_discarded() || !chunk.is_object()) return malformed("a stream chunk is not JSON");
  if (chunk.contains("error")) {
    return fail(ErrorCode::kUpstreamError, "the provider reported an error mid-stream");
  }
  if (chunk.contains("usage") && chunk["usage"].is_object()) {
    state.input_tokens = token_count(chunk["usage"], "prompt_tokens");
    state.output_tokens = token_count(chunk["usage"], "completion_tokens");
  }
  auto choices = chunk.find("choices");
  if (choices == chunk.end()) return {};
  if (!choices->is_array()) return malformed("'choices' is not an array");
  for (const json& choice : *choices) {
    if (!choice.is_object()) return malformed("a choice is not an object");
    if (std::string reason = finish_reason(choice); !reason.empty()) {
      state.answer.finish_reason = reason;
    }
    auto delta = choice.find("delta");
    if (delta == choice.end() || !delta->is_object()) continue;
    if (auto content = delta->find("content"); content != delta->end() && content->is_string()) {
      ModelDelta piece;
      piece.text = content->get<std::string>();
      state.answer.text += piece.text;
      if (!piece.text.empty() && on_delta) on_delta(piece);
    }
    auto calls = delta->find("tool_calls");
    if (calls == delta->end() || !calls->is_array()) continue;
    for (const json& call : *calls) {
      if (!call.is_object() || !call.contains("index") || !call["index"].is_number_integer())
        return malformed("a tool call delta without an index");
      ModelDelta piece;
      piece.tool_index = call["index"].get<int>();
      piece.tool_id = call.value("id", "");
      if (call.contains("function") && call["function"].is_object()) {
        piece.tool_name = call["function"].value("name", "");
        piece.tool_arguments = call["function"].value("arguments", "");
      }
      if (auto added = state.tools.add(piece.tool_index, piece.tool_id, piece.tool_name,
                                       piece.tool_arguments);
          !added) {
        return malformed("tool call " + std::to_string(piece.tool_index) + ": " +
                         added.error().message);
      }
      if (on_delta) on_delta(piece);
    }
  }
  return {};
}

}  // namespace tollgate::server
