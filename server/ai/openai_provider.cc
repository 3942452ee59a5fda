// The OpenAI Chat Completions wire format: POST {base}/chat/completions.
#include "server/ai/dialect.h"

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
      return {
          {"role", "tool"}, {"tool_call_id", message.tool_call_id}, {"content", message.content}};
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

namespace jr = json_read;
using jr::Path;

// The tool calls of a whole answer's message ([] when absent or null).
Result<std::vector<ToolCall>> tool_calls_of(const json& message, const Path& at) {
  auto calls = jr::get_array(message, "tool_calls", at);
  if (!calls) return calls.error();
  std::vector<ToolCall> out;
  if (calls.value() == nullptr) return out;
  Path list(at, "tool_calls");
  if (calls.value()->size() > structured::kToolCallsMax) {
    return fail(ErrorCode::kInvalidArgument, "'" + list.str() + "' may hold at most " +
                                                 std::to_string(structured::kToolCallsMax) +
                                                 " calls");
  }
  size_t i = 0;
  for (const json& item : *calls.value()) {
    Path where(list, i++);
    auto call = jr::as_object(item, where);
    if (!call) return call.error();
    auto id = tool_text(item, "id", where);
    if (!id) return id.error();
    auto type = jr::get_string(item, "type", where);
    if (!type) return type.error();
    if (type.value() && *type.value() != "function") {
      return fail(ErrorCode::kInvalidArgument,
                  "'" + Path(where, "type").str() + "' must be \"function\"");
    }
    auto function = jr::need_object(item, "function", where);
    if (!function) return function.error();
    Path in_function(where, "function");
    auto name = tool_text(*function.value(), "name", in_function);
    if (!name) return name.error();
    auto arguments = jr::get_string(*function.value(), "arguments", in_function,
                                    structured::kToolCallArgumentsBytesMax);
    if (!arguments) return arguments.error();
    out.push_back({std::string(id.value()), std::string(name.value()),
                   std::string(arguments.value().value_or("{}"))});
  }
  return out;
}

Result<ModelAnswer> answer_of(const json& body) {
  Path root;
  auto choices = jr::need_array(body, "choices", root);
  if (!choices) return choices.error();
  Path list(root, "choices");
  if (choices.value()->empty()) {
    return fail(ErrorCode::kInvalidArgument, "'choices' must not be empty", "choices");
  }
  Path first(list, size_t{0});
  const json& choice = choices.value()->front();
  if (auto object = jr::as_object(choice, first); !object) return object.error();
  auto message = jr::need_object(choice, "message", first);
  if (!message) return message.error();
  Path in_message(first, "message");
  ModelAnswer answer;
  // Null content is normal next to tool calls.
  auto content = jr::get_string(*message.value(), "content", in_message);
  if (!content) return content.error();
  answer.text = content.value().value_or("");
  auto calls = tool_calls_of(*message.value(), in_message);
  if (!calls) return calls.error();
  answer.tool_calls = std::move(calls.value());
  auto reason = jr::get_string(choice, "finish_reason", first);
  if (!reason) return reason.error();
  answer.finish_reason = reason.value().value_or("");
  auto usage = read_usage(body, "usage", root, "prompt_tokens", "completion_tokens");
  if (!usage) return usage.error();
  answer.usage = usage.value();
  return answer;
}

// One tool call delta of a stream chunk.
Result<void> on_tool_delta(const json& call, const Path& at, StreamState& state,
                           const OnDelta& on_delta) {
  if (auto object = jr::as_object(call, at); !object) return object.error();
  auto index =
      jr::need_int64(call, "index", at, 0, static_cast<int64_t>(structured::kToolCallsMax) - 1);
  if (!index) return index.error();
  auto id = jr::get_string(call, "id", at, structured::kToolCallIdBytesMax);
  if (!id) return id.error();
  auto type = jr::get_string(call, "type", at);
  if (!type) return type.error();
  if (type.value() && *type.value() != "function") {
    return fail(ErrorCode::kInvalidArgument,
                "'" + Path(at, "type").str() + "' must be \"function\"");
  }
  auto function = jr::get_object(call, "function", at);
  if (!function) return function.error();
  ModelDelta piece;
  piece.tool_index = static_cast<int>(index.value());
  piece.tool_id = id.value().value_or("");
  if (function.value() != nullptr) {
    Path in_function(at, "function");
    auto name =
        jr::get_string(*function.value(), "name", in_function, structured::kToolCallIdBytesMax);
    if (!name) return name.error();
    auto arguments = jr::get_string(*function.value(), "arguments", in_function);
    if (!arguments) return arguments.error();
    piece.tool_name = name.value().value_or("");
    piece.tool_arguments = arguments.value().value_or("");
  }
  if (auto added =
          state.tools.add(index.value(), piece.tool_id, piece.tool_name, piece.tool_arguments);
      !added) {
    return fail(ErrorCode::kInvalidArgument, "'" + at.str() + "': " + added.error().message);
  }
  if (on_delta) on_delta(piece);
  return {};
}

