// The OpenAI-compatible surface of the gateway (server/api/gateway.h): POST /v1/chat/completions
// in OpenAI's Chat Completions wire format, streamed and not, GET /v1/models in its list shape,
// and POST /v1/quote. Errors keep OpenAI's shape; a refusal for budget is 402 with
// type "insufficient_quota" and x-should-retry: false, so that clients do not retry it.
#include <algorithm>
#include <chrono>
#include <set>

#include "server/api/gateway.h"
#include "server/api/user_keys.h"
#include "server/http/error_response.h"
#include "tollgate/core/json_read.h"

namespace tollgate::server {
namespace {

using ojson = nlohmann::ordered_json;
constexpr size_t kToolNameBytesMax = 64;
constexpr size_t kMessageBytesMax = size_t{1} << 20;
constexpr int64_t kGatewayMaxTokensMax = pricing::kTokensMax;

// A message's content: a string, null, or text parts ({"type":"text","text":…}).
Result<std::string> content_text(const json& message, const std::string& where) {
  const json* content = json_read::find(message, "content");
  if (content == nullptr || content->is_null()) return std::string();
  if (content->is_string()) {
    if (content->get_ref<const std::string&>().size() > kMessageBytesMax)
      return invalid_field("'" + where + ".content' is longer than 1 MiB", where + ".content");
    return content->get<std::string>();
  }
  if (!content->is_array())
    return invalid_field("'" + where + ".content' must be a string or an array of parts",
                         where + ".content");
  std::string text;
  for (size_t i = 0; i < content->size(); ++i) {
    const json& part = (*content)[i];
    const json* type = json_read::find(part, "type");
    const json* value = json_read::find(part, "text");
    if (type == nullptr || *type != "text" || value == nullptr || !value->is_string()) {
      return invalid_field(quoted_field(indexed_field(where + ".content", i)) +
                               " must be a text part {\"type\":\"text\",\"text\":…}; only text "
                               "is supported",
                           indexed_field(where + ".content", i));
    }
    text += value->get<std::string>();
    if (text.size() > kMessageBytesMax)
      return invalid_field("'" + where + ".content' is longer than 1 MiB", where + ".content");
  }
  return text;
}

Result<std::vector<ToolCall>> message_tool_calls(const json& message, const std::string& where) {
  std::vector<ToolCall> calls;
  const json* list = json_read::find(message, "tool_calls");
  if (list == nullptr || list->is_null()) return calls;
  if (!list->is_array() || list->size() > kGatewayToolsMax)
    return invalid_field("'" + where + ".tool_calls' must be an array", where + ".tool_calls");
  for (size_t i = 0; i < list->size(); ++i) {
    const json& call = (*list)[i];
    std::string path = indexed_field(where + ".tool_calls", i);
    const json* id = json_read::find(call, "id");
    const json* function = json_read::find(call, "function");
    const json* name = function ? json_read::find(*function, "name") : nullptr;
    const json* arguments = function ? json_read::find(*function, "arguments") : nullptr;
    if (id == nullptr || !id->is_string() || name == nullptr || !name->is_string() ||
        (arguments != nullptr && !arguments->is_string())) {
      return invalid_field(quoted_field(path) +
                               " must have an id and a function with a name and "
                               "arguments (a JSON string)",
                           path);
    }
    calls.push_back({id->get<std::string>(), name->get<std::string>(),
                     arguments ? arguments->get<std::string>() : "{}"});
  }
  return calls;
}

Result<std::vector<ChatMessage>> parse_messages(const json& body) {
  const json* list = json_read::find(body, "messages");
  if (list == nullptr || !list->is_array() || list->empty())
    return invalid_field("'messages' must be a non-empty array", "messages");
  if (list->size() > kGatewayMessagesMax) {
    return invalid_field("'messages' holds more than " + std::to_string(kGatewayMessagesMax),
                         "messages");
  }
  std::vector<ChatMessage> messages;
  for (size_t i = 0; i < list->size(); ++i) {
    const json& entry = (*list)[i];
    std::string where = indexed_field("messages", i);
    const json* role = json_read::find(entry, "role");
    if (!entry.is_object() || role == nullptr || !role->is_string())
      return invalid_field(quoted_field(where) + " must be an object with a role", where + ".role");
    auto text = content_text(entry, where);
    if (!text) return text.error();
    ChatMessage message;
    message.content = std::move(text).value();
    const std::string& name = role->get_ref<const std::string&>();
    if (name == "system" || name == "developer") {
      message.role = ChatMessage::Role::kSystem;
    } else if (name == "user") {
      message.role = ChatMessage::Role::kUser;
    } else if (name == "assistant") {
      message.role = ChatMessage::Role::kAssistant;
      auto calls = message_tool_calls(entry, where);
      if (!calls) return calls.error();
      message.tool_calls = std::move(calls).value();
    } else if (name == "tool") {
      message.role = ChatMessage::Role::kTool;
      const json* id = json_read::find(entry, "tool_call_id");
      if (id == nullptr || !id->is_string())
        return invalid_field("'" + where + ".tool_call_id' is required", where + ".tool_call_id");
      message.tool_call_id = id->get<std::string>();
    } else {
      return invalid_field(
          "'" + where + ".role' must be system, developer, user, assistant or tool",
          where + ".role");
    }
    messages.push_back(std::move(message));
  }
  return messages;
}

Result<std::vector<ToolDefinition>> parse_tools(const json& body) {
  std::vector<ToolDefinition> tools;
  const json* list = json_read::find(body, "tools");
  if (list == nullptr || list->is_null()) return tools;
  if (!list->is_array() || list->size() > kGatewayToolsMax) {
    return invalid_field("'tools' must be an array of at most " + std::to_string(kGatewayToolsMax),
                         "tools");
  }
  for (size_t i = 0; i < list->size(); ++i) {
    const json& tool = (*list)[i];
    std::string where = indexed_field("tools", i);
    const json* type = json_read::find(tool, "type");
    const json* function = json_read::find(tool, "function");
    const json* name = function ? json_read::find(*function, "name") : nullptr;
    if (type == nullptr || *type != "function" || name == nullptr || !name->is_string() ||
        name->get_ref<const std::string&>().empty() ||
        name->get_ref<const std::string&>().size() > kToolNameBytesMax) {
      return invalid_field(
          quoted_field(where) + " must be {\"type\":\"function\",\"function\":{\"name\":…}}",
          where);
    }
    ToolDefinition definition;
    definition.name = name->get<std::string>();
    if (const json* d = json_read::find(*function, "description"); d != nullptr && d->is_string())
      definition.description = d->get<std::string>();
    definition.parameters = json{{"type", "object"}, {"properties", json::object()}};
    if (const json* p = json_read::find(*function, "parameters"); p != nullptr && !p->is_null()) {
      if (!p->is_object())
        return invalid_field("'" + where + ".function.parameters' must be a JSON Schema object",
                             where + ".function.parameters");
      definition.parameters = *p;
    }
    tools.push_back(std::move(definition));
  }
  return tools;
}

Result<std::optional<ToolChoice>> parse_tool_choice(const json& body) {
  const json* choice = json_read::find(body, "tool_choice");
  if (choice == nullptr || choice->is_null()) return std::optional<ToolChoice>();
  if (choice->is_string()) {
    const std::string& kind = choice->get_ref<const std::string&>();
    if (kind == "auto") return std::optional<ToolChoice>(ToolChoice{ToolChoice::Kind::kAuto, ""});
    if (kind == "none") return std::optional<ToolChoice>(ToolChoice{ToolChoice::Kind::kNone, ""});
    if (kind == "required")
      return std::optional<ToolChoice>(ToolChoice{ToolChoice::Kind::kRequired, ""});
  } else if (const json* function = json_read::find(*choice, "function"); function != nullptr) {
    const json* name = json_read::find(*function, "name");
    if (name != nullptr && name->is_string())
      return std::optional<ToolChoice>(
          ToolChoice{ToolChoice::Kind::kTool, name->get<std::string>()});
  }
  return invalid_field(
      "'tool_choice' must be \"auto\", \"none\", \"required\" or "
      "{\"type\":\"function\",\"function\":{\"name\":…}}",
      "tool_choice");
}

// response_format: text, json_object, or json_schema (validated by sdk-core's validator).
Result<void> parse_response_format(const json& body, GatewayRequest& out) {
  const json* format = json_read::find(body, "response_format");
  if (format == nullptr || format->is_null()) return {};
  const json* type = json_read::find(*format, "type");
  if (type != nullptr && *type == "text") return {};
  json schema;
  if (type != nullptr && *type == "json_object") {
    schema = json{{"type", "object"}};
  } else if (type != nullptr && *type == "json_schema") {
    const json* spec = json_read::find(*format, "json_schema");
    const json* inner = spec ? json_read::find(*spec, "schema") : nullptr;
    if (inner == nullptr || !inner->is_object()) {
      return invalid_field("'response_format.json_schema.schema' must be a JSON Schema object",
                           "response_format.json_schema.schema");
    }
    schema = *inner;
  } else {
    return invalid_field("'response_format.type' must be text, json_object or json_schema",
                         "response_format.type");
  }
  auto compiled = structured::JsonSchema::compile(schema, "response_format.json_schema.schema");
  if (!compiled) {
    Error error = compiled.error();
    error.code = ErrorCode::kInvalidArgument;
    return error;
  }
  out.schema = std::move(compiled.value());
  out.request.response_format = std::move(schema);
  return {};
}

// The request as the gateway runs it. `n` other than 1 is refused: one choice per call.
Result<GatewayRequest> parse_chat_request(const json& body) {
  GatewayRequest out;
  out.model = json_read::string_or(body, "model", "");
  if (out.model.empty()) return invalid_field("'model' is required", "model");
  if (const json* n = json_read::find(body, "n"); n != nullptr && !n->is_null() && *n != 1)
    return invalid_field("'n' must be 1: Tollgate answers one choice per call", "n");
  auto messages = parse_messages(body);
  if (!messages) return messages.error();
  out.request.messages = std::move(messages).value();
  for (std::string_view name : {"max_completion_tokens", "max_tokens"}) {
    const json* max = json_read::find(body, name);
    if (max == nullptr || max->is_null()) continue;
    if (!max->is_number_integer() || max->get<int64_t>() < 1 ||
        max->get<int64_t>() > kGatewayMaxTokensMax) {
      std::string field(name);
      return invalid_field(quoted_field(field) + " must be an integer from 1 to " +
                               std::to_string(kGatewayMaxTokensMax),
                           field);
    }
    out.request.max_tokens = max->get<int64_t>();
    out.max_tokens_given = true;
    break;
  }
  if (const json* t = json_read::find(body, "temperature"); t != nullptr && !t->is_null()) {
    if (!t->is_number() || t->get<double>() < 0 || t->get<double>() > 2)
      return invalid_field("'temperature' must be a number from 0 to 2", "temperature");
    out.request.temperature = t->get<double>();
  }
  auto tools = parse_tools(body);
  if (!tools) return tools.error();
  out.request.tools = std::move(tools).value();
  auto choice = parse_tool_choice(body);
  if (!choice) return choice.error();
  out.request.tool_choice = choice.value();
  if (auto format = parse_response_format(body, out); !format) return format.error();
  if (const json* metadata = json_read::find(body, "metadata");
      metadata != nullptr && metadata->is_object()) {
    out.metadata = *metadata;
  }
  out.stream = json_read::find(body, "stream") != nullptr && body["stream"] == true;
  out.request.stream = out.stream;
  return out;
}

// OpenAI's finish reasons, from whichever provider answered.
std::string finish_reason(const ModelAnswer& answer) {
  const std::string& reason = answer.finish_reason;
  if (!answer.tool_calls.empty() &&
      (reason.empty() || reason == "stop" || reason == "tool_use" || reason == "end_turn")) {
    return "tool_calls";
  }
  if (reason == "max_tokens" || reason == "length") return "length";
  if (reason == "tool_use" || reason == "tool_calls") return "tool_calls";
  if (reason == "content_filter") return "content_filter";
  return "stop";
}

int64_t unix_seconds(int64_t ms) { return ms / 1000; }

ojson usage_json(const CallOutcome& outcome) {
  return {{"prompt_tokens", outcome.usage.input_tokens},
          {"completion_tokens", outcome.usage.output_tokens},
          {"total_tokens", outcome.usage.input_tokens + outcome.usage.output_tokens}};
}

// What Tollgate adds to an answer: the cost and the budget left.
ojson tollgate_json(const CallOutcome& outcome) {
  return {{"costMicros", outcome.micros},
          {"credits", outcome.credits},
          {"usageReported", outcome.usage_reported}};
}

// The 402 for a budget refusal, in OpenAI's shape.
Response quota_response(const Error& error) {
  ojson body{{"error",
              {{"message", error.message},
               {"type", "insufficient_quota"},
               {"param", error.param.empty() ? ojson() : ojson(error.param)},
               {"code", "insufficient_quota"}}}};
  Response response = json_response(http::status::payment_required, body);
  response.set("x-should-retry", "false");
  return response;
}

Response gateway_error(const Error& error) {
  if (error.code == ErrorCode::kInsufficientCredits) return quota_response(error);
  return error_response(error);
}

// Writes the answer as OpenAI does: a chat.completion, or chat.completion.chunk events.
class ChatListener final : public CallListener {
 public:
  ChatListener(std::shared_ptr<ResponseStream> stream, Reply reply, std::string model,
               int64_t created, bool include_usage, std::string hold_id, bool structured)
      : stream_(std::move(stream)),
        reply_(std::move(reply)),
        model_(std::move(model)),
        created_(created),
        include_usage_(include_usage),
        structured_(structured),
        id_(std::move(hold_id)) {}

