// The Anthropic-compatible surface of the gateway (server/api/gateway.h): POST /v1/messages in
// Anthropic's Messages wire format, streamed (message_start … message_stop) and not, routed to
// any provider. Errors are in Anthropic's shape, {"type":"error","error":{"type":…,"message":…}};
// a refusal for budget is 402 billing_error with x-should-retry: false.
#include <set>

#include "server/api/gateway.h"
#include "server/http/error_response.h"
#include "tollgate/core/json_read.h"

namespace tollgate::server {
namespace {

using ojson = nlohmann::ordered_json;
constexpr size_t kBlockBytesMax = size_t{1} << 20;
constexpr int64_t kMaxTokensMax = pricing::kTokensMax;

std::string_view anthropic_error_type(http::status status) {
  switch (status) {
    case http::status::bad_request:
      return "invalid_request_error";
    case http::status::unauthorized:
      return "authentication_error";
    case http::status::payment_required:
      return "billing_error";
    case http::status::forbidden:
      return "permission_error";
    case http::status::not_found:
      return "not_found_error";
    case http::status::payload_too_large:
      return "request_too_large";
    case http::status::too_many_requests:
      return "rate_limit_error";
    case http::status::gateway_timeout:
      return "timeout_error";
    default:
      return "api_error";
  }
}

ojson anthropic_error_body(const Error& error) {
  return {{"type", "error"},
          {"error",
           {{"type", anthropic_error_type(http_status(error.code))}, {"message", error.message}}}};
}

Response anthropic_error(const Error& error) {
  Response response = json_response(http_status(error.code), anthropic_error_body(error));
  if (error.code == ErrorCode::kInsufficientCredits) response.set("x-should-retry", "false");
  return response;
}

// Text of a string or of text blocks (system prompts, tool results).
Result<std::string> text_of(const json& value, const std::string& where) {
  if (value.is_string()) {
    if (value.get_ref<const std::string&>().size() > kBlockBytesMax)
      return invalid_field(quoted_field(where) + " is longer than 1 MiB", where);
    return value.get<std::string>();
  }
  if (!value.is_array())
    return invalid_field(quoted_field(where) + " must be a string or text blocks", where);
  std::string text;
  for (size_t i = 0; i < value.size(); ++i) {
    const json& block = value[i];
    const json* type = json_read::find(block, "type");
    const json* body = json_read::find(block, "text");
    if (type == nullptr || *type != "text" || body == nullptr || !body->is_string()) {
      return invalid_field(
          quoted_field(indexed_field(where, i)) + " must be a text block; only text is supported",
          indexed_field(where, i));
    }
    text += body->get<std::string>();
    if (text.size() > kBlockBytesMax)
      return invalid_field(quoted_field(where) + " is longer than 1 MiB", where);
  }
  return text;
}

// One Anthropic message as Tollgate's: a user turn's tool_result blocks become tool messages
// (first, as they answer the turn before), its text a user message; an assistant turn's
// tool_use blocks its tool calls.
Result<void> add_message(const json& entry, const std::string& where,
                         std::vector<ChatMessage>& out) {
  const json* role = json_read::find(entry, "role");
  const json* content = json_read::find(entry, "content");
  if (!entry.is_object() || role == nullptr || !role->is_string() ||
      (*role != "user" && *role != "assistant")) {
    return invalid_field("'" + where + ".role' must be user or assistant", where + ".role");
  }
  bool user = *role == "user";
  if (content == nullptr)
    return invalid_field("'" + where + ".content' is required", where + ".content");
  ChatMessage message;
  message.role = user ? ChatMessage::Role::kUser : ChatMessage::Role::kAssistant;
  if (content->is_string()) {
    message.content = content->get<std::string>();
    out.push_back(std::move(message));
    return {};
  }
  if (!content->is_array())
    return invalid_field("'" + where + ".content' must be a string or blocks", where + ".content");
  for (size_t i = 0; i < content->size(); ++i) {
    const json& block = (*content)[i];
    std::string path = indexed_field(where + ".content", i);
    std::string type = json_read::string_or(block, "type", "");
    if (type == "text") {
      auto text = text_of(json::array({block}), path);
      if (!text) return text.error();
      message.content += text.value();
    } else if (type == "tool_use" && !user) {
      const json* id = json_read::find(block, "id");
      const json* name = json_read::find(block, "name");
      const json* input = json_read::find(block, "input");
      if (id == nullptr || !id->is_string() || name == nullptr || !name->is_string())
        return invalid_field(quoted_field(path) + " needs an id and a name", path);
      message.tool_calls.push_back(
          {id->get<std::string>(), name->get<std::string>(),
           input != nullptr ? input->dump(-1, ' ', false, json::error_handler_t::replace) : "{}"});
    } else if (type == "tool_result" && user) {
      const json* id = json_read::find(block, "tool_use_id");
      if (id == nullptr || !id->is_string())
        return invalid_field("'" + path + ".tool_use_id' is required", path + ".tool_use_id");
      std::string result;
      if (const json* body = json_read::find(block, "content");
          body != nullptr && !body->is_null()) {
        auto text = text_of(*body, path + ".content");
        if (!text) return text.error();
        result = std::move(text).value();
      }
      out.push_back({ChatMessage::Role::kTool, std::move(result), {}, id->get<std::string>()});
    } else {
      return invalid_field(quoted_field(path) +
                               " is a block Tollgate does not take here (text, "
                               "tool_use from the assistant, tool_result from the user)",
                           path);
    }
  }
  if (!message.content.empty() || !message.tool_calls.empty()) out.push_back(std::move(message));
  return {};
}

Result<GatewayRequest> parse_messages_request(const json& body) {
  GatewayRequest out;
  out.model = json_read::string_or(body, "model", "");
  if (out.model.empty()) return invalid_field("'model' is required", "model");
  const json* max = json_read::find(body, "max_tokens");
  if (max == nullptr || !max->is_number_integer() || max->get<int64_t>() < 1 ||
      max->get<int64_t>() > kMaxTokensMax) {
    return invalid_field(
        "'max_tokens' is required: an integer from 1 to " + std::to_string(kMaxTokensMax),
        "max_tokens");
  }
  out.request.max_tokens = max->get<int64_t>();
  out.max_tokens_given = true;
  if (const json* system = json_read::find(body, "system");
      system != nullptr && !system->is_null()) {
    auto text = text_of(*system, "system");
    if (!text) return text.error();
    out.request.messages.push_back({ChatMessage::Role::kSystem, std::move(text).value(), {}, {}});
  }
  const json* list = json_read::find(body, "messages");
  if (list == nullptr || !list->is_array() || list->empty() || list->size() > kGatewayMessagesMax) {
    return invalid_field(
        "'messages' must be a non-empty array of at most " + std::to_string(kGatewayMessagesMax),
        "messages");
  }
  for (size_t i = 0; i < list->size(); ++i) {
    if (auto added = add_message((*list)[i], indexed_field("messages", i), out.request.messages);
        !added)
      return added.error();
  }
  if (const json* t = json_read::find(body, "temperature"); t != nullptr && !t->is_null()) {
    if (!t->is_number() || t->get<double>() < 0 || t->get<double>() > 1)
      return invalid_field("'temperature' must be a number from 0 to 1", "temperature");
    out.request.temperature = t->get<double>();
  }
  if (const json* tools = json_read::find(body, "tools"); tools != nullptr && !tools->is_null()) {
    if (!tools->is_array() || tools->size() > kGatewayToolsMax)
      return invalid_field("'tools' must be an array", "tools");
    for (size_t i = 0; i < tools->size(); ++i) {
      const json& tool = (*tools)[i];
      const json* name = json_read::find(tool, "name");
      const json* schema = json_read::find(tool, "input_schema");
      if (name == nullptr || !name->is_string() || schema == nullptr || !schema->is_object()) {
        return invalid_field(
            quoted_field(indexed_field("tools", i)) + " needs a name and an input_schema object",
            indexed_field("tools", i));
      }
      out.request.tools.push_back(
          {name->get<std::string>(), json_read::string_or(tool, "description", ""), *schema});
    }
  }
  if (const json* choice = json_read::find(body, "tool_choice");
      choice != nullptr && !choice->is_null()) {
    std::string type = json_read::string_or(*choice, "type", "");
    ToolChoice picked;
    if (type == "auto") {
      picked.kind = ToolChoice::Kind::kAuto;
    } else if (type == "any") {
      picked.kind = ToolChoice::Kind::kRequired;
    } else if (type == "none") {
      picked.kind = ToolChoice::Kind::kNone;
    } else if (type == "tool" && !json_read::string_or(*choice, "name", "").empty()) {
      picked = {ToolChoice::Kind::kTool, json_read::string_or(*choice, "name", "")};
    } else {
      return invalid_field("'tool_choice.type' must be auto, any, none or tool (with a name)",
                           "tool_choice");
    }
    out.request.tool_choice = picked;
  }
  out.stream = json_read::find(body, "stream") != nullptr && body["stream"] == true;
  out.request.stream = out.stream;
  return out;
}

std::string stop_reason(const ModelAnswer& answer) {
  const std::string& reason = answer.finish_reason;
  if (!answer.tool_calls.empty() || reason == "tool_calls" || reason == "tool_use")
    return "tool_use";
  if (reason == "length" || reason == "max_tokens") return "max_tokens";
  if (reason == "stop_sequence") return "stop_sequence";
  return "end_turn";
}

std::string message_id(const std::string& hold_id) {
  return "msg_" + hold_id.substr(hold_id.find('_') + 1);
}

// Writes the answer as Anthropic does: one message, or its events. Text and each tool call
// are content blocks in the order they start; a block stops when the next one starts.
class MessagesListener final : public CallListener {
 public:
  MessagesListener(std::shared_ptr<ResponseStream> stream, Reply reply, std::string model,
                   std::string hold_id, bool structured)
      : stream_(std::move(stream)),
        reply_(std::move(reply)),
        model_(std::move(model)),
        id_(message_id(hold_id)),
        structured_(structured) {}