// One choice of a stream chunk: its text, tool call deltas and finish reason.
Result<void> on_choice(const json& choice, const Path& at, StreamState& state,
                       const OnDelta& on_delta) {
  if (auto object = jr::as_object(choice, at); !object) return object.error();
  auto reason = jr::get_string(choice, "finish_reason", at);
  if (!reason) return reason.error();
  if (reason.value() && !reason.value()->empty()) state.answer.finish_reason = *reason.value();
  auto delta = jr::get_object(choice, "delta", at);
  if (!delta) return delta.error();
  if (delta.value() == nullptr) return {};
  Path in_delta(at, "delta");
  auto content = jr::get_string(*delta.value(), "content", in_delta);
  if (!content) return content.error();
  if (content.value() && !content.value()->empty()) {
    ModelDelta piece;
    piece.text = *content.value();
    state.answer.text += piece.text;
    if (on_delta) on_delta(piece);
  }
  auto calls = jr::get_array(*delta.value(), "tool_calls", in_delta);
  if (!calls) return calls.error();
  if (calls.value() == nullptr) return {};
  Path list(in_delta, "tool_calls");
  size_t i = 0;
  for (const json& call : *calls.value()) {
    if (auto done = on_tool_delta(call, Path(list, i++), state, on_delta); !done) return done;
  }
  return {};
}

// A stream chunk (not [DONE]) that is a JSON object without an error.
Result<void> on_chunk(const json& chunk, StreamState& state, const OnDelta& on_delta) {
  Path root;
  // OpenAI sends "usage": null in every chunk but the last.
  auto usage = jr::get_object(chunk, "usage", root);
  if (!usage) return usage.error();
  if (usage.value() != nullptr) {
    Path in_usage(root, "usage");
    auto input = token_count(*usage.value(), "prompt_tokens", in_usage);
    if (!input) return input.error();
    auto output = token_count(*usage.value(), "completion_tokens", in_usage);
    if (!output) return output.error();
    state.input_tokens = input.value();
    state.output_tokens = output.value();
  }
  auto choices = jr::get_array(chunk, "choices", root);
  if (!choices) return choices.error();
  if (choices.value() == nullptr) return {};
  Path list(root, "choices");
  size_t i = 0;
  for (const json& choice : *choices.value()) {
    if (auto done = on_choice(choice, Path(list, i++), state, on_delta); !done) return done;
  }
  return {};
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
        {"json_schema",
         {{"name", "output"}, {"schema", *request.response_format}, {"strict", false}}}};
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
  if (request.tool_choice) {
    switch (request.tool_choice->kind) {
      case ToolChoice::Kind::kAuto:
        body["tool_choice"] = "auto";
        break;
      case ToolChoice::Kind::kNone:
        body["tool_choice"] = "none";
        break;
      case ToolChoice::Kind::kRequired:
        body["tool_choice"] = "required";
        break;
      case ToolChoice::Kind::kTool:
        body["tool_choice"] = {{"type", "function"},
                               {"function", {{"name", request.tool_choice->name}}}};
        break;
    }
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
  auto body = jr::parse(text, kProviderJsonDepthMax);
  if (!body) return malformed_json("its body", body.error());
  if (!body.value().is_object()) return malformed("its body is not a JSON object");
  auto answer = answer_of(body.value());
  if (!answer) return malformed(answer.error().message);
  return answer;
}

Result<void> OpenAiDialect::on_event(const stream::SseEvent& event, StreamState& state,
                                     const OnDelta& on_delta) const {
  if (event.data == "[DONE]") {
    state.finished = true;
    return {};
  }
  auto chunk = jr::parse(event.data, kProviderJsonDepthMax);
  if (!chunk) return malformed_json("a stream chunk", chunk.error());
  if (!chunk.value().is_object()) return malformed("a stream chunk is not a JSON object");
  if (const json* error = jr::find(chunk.value(), "error"); error && !error->is_null()) {
    return fail(ErrorCode::kUpstreamError, "the provider reported an error mid-stream");
  }
  if (auto handled = on_chunk(chunk.value(), state, on_delta); !handled) {
    return malformed("in a stream chunk, " + handled.error().message);
  }
  return {};
}

}  // namespace tollgate::server