  void text(std::string_view delta) override {
    if (!stream_ || structured_) return;
    ojson d = ojson::object();
    open_role(d);
    d["content"] = delta;
    chunk(std::move(d), ojson());
  }

  void tool_call(const ModelDelta& delta) override {
    if (!stream_) return;
    ojson call{{"index", delta.tool_index}};
    bool first = started_tools_.insert(delta.tool_index).second;
    if (first) {
      call["id"] = delta.tool_id;
      call["type"] = "function";
      call["function"] = {{"name", delta.tool_name}, {"arguments", delta.tool_arguments}};
    } else {
      call["function"] = {{"arguments", delta.tool_arguments}};
    }
    ojson d = ojson::object();
    open_role(d);
    d["tool_calls"] = ojson::array({call});
    chunk(std::move(d), ojson());
  }

  void partial(const nlohmann::json&) override {}
  void repairing(std::string_view) override {}
  void fell_back(std::string_view) override {}

  void settled(const CallOutcome& outcome) override {
    std::string reason = finish_reason(outcome.answer);
    if (stream_) {
      if (!role_sent_ || (structured_ && !outcome.answer.text.empty())) {
        ojson d = ojson::object();
        open_role(d);
        d["content"] = structured_ ? outcome.answer.text : "";
        chunk(std::move(d), ojson());
      }
      chunk(ojson::object(), ojson(reason));
      if (include_usage_) {
        ojson last = head(outcome.hold_id);
        last["choices"] = ojson::array();
        last["usage"] = usage_json(outcome);
        last["tollgate"] = tollgate_json(outcome);
        write(last);
      }
      stream_->write("data: [DONE]\n\n");
      stream_->finish();
      return;
    }
    const ModelAnswer& answer = outcome.answer;
    ojson message{
        {"role", "assistant"},
        {"content",
         answer.text.empty() && !answer.tool_calls.empty() ? ojson() : ojson(answer.text)},
        {"refusal", nullptr}};
    if (!answer.tool_calls.empty()) {
      ojson calls = ojson::array();
      for (const ToolCall& call : answer.tool_calls) {
        calls.push_back({{"id", call.id},
                         {"type", "function"},
                         {"function", {{"name", call.name}, {"arguments", call.arguments}}}});
      }
      message["tool_calls"] = std::move(calls);
    }
    ojson out = completion_head(outcome.hold_id, "chat.completion");
    out["choices"] = ojson::array(
        {{{"index", 0}, {"message", message}, {"logprobs", nullptr}, {"finish_reason", reason}}});
    out["usage"] = usage_json(outcome);
    out["tollgate"] = tollgate_json(outcome);
    reply_(json_response(http::status::ok, out));
  }

