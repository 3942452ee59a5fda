// The Anthropic Messages wire format: POST {base}/v1/messages.
#include "server/ai/dialect.h"

namespace tollgate::server {
namespace {

using json = nlohmann::json;

std::string finish_reason(std::string_view stop_reason) {
  if (stop_reason == "end_turn" || stop_reason == "stop_sequence") return "stop";
  if (stop_reason == "max_tokens") return "length";
  if (stop_reason == "tool_use") return "tool_calls";
  return std::string(stop_reason);
}

namespace jr = json_read;
using jr::Path;

Error invalid_at(const Path& at, std::string_view what) {
  return fail(ErrorCode::kInvalidArgument, "'" + at.str() + "' " + std::string(what), at.str());
}

std::string dump_input(const json& input) {
  return input.dump(-1, ' ', false, json::error_handler_t::replace);
}

// One block of a whole answer's content: text, a tool call, or the forced output tool's input
// (the structured answer itself). Other kinds (thinking, server tools) carry nothing for the
// caller.
Result<void> add_block(const json& block, const Path& at, ModelAnswer& answer) {
  if (auto object = jr::as_object(block, at); !object) return object.error();
  auto type = jr::need_string(block, "type", at);
  if (!type) return type.error();
  if (type.value() == "text") {
    auto text = jr::need_string(block, "text", at);
    if (!text) return text.error();
    answer.text += text.value();
    return {};
  }
  if (type.value() != "tool_use") return {};
  auto id = tool_text(block, "id", at);
  if (!id) return id.error();
  auto name = tool_text(block, "name", at);
  if (!name) return name.error();
  auto input = jr::get_object(block, "input", at);
  if (!input) return input.error();
  std::string arguments = input.value() ? dump_input(*input.value()) : "{}";
  if (name.value() == kAnthropicOutputTool) {
    answer.text += arguments;
    return {};
  }
  if (answer.tool_calls.size() >= structured::kToolCallsMax) {
    return invalid_at(at, "is one tool call more than the " +
                              std::to_string(structured::kToolCallsMax) + " allowed");
  }
  answer.tool_calls.push_back({std::string(id.value()), std::string(name.value()), arguments});
  return {};
}

Result<ModelAnswer> answer_of(const json& body) {
  Path root;
  auto content = jr::need_array(body, "content", root);
  if (!content) return content.error();
  Path list(root, "content");
  ModelAnswer answer;
  size_t i = 0;
  for (const json& block : *content.value()) {
    if (auto added = add_block(block, Path(list, i++), answer); !added) return added.error();
  }
  auto stop = jr::get_string(body, "stop_reason", root);
  if (!stop) return stop.error();
  std::string_view reason = stop.value().value_or("");
  // Only the output tool was called: for the caller that is a plain answer.
  answer.finish_reason =
      answer.tool_calls.empty() && reason == "tool_use" ? "stop" : finish_reason(reason);
  auto usage = read_usage(body, "usage", root, "input_tokens", "output_tokens");
  if (!usage) return usage.error();
  answer.usage = usage.value();
  return answer;
}

Result<void> on_message_start(const json& data, StreamState& state) {
  Path root;
  auto message = jr::get_object(data, "message", root);
  if (!message) return message.error();
  if (message.value() == nullptr) return {};
  Path in_message(root, "message");
  auto usage = jr::get_object(*message.value(), "usage", in_message);
  if (!usage) return usage.error();
  if (usage.value() == nullptr) return {};
  Path in_usage(in_message, "usage");
  auto input = token_count(*usage.value(), "input_tokens", in_usage);
  if (!input) return input.error();
  auto output = token_count(*usage.value(), "output_tokens", in_usage);
  if (!output) return output.error();
  if (input.value()) state.input_tokens = input.value();
  if (output.value()) state.output_tokens = output.value();
  return {};
}

Result<void> on_block_start(const json& data, StreamState& state, const OnDelta& on_delta) {
  Path root;
  auto index = jr::need_int64(data, "index", root, 0, kContentBlocksMax - 1);
  if (!index) return index.error();
  if (state.blocks.count(index.value())) {
    return invalid_at(Path(root, "index"), "names a content block that already started");
  }
  auto block = jr::need_object(data, "content_block", root);
  if (!block) return block.error();
  Path at(root, "content_block");
  auto type = jr::need_string(*block.value(), "type", at);
  if (!type) return type.error();
  ContentBlock started;
  ModelDelta piece;
  if (type.value() == "text") {
    started.kind = ContentBlock::Kind::kText;
    auto text = jr::get_string(*block.value(), "text", at);
    if (!text) return text.error();
    piece.text = text.value().value_or("");
  } else if (type.value() == "tool_use") {
    auto id = tool_text(*block.value(), "id", at);
    if (!id) return id.error();
    auto name = tool_text(*block.value(), "name", at);
    if (!name) return name.error();
    if (auto input = jr::get_object(*block.value(), "input", at); !input) return input.error();
    if (name.value() == kAnthropicOutputTool) {
      started.kind = ContentBlock::Kind::kOutput;
    } else {
      started.kind = ContentBlock::Kind::kToolUse;
      started.tool_index = state.tool_uses++;
      piece.tool_index = static_cast<int>(started.tool_index);
      piece.tool_id = id.value();
      piece.tool_name = name.value();
      if (auto added = state.tools.add(started.tool_index, piece.tool_id, piece.tool_name, "");
          !added) {
        return invalid_at(at, added.error().message);
      }
    }
  }
  state.blocks.emplace(index.value(), started);
  if (piece.tool_index >= 0 || !piece.text.empty()) {
    state.answer.text += piece.text;
    if (on_delta) on_delta(piece);
  }
  return {};
}

Result<void> on_block_delta(const json& data, StreamState& state, const OnDelta& on_delta) {
  Path root;
  auto index = jr::need_int64(data, "index", root, 0, kContentBlocksMax - 1);
  if (!index) return index.error();
  auto block = state.blocks.find(index.value());
  if (block == state.blocks.end()) {
    return invalid_at(Path(root, "index"), "names a content block that never started");
  }
  auto delta = jr::need_object(data, "delta", root);
  if (!delta) return delta.error();
  Path at(root, "delta");
  auto type = jr::need_string(*delta.value(), "type", at);
  if (!type) return type.error();
  ContentBlock::Kind kind = block->second.kind;
  ModelDelta piece;
  if (type.value() == "text_delta") {
    if (kind != ContentBlock::Kind::kText) {
      return invalid_at(Path(at, "type"), "is text_delta in a block that is not text");
    }
    auto text = jr::need_string(*delta.value(), "text", at);
    if (!text) return text.error();
    piece.text = text.value();
  } else if (type.value() == "input_json_delta") {
    if (kind == ContentBlock::Kind::kText) {
      return invalid_at(Path(at, "type"), "is input_json_delta in a text block");
    }
    auto fragment = jr::need_string(*delta.value(), "partial_json", at);
    if (!fragment) return fragment.error();
    if (kind == ContentBlock::Kind::kOutput) {
      piece.text = fragment.value();  // the structured answer itself
    } else if (kind == ContentBlock::Kind::kToolUse) {
      piece.tool_index = static_cast<int>(block->second.tool_index);
      piece.tool_arguments = fragment.value();
      if (auto added = state.tools.add(block->second.tool_index, "", "", fragment.value());
          !added) {
        return invalid_at(at, added.error().message);
      }
    }
  }
  // Thinking, signatures and server tools' input carry nothing the caller needs.
  if (piece.tool_index < 0) {
    if (piece.text.empty()) return {};
    state.answer.text += piece.text;
  }
  if (on_delta) on_delta(piece);
  return {};
}

Result<void> on_message_delta(const json& data, StreamState& state) {
  Path root;
  auto delta = jr::get_object(data, "delta", root);
  if (!delta) return delta.error();
  if (delta.value() != nullptr) {
    auto stop = jr::get_string(*delta.value(), "stop_reason", Path(root, "delta"));
    if (!stop) return stop.error();
    if (stop.value()) state.answer.finish_reason = finish_reason(*stop.value());
  }
  auto usage = jr::get_object(data, "usage", root);
  if (!usage) return usage.error();
  if (usage.value() == nullptr) return {};
  Path in_usage(root, "usage");
  auto output = token_count(*usage.value(), "output_tokens", in_usage);
  if (!output) return output.error();
  auto input = token_count(*usage.value(), "input_tokens", in_usage);
  if (!input) return input.error();
  if (output.value()) state.output_tokens = output.value();
  if (input.value()) state.input_tokens = input.value();
  return {};
}

}  // namespace

Result<UpstreamRequest> AnthropicDialect::build(const ModelRequest& request,
                                                const ProviderCredentials& credentials) const {
  json body{{"model", request.model}, {"max_tokens", request.max_tokens}};
  std::string system;
  json messages = json::array();
  for (const ChatMessage& message : request.messages) {
    switch (message.role) {
      case ChatMessage::Role::kSystem:
        system += (system.empty() ? "" : "\n\n") + message.content;
        break;
      case ChatMessage::Role::kUser:
        messages.push_back({{"role", "user"}, {"content", message.content}});
        break;
      case ChatMessage::Role::kTool:
        messages.push_back({{"role", "user"},
                            {"content", json::array({{{"type", "tool_result"},
                                                      {"tool_use_id", message.tool_call_id},
                                                      {"content", message.content}}})}});
        break;
      case ChatMessage::Role::kAssistant: {
        json content = json::array();
        if (!message.content.empty())
          content.push_back({{"type", "text"}, {"text", message.content}});
        for (const ToolCall& call : message.tool_calls) {
          auto input = json_read::parse(call.arguments, kProviderJsonDepthMax);
          bool object = input && input.value().is_object();
          content.push_back({{"type", "tool_use"},
                             {"id", call.id},
                             {"name", call.name},
                             {"input", object ? std::move(input.value()) : json::object()}});
        }
        messages.push_back({{"role", "assistant"}, {"content", content}});
        break;
      }
    }
  }
  if (!system.empty()) body["system"] = system;
  body["messages"] = std::move(messages);
  if (request.temperature) body["temperature"] = *request.temperature;
  json tools = json::array();
  for (const ToolDefinition& tool : request.tools) {
    tools.push_back({{"name", tool.name},
                     {"description", tool.description},
                     {"input_schema", tool.parameters}});
  }
  if (request.tool_choice && !request.tools.empty()) {
    switch (request.tool_choice->kind) {
      case ToolChoice::Kind::kAuto:
        body["tool_choice"] = {{"type", "auto"}};
        break;
      case ToolChoice::Kind::kNone:
        body["tool_choice"] = {{"type", "none"}};
        break;
      case ToolChoice::Kind::kRequired:
        body["tool_choice"] = {{"type", "any"}};
        break;
      case ToolChoice::Kind::kTool:
        body["tool_choice"] = {{"type", "tool"}, {"name", request.tool_choice->name}};
        break;
    }
  }
  if (request.response_format) {
    const json& schema = *request.response_format;
    const json* type = json_read::find(schema, "type");
    if (type == nullptr || *type != "object") {
      return fail(ErrorCode::kUpstreamError,
                  "Anthropic models need a responseFormat whose type is \"object\"");
    }
    tools.push_back({{"name", kAnthropicOutputTool},
                     {"description", "Answer by calling this tool with the whole answer."},
                     {"input_schema", schema}});
    body["tool_choice"] = request.tools.empty()
                              ? json{{"type", "tool"}, {"name", kAnthropicOutputTool}}
                              : json{{"type", "any"}};
  }
  if (!tools.empty()) body["tools"] = std::move(tools);
  if (request.stream) body["stream"] = true;
  UpstreamRequest out;
  out.url = credentials.base_url + "/v1/messages";
  out.headers.emplace_back("x-api-key", credentials.api_key);
  out.headers.emplace_back("anthropic-version", std::string(kAnthropicVersion));
  if (request.stream) out.headers.emplace_back("accept", "text/event-stream");
  out.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return out;
}

Result<ModelAnswer> AnthropicDialect::parse(std::string_view text) const {
  auto body = jr::parse(text, kProviderJsonDepthMax);
  if (!body) return malformed_json("its body", body.error());
  if (!body.value().is_object()) return malformed("its body is not a JSON object");
  auto type = jr::get_string(body.value(), "type", Path());
  if (!type) return malformed(type.error().message);
  if (type.value() && *type.value() == "error") {
    return fail(ErrorCode::kUpstreamError, "the provider reported an error");
  }
  auto answer = answer_of(body.value());
  if (!answer) return malformed(answer.error().message);
  return answer;
}

Result<void> AnthropicDialect::on_event(const stream::SseEvent& event, StreamState& state,
                                        const OnDelta& on_delta) const {
  auto parsed = jr::parse(event.data, kProviderJsonDepthMax);
  if (!parsed) return malformed_json("a stream event", parsed.error());
  const json& data = parsed.value();
  if (!data.is_object()) return malformed("a stream event is not a JSON object");
  auto named = jr::get_string(data, "type", Path());
  if (!named) return malformed("in a stream event, " + named.error().message);
  std::string_view type = named.value().value_or(event.type);
  if (type == "error") {
    return fail(ErrorCode::kUpstreamError, "the provider reported an error mid-stream");
  }
  Result<void> handled;
  const char* name = "";
  if (type == "message_start") {
    name = "message_start";
    handled = on_message_start(data, state);
  } else if (type == "content_block_start") {
    name = "content_block_start";
    handled = on_block_start(data, state, on_delta);
  } else if (type == "content_block_delta") {
    name = "content_block_delta";
    handled = on_block_delta(data, state, on_delta);
  } else if (type == "message_delta") {
    name = "message_delta";
    handled = on_message_delta(data, state);
  } else if (type == "message_stop") {
    if (state.answer.finish_reason == "tool_calls" && state.tools.empty())
      state.answer.finish_reason = "stop";  // only the output tool was called
    state.finished = true;
  }
  // ping, content_block_stop and event types added later carry nothing to read.
  if (!handled)
    return malformed("in a " + std::string(name) + " event, " + handled.error().message);
  return {};
}

}  // namespace tollgate::server