  void text(std::string_view delta) override {
    if (!stream_ || structured_) return;
    send_text(delta);
  }

  void send_text(std::string_view delta) {
    if (text_block_ < 0) start_block({{"type", "text"}, {"text", ""}}, text_block_);
    event("content_block_delta", {{"type", "content_block_delta"},
                                  {"index", text_block_},
                                  {"delta", {{"type", "text_delta"}, {"text", delta}}}});
  }

  void tool_call(const ModelDelta& delta) override {
    if (!stream_) return;
    auto found = tool_blocks_.find(delta.tool_index);
    if (found == tool_blocks_.end()) {
      int index = -1;
      start_block({{"type", "tool_use"},
                   {"id", delta.tool_id},
                   {"name", delta.tool_name},
                   {"input", ojson::object()}},
                  index);
      found = tool_blocks_.emplace(delta.tool_index, index).first;
      text_block_ = text_block_ >= 0 ? -2 : text_block_;  // text after a tool is a new block
    }
    if (!delta.tool_arguments.empty()) {
      event("content_block_delta",
            {{"type", "content_block_delta"},
             {"index", found->second},
             {"delta", {{"type", "input_json_delta"}, {"partial_json", delta.tool_arguments}}}});
    }
  }

  void partial(const nlohmann::json&) override {}
  void repairing(std::string_view) override {}
  void fell_back(std::string_view) override {}

