// The Anthropic Messages wire format: POST {base}/v1/messages.
#include "server/ai/http_provider.h"

namespace tollgate::server {
namespace {

using json = nlohmann::json;

std::string finish_reason(std::string_view stop_reason) {
  if (stop_reason == "end_turn" || stop_reason == "stop_sequence") return "stop";
  if (stop_reason == "max_tokens") return "length";
  if (stop_reason == "tool_use") return "tool_calls";
  return std::string(stop_reason);
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
        if (!message.content.empty()) content.push_back({{"type", "text"}, {"text", message.content}});
        for (const ToolCall& call : message.tool_calls) {
          json input = json::parse(call.arguments, nullptr, false);
          content.push_back({{"type", "tool_use"},
                             {"id", call.id},
                             {"name", call.name},
                             {"input", input.is_object() ? input : json::object()}});
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
  if (request.response_format) {
    const json& schema = *request.response_format;
    if (!schema.is_object() || schema.value("type", json()) != "object") {
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
  json body = json::parse(text, nullptr, false);
  if (body.is_discarded() || !body.is_object()) return malformed("not a JSON object");
  auto content = body.find("content");
  if (content == body.end() || !content->is_array()) return malformed("no content array");
  ModelAnswer answer;
  for (const json& block : *content) {
    if (!block.is_object()) return malformed("a content block is not an object");
    std::string type = block.value("type", "");
    if (type == "text") {
      answer.text += block.value("text", "");
    } else if (type == "tool_use") {
      json input = block.contains("input") ? block["input"] : json::object();
      if (block.value("name", "") == kAnthropicOutputTool) {
        answer.text += input.dump();
        continue;
      }
      answer.tool_calls.push_back({block.value("id", ""), block.value("name", ""), input.dump()});
    }
  }
  std::string stop = body.contains("stop_reason") && body["stop_reason"].is_string()
                         ? body["stop_reason"].get<std::string>()
                         : "";
  answer.finish_reason = answer.tool_calls.empty() && stop == "tool_use" ? "stop" : finish_reason(stop);
  if (body.contains("usage") && body["usage"].is_object()) {
    auto input = token_count(body["usage"], "input_tokens");
    auto output = token_count(body["usage"], "output_tokens");
    if (input && output) answer.usage = pricing::Usage{*input, *output};
  }
  return answer;
}

Result<void> AnthropicDialect::on_event(const stream::SseEvent& event, StreamState& state,
                                        const OnDelta& on_delta) const {
  json data = json::parse(event.data, nullptr, false);
  if (data.is_discarded() || !data.is_object()) return malformed("a stream event is not JSON");
  std::string type = data.value("type", event.type);
  if (type == "error") {
    return fail(ErrorCode::kUpstreamError, "the provider reported an error mid-stream");
  }
  if (type == "message_start") {
    if (data.contains("message") && data["message"].is_object() &&
        data["message"].contains("usage") && data["message"]["usage"].is_object()) {
      const json& usage = data["message"]["usage"];
      state.input_tokens = token_count(usage, "input_tokens");
      if (auto output = token_count(usage, "output_tokens")) state.output_tokens = output;
    }
    return {};
  }
  if (type == "content_block_start") {
    if (!data.contains("index") || !data["index"].is_number_integer() ||
        !data.contains("content_block") || !data["content_block"].is_object()) {
      return malformed("content_block_start without an index or block");
    }
    int64_t index = data["index"].get<int64_t>();
    const json& block = data["content_block"];
    std::string kind = block.value("type", "");
    if (kind == "tool_use" && block.value("name", "") == kAnthropicOutputTool) kind = "output";
    state.block_kinds[index] = kind;
    if (kind == "tool_use") {
      ModelDelta piece;
      piece.tool_index = static_cast<int>(state.tools.partial().size());
      piece.tool_id = block.value("id", "");
      piece.tool_name = block.value("name", "");
      state.block_kinds[index] = "tool_use:" + std::to_string(piece.tool_index);
      if (auto added = state.tools.add(piece.tool_index, piece.tool_id, piece.tool_name, "");
          !added) {
        return malformed(added.error().message);
      }
      if (on_delta) on_delta(piece);
    }
    return {};
  }
  if (type == "content_block_delta") {
    if (!data.contains("index") || !data["index"].is_number_integer() ||
        !data.contains("delta") || !data["delta"].is_object()) {
      return malformed("content_block_delta without an index or delta");
    }
    auto kind = state.block_kinds.find(data["index"].get<int64_t>());
    if (kind == state.block_kinds.end()) return malformed("a delta for a block that never started");
    const json& delta = data["delta"];
    std::string delta_type = delta.value("type", "");
    ModelDelta piece;
    if (delta_type == "text_delta") {
      piece.text = delta.value("text", "");
    } else if (delta_type == "input_json_delta") {
      std::string fragment = delta.value("partial_json", "");
      if (kind->second == "output") {
        piece.text = fragment;  // the structured answer itself
      } else if (kind->second.starts_with("tool_use:")) {
        piece.tool_index = std::stoi(kind->second.substr(9));
        piece.tool_arguments = fragment;
        if (auto added = state.tools.add(piece.tool_index, "", "", fragment); !added) {
          return malformed(added.error().message);
        }
      }
    } else {
      return {};  // thinking and other deltas carry nothing the caller needs
    }
    if (piece.tool_index < 0) {
      if (piece.text.empty()) return {};
      state.answer.text += piece.text;
    }
    if (on_delta) on_delta(piece);
    return {};
  }
  if (type == "message_delta") {
    if (data.contains("delta") && data["delta"].is_object() &&
        data["delta"].contains("stop_reason") && data["delta"]["stop_reason"].is_string()) {
      state.answer.finish_reason = finish_reason(data["delta"]["stop_reason"].get<std::string>());
    }
    if (data.contains("usage") && data["usage"].is_object()) {
      if (auto output = token_count(data["usage"], "output_tokens")) state.output_tokens = output;
      if (auto input = token_count(data["usage"], "input_tokens")) state.input_tokens = input;
    }
    return {};
  }
  if (type == "message_stop") {
    if (state.answer.finish_reason == "tool_calls" && state.tools.empty())
      state.answer.finish_reason = "stop";  // only the output tool was called
    state.finished = true;
  }
  return {};  // ping, content_block_stop
}

}  // namespace tollgate::server