  void failed(const Error& error) override {
    if (stream_) {
      write(error_body(error));
      stream_->write("data: [DONE]\n\n");
      stream_->finish();
      return;
    }
    reply_(error);
  }

 private:
  ojson completion_head(const std::string& hold_id, std::string_view object) const {
    return {{"id", "chatcmpl-" + hold_id.substr(hold_id.find('_') + 1)},
            {"object", object},
            {"created", created_},
            {"model", model_},
            {"system_fingerprint", nullptr}};
  }
  ojson head(const std::string& hold_id) const {
    return completion_head(hold_id, "chat.completion.chunk");
  }
  void open_role(ojson& delta) {
    if (role_sent_) return;
    role_sent_ = true;
    delta["role"] = "assistant";
  }
  void chunk(ojson delta, ojson finish) {
    ojson out = head(id_);
    out["choices"] = ojson::array({{{"index", 0},
                                    {"delta", std::move(delta)},
                                    {"logprobs", nullptr},
                                    {"finish_reason", std::move(finish)}}});
    write(out);
  }
  void write(const ojson& data) {
    stream_->write("data: " + data.dump(-1, ' ', false, ojson::error_handler_t::replace) + "\n\n");
  }

  std::shared_ptr<ResponseStream> stream_;  // null: one JSON answer through reply_
  Reply reply_;
  std::string model_;
  int64_t created_;
  bool include_usage_;
  bool structured_;  // the text waits for the checked answer
  std::string id_;
  bool role_sent_ = false;
  std::set<int> started_tools_;
};

void chat_completions(ApiContext& api, const Call& call, Reply reply,
                      const OpenStream& open_stream) {
  auto parsed = parse_chat_request(call.body);
  if (!parsed) return reply(parsed.error());
  bool streaming = parsed.value().stream && open_stream;
  const json* options = json_read::find(call.body, "stream_options");
  bool include_usage = options != nullptr &&
                       json_read::find(*options, "include_usage") != nullptr &&
                       (*options)["include_usage"] == true;
  std::string model = parsed.value().model;
  auto metered = gateway_call(api, *call.user_key, std::move(parsed).value());
  if (!metered) return reply(metered.error());
  int64_t created = unix_seconds(api.now_ms());
  run_gateway_call(
      metered.value(), streaming ? open_stream : OpenStream(),
      [reply, model, created, include_usage](std::shared_ptr<ResponseStream> stream,
                                             const std::string& hold_id, bool structured) {
        bool streamed = stream != nullptr;
        return std::make_shared<ChatListener>(std::move(stream), reply, model, created,
                                              streamed && include_usage, hold_id, structured);
      },
      reply);
}

// GET /v1/models: the catalogue's models this key may use, with their prices (an entry
// "provider/*" prices every model of the provider, and is listed as it is); and the project's
// features as "tollgate/<slug>".
Result<Response> list_models(ApiContext& api, const Call& call) {
  const UserKey& key = call.user_key->key;
  ojson data = ojson::array();
  for (const auto& [name, price] : api.pricing->prices()) {
    bool allowed = name.ends_with("/*") ? key_allows_provider(key, name.substr(0, name.size() - 2))
                                        : key_allows_model(key, name);
    if (!allowed) continue;
    size_t slash = name.find('/');
    data.push_back({{"id", name},
                    {"object", "model"},
                    {"created", 0},
                    {"owned_by", name.substr(0, slash)},
                    {"pricing",
                     {{"inputPerMillionMicros", price.input_per_million.value()},
                      {"outputPerMillionMicros", price.output_per_million.value()},
                      {"maxOutputTokens", api.pricing->max_output_tokens(
                                              name.substr(0, slash), name.substr(slash + 1))}}}});
  }
  auto features = api.store.list_operations(call.user_key->project.id, Page{kPageLimitMax, {}});
  if (!features) return features.error();
  for (const OperationRecord& record : features.value()) {
    std::string name = std::string(kFeatureModelPrefix) + record.slug;
    if (!key_allows_model(key, name)) continue;
    data.push_back({{"id", name},
                    {"object", "model"},
                    {"created", record.created_at_ms / 1000},
                    {"owned_by", "tollgate"}});
  }
  return json_response(http::status::ok, {{"object", "list"}, {"data", data}});
}

const std::vector<Field>& chat_fields() {
  static const std::vector<Field> kFields = {
      gateway_model_field(),
      {"messages", FieldType::kArray, true},
      {"max_tokens", FieldType::kInteger, false, 1, kGatewayMaxTokensMax, true},
      {"max_completion_tokens", FieldType::kInteger, false, 1, kGatewayMaxTokensMax, true},
      {"temperature", FieldType::kAny},
      {"stream", FieldType::kBoolean, false, 0, 0, true},
      {"stream_options", FieldType::kObject, false, 0, 0, true},
      {"tools", FieldType::kArray, false, 0, 0, true},
      {"tool_choice", FieldType::kAny},
      {"parallel_tool_calls", FieldType::kAny},
      {"response_format", FieldType::kObject, false, 0, 0, true},
      {"n", FieldType::kInteger, false, 1, 1, true, {}, "only 1"},
      {"metadata",
       FieldType::kObject,
       false,
       0,
       0,
       true,
       {},
       "for tollgate/<slug>: the feature's input variables"},
      {"user", FieldType::kAny},
      {"seed", FieldType::kAny},
      {"top_p", FieldType::kAny},
      {"stop", FieldType::kAny},
      {"presence_penalty", FieldType::kAny},
      {"frequency_penalty", FieldType::kAny},
      {"logit_bias", FieldType::kAny},
      {"store", FieldType::kAny},
      {"service_tier", FieldType::kAny},
      {"reasoning_effort", FieldType::kAny}};
  return kFields;
}

}  // namespace

void add_gateway_routes(Router& router, ApiContext& api) {
  RouteSpec chat{http::verb::post,
                 "/v1/chat/completions",
                 Who::kUserKey,
                 "OpenAI-compatible chat completions, metered against the key's cap (JSON or "
                 "text/event-stream)",
                 "ChatCompletion",
                 Body::kJson,
                 false,
                 false,
                 chat_fields()};
  chat.error_render = gateway_error;
  add_streaming_route(router, api, std::move(chat),
                      [&api](const Call& call, Reply reply, const OpenStream& open_stream) {
                        chat_completions(api, call, std::move(reply), open_stream);
                      });
  RouteSpec models{http::verb::get, "/v1/models", Who::kUserKey,
                   "The models this key may use, in OpenAI's list shape, with Tollgate's prices",
                   "ModelList"};
  models.error_render = gateway_error;
  add_route(router, api, std::move(models),
            [&api](const Call& call) { return list_models(api, call); });
  add_anthropic_routes(router, api);
  add_async_route(
      router, api,
      {http::verb::post,
       "/v1/quote",
       Who::kUserKeyOrSecretKey,
       "What a call would cost at worst and what the budget affords; runs nothing",
       "Quote",
       Body::kJson,
       false,
       false,
       {gateway_model_field(),
        {"messages", FieldType::kArray, true},
        {"max_tokens", FieldType::kInteger, false, 1, kGatewayMaxTokensMax, true},
        {"userId",
         FieldType::kString,
         false,
         1,
         kUserIdBytesMax,
         false,
         {},
         "with the secret key: whose budget"},
        {"tools", FieldType::kArray, false, 0, 0, true},
        {"response_format", FieldType::kObject, false, 0, 0, true},
        {"metadata", FieldType::kObject, false, 0, 0, true}}},
      [&api](const Call& call, const Reply& reply) {
        json body = call.body;
        body.erase("userId");
        auto parsed = parse_chat_request(body);
        if (!parsed) return reply(parsed.error());
        std::string project = call.user_key ? call.user_key->project.id : call.caller->project.id;
        std::string user = call.user_key ? call.user_key->key.user_id : call.text("userId");
        if (user.empty())
          return reply(invalid_field("'userId' is required with the secret key", "userId"));
        auto quote = gateway_quote(api, project, user,
                                   call.user_key ? &call.user_key->key : nullptr, parsed.value());
        if (!quote) return reply(quote.error());
        const GatewayQuote& q = quote.value();
        reply(json_response(
            http::status::ok,
            {{"object", "quote"},
             {"model", parsed.value().model},
             {"maxTokens", q.max_tokens},
             {"worstCaseMicros", q.worst_case_micros},
             {"inputMicros", q.input_micros},
             {"remainingMicros", q.remaining_micros ? ojson(*q.remaining_micros) : ojson()},
             {"affordableMaxTokens", q.affordable_max_tokens}}));
      });
}

}  // namespace tollgate::server