  void settled(const CallOutcome& outcome) override {
    const ModelAnswer& answer = outcome.answer;
    std::string reason = stop_reason(answer);
    if (stream_) {
      if (structured_ && !answer.text.empty()) send_text(answer.text);
      begin();
      stop_open_block();
      event("message_delta", {{"type", "message_delta"},
                              {"delta", {{"stop_reason", reason}, {"stop_sequence", nullptr}}},
                              {"usage",
                               {{"input_tokens", outcome.usage.input_tokens},
                                {"output_tokens", outcome.usage.output_tokens}}}});
      event("message_stop", {{"type", "message_stop"}});
      stream_->finish();
      return;
    }
    ojson content = ojson::array();
    if (!answer.text.empty() || answer.tool_calls.empty())
      content.push_back({{"type", "text"}, {"text", answer.text}});
    for (const ToolCall& call : answer.tool_calls) {
      auto input = json_read::parse(call.arguments, kProviderJsonDepthMax);
      content.push_back(
          {{"type", "tool_use"},
           {"id", call.id},
           {"name", call.name},
           {"input", input && input.value().is_object() ? ojson(input.value()) : ojson::object()}});
    }
    ojson out{{"id", message_id(outcome.hold_id)},
              {"type", "message"},
              {"role", "assistant"},
              {"model", model_},
              {"content", std::move(content)},
              {"stop_reason", reason},
              {"stop_sequence", nullptr},
              {"usage",
               {{"input_tokens", outcome.usage.input_tokens},
                {"output_tokens", outcome.usage.output_tokens}}},
              {"tollgate",
               {{"costMicros", outcome.micros},
                {"credits", outcome.credits},
                {"usageReported", outcome.usage_reported}}}};
    reply_(json_response(http::status::ok, out));
  }

  void failed(const Error& error) override {
    if (!stream_) return reply_(error);
    event("error", anthropic_error_body(error));
    stream_->finish();
  }

 private:
  void begin() {
    if (began_) return;
    began_ = true;
    event("message_start", {{"type", "message_start"},
                            {"message",
                             {{"id", id_},
                              {"type", "message"},
                              {"role", "assistant"},
                              {"model", model_},
                              {"content", ojson::array()},
                              {"stop_reason", nullptr},
                              {"stop_sequence", nullptr},
                              {"usage", {{"input_tokens", 0}, {"output_tokens", 0}}}}}});
  }
  void stop_open_block() {
    if (open_block_ < 0) return;
    event("content_block_stop", {{"type", "content_block_stop"}, {"index", open_block_}});
    open_block_ = -1;
  }
  void start_block(ojson block, int& index) {
    begin();
    stop_open_block();
    index = next_block_++;
    open_block_ = index;
    event("content_block_start",
          {{"type", "content_block_start"}, {"index", index}, {"content_block", std::move(block)}});
  }
  void event(std::string_view name, const ojson& data) {
    std::string frame = "event: ";
    frame.append(name).append("\ndata: ");
    frame.append(data.dump(-1, ' ', false, ojson::error_handler_t::replace)).append("\n\n");
    stream_->write(std::move(frame));
  }

  std::shared_ptr<ResponseStream> stream_;  // null: one JSON answer through reply_
  Reply reply_;
  std::string model_;
  std::string id_;
  bool structured_;  // the text waits for the checked answer
  bool began_ = false;
  int next_block_ = 0;
  int open_block_ = -1;
  int text_block_ = -1;             // the text block's index; < 0 while there is none open
  std::map<int, int> tool_blocks_;  // the provider's tool index → the block's
};

const std::vector<Field>& messages_fields() {
  static const std::vector<Field> kFields = {
      gateway_model_field(),
      {"messages", FieldType::kArray, true},
      {"max_tokens", FieldType::kInteger, true, 1, kMaxTokensMax},
      {"system", FieldType::kAny},
      {"temperature", FieldType::kAny},
      {"stream", FieldType::kBoolean, false, 0, 0, true},
      {"tools", FieldType::kArray, false, 0, 0, true},
      {"tool_choice", FieldType::kObject, false, 0, 0, true},
      {"metadata", FieldType::kObject, false, 0, 0, true},
      {"stop_sequences", FieldType::kAny},
      {"top_p", FieldType::kAny},
      {"top_k", FieldType::kAny},
      {"service_tier", FieldType::kAny}};
  return kFields;
}

void messages(ApiContext& api, const Call& call, const Reply& reply,
              const OpenStream& open_stream) {
  auto parsed = parse_messages_request(call.body);
  if (!parsed) return reply(parsed.error());
  bool streaming = parsed.value().stream && open_stream;
  std::string model = parsed.value().model;
  auto metered = gateway_call(api, *call.user_key, std::move(parsed).value());
  if (!metered) return reply(metered.error());
  run_gateway_call(
      metered.value(), streaming ? open_stream : OpenStream(),
      [reply, model](std::shared_ptr<ResponseStream> stream, const std::string& hold_id,
                     bool structured) {
        return std::make_shared<MessagesListener>(std::move(stream), reply, model, hold_id,
                                                  structured);
      },
      reply);
}

}  // namespace

void add_anthropic_routes(Router& router, ApiContext& api) {
  RouteSpec spec{http::verb::post,
                 "/v1/messages",
                 Who::kUserKey,
                 "Anthropic-compatible Messages, routed to any provider and metered against the "
                 "key's cap (JSON or text/event-stream)",
                 "Message",
                 Body::kJson,
                 false,
                 false,
                 messages_fields()};
  spec.error_render = anthropic_error;
  spec.error_schema = "AnthropicError";
  add_streaming_route(router, api, std::move(spec),
                      [&api](const Call& call, const Reply& reply, const OpenStream& open_stream) {
                        messages(api, call, reply, open_stream);
                      });
}

}  // namespace tollgate::server
