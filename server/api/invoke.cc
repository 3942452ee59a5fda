// Running AI features: POST /v1/runtime/invoke and GET /v1/runtime/usage, with a runtime token.
//
// An invoke is reserve → call → settle:
//   1. the token is verified (signature with the key it names, expiry), then its scope (the
//      feature), the caller's origin (the feature's allowedOrigins), the feature's status, and
//      its template variables against the input;
//   2. the worst case is reserved across every budget level in one hold, together with the
//      invocation limits (the ledger counts them in the same transaction): 402 or 429 here means
//      nothing ran;
//   3. the prompt is rendered on the server and the provider called; a response format is
//      validated, with one repair retry;
//   4. the hold is settled at the actual cost and the rest released, or released whole when the
//      provider produced nothing.
// The feature's system prompt and template reach only the provider: no response, error or event
// built here contains them.
#include "server/api/invoke.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <mutex>

#include "server/ai/demo_provider.h"
#include "server/ai/http_provider.h"
#include "server/api/api.h"
#include "server/api/cors.h"
#include "server/api/route.h"
#include "server/api/input.h"
#include "server/api/render.h"
#include "server/auth/crypto.h"
#include "server/features/operation.h"
#include "server/http/error_response.h"
#include "server/log/logger.h"
#include "tollgate/calendar/calendar.h"
#include "tollgate/core/bytes.h"
#include "tollgate/core/json_read.h"
#include "tollgate/prompt/template.h"
#include "tollgate/structured/json_schema.h"
#include "tollgate/structured/partial_json.h"

namespace tollgate::server {
namespace {

using ojson = nlohmann::ordered_json;

inline constexpr size_t kInputVariablesMax = prompt::kTemplateVariablesMax;
inline constexpr size_t kInputValueBytesMax = size_t{64} << 10;
// Partial structured output is sent with every delta for the first kPartialEveryDeltaBytes of
// output, then at most once per kPartialEveryBytes new bytes, so re-sending the growing object
// stays a bounded share of a long stream.
inline constexpr size_t kPartialEveryDeltaBytes = 2048;
inline constexpr size_t kPartialEveryBytes = 256;
// Tool follow-ups: a conversation may go this many model calls deep, and carries at most this
// much state (sealed, in `continuation`) and tool output.
inline constexpr int64_t kToolStepsMax = 8;
inline constexpr size_t kContinuationBytesMax = size_t{512} << 10;
inline constexpr size_t kToolResultBytesMax = size_t{64} << 10;
// conversation_json() nests four levels; the margin is for nothing but safety.
inline constexpr size_t kContinuationDepthMax = 8;
// A structured answer nests at most as deep as the partial parser follows it.
inline constexpr size_t kAnswerDepthMax = structured::kJsonDepthMax;
// The usual size of a token in English text; estimates only, when a provider reported none.
inline constexpr int64_t kBytesPerEstimatedToken = 4;

Error unauthenticated(std::string message) {
  return fail(ErrorCode::kUnauthenticated, std::move(message), "token");
}

struct RuntimeCaller {
  token::RuntimeClaims claims;
  Project project;
};

// Verifies the runtime token (SigningKeys::verify: the key it names, the signature in constant
// time, the expiry), then finds its project. Every failure is a 401 that says what to do.
Result<RuntimeCaller> authenticate_runtime(ApiContext& api, const Request& request) {
  std::string_view presented = bearer_token(request);
  if (presented.empty()) {
    return unauthenticated("send a runtime token as 'Authorization: Bearer tg_rt_…'; mint one "
                           "with POST /v1/runtime/sessions");
  }
  if (!presented.starts_with(token::kRuntimeTokenPrefix)) {
    return unauthenticated("this endpoint takes a runtime token (tg_rt_…), not an API key");
  }
  auto claims = api.signing->verify(presented, api.now_ms());
  if (!claims) return claims.error();
  auto project = api.auth.project(claims.value().project_id);
  if (!project) {
    Error error = project.error();
    if (error.code == ErrorCode::kUnauthenticated) error.param = "token";  // revoked or gone
    return error;
  }
  return RuntimeCaller{std::move(claims.value()), std::move(project.value())};
}

std::string origin_of(const Request& request) {
  auto origin = request.find(http::field::origin);
  return origin == request.end() ? "" : std::string(origin->value());
}

// The start of the UTC day and month holding `now_ms`, for the daily and monthly limits
// (sdk-core's calendar; the clock is always inside its range, so clamping never changes it).
int64_t utc_day_start(int64_t now_ms) {
  return calendar::day_start_ms(std::clamp<int64_t>(now_ms, 0, calendar::kCalendarMsMax)).value();
}
int64_t utc_month_start(int64_t now_ms) {
  return calendar::month_start_ms(std::clamp<int64_t>(now_ms, 0, calendar::kCalendarMsMax))
      .value();
}

std::vector<InvocationLimit> limits_of(const Operation& op, int64_t now_ms) {
  std::vector<InvocationLimit> limits;
  if (op.per_user_daily_limit)
    limits.push_back({"perUserDailyLimit", true, utc_day_start(now_ms), *op.per_user_daily_limit});
  if (op.per_user_monthly_limit) {
    limits.push_back(
        {"perUserMonthlyLimit", true, utc_month_start(now_ms), *op.per_user_monthly_limit});
  }
  if (op.monthly_invocation_limit) {
    limits.push_back({"monthlyInvocationLimit", false, utc_month_start(now_ms),
                      *op.monthly_invocation_limit});
  }
  return limits;
}

// The template's variables from `input`: an object of strings (numbers and booleans are
// written as JSON). Extra keys are refused, so a typo is not silently dropped.
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

ojson render_tool_calls(const std::vector<ToolCall>& calls) {
  ojson out = ojson::array();
  for (const ToolCall& call : calls) {
    out.push_back({{"id", call.id}, {"name", call.name}, {"arguments", call.arguments}});
  }
  return out;
}

// ---- Tool follow-ups ---------------------------------------------------------------------
// An answer with tool calls carries `continuation`: the conversation so far without the system
// prompt, sealed (AES-256-GCM) and bound to the session and feature, so the client can hold it
// but neither read nor change it, nor use it in another session. The follow-up sends it back
// with one result per tool call.

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
  Error bad = fail(ErrorCode::kInvalidArgument, "'continuation' is not one this server made",
                   "continuation");
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

// The tool results of a follow-up: exactly one per call of the last answer, in any order.
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

// Where an invocation's answer goes: one JSON response, or a stream of server-sent events.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual void event(std::string_view name, const ojson& data) = 0;
  virtual void finish(http::status status, const ojson& body) = 0;  // the last word
  virtual void fail(const Error& error) = 0;
};

class JsonSink final : public Sink {
 public:
  explicit JsonSink(Respond respond) : respond_(std::move(respond)) {}
  void event(std::string_view, const ojson&) override {}
  void finish(http::status status, const ojson& body) override {
    respond_(json_response(status, body));
  }
  void fail(const Error& error) override { respond_(error_response(error)); }

 private:
  Respond respond_;
};

class EventSink final : public Sink {
 public:
  explicit EventSink(std::shared_ptr<ResponseStream> stream) : stream_(std::move(stream)) {}
  void event(std::string_view name, const ojson& data) override {
    std::string frame = "event: ";
    frame += name;
    frame += "\ndata: ";
    frame += data.dump(-1, ' ', false, ojson::error_handler_t::replace);
    frame += "\n\n";
    stream_->write(std::move(frame));
  }
  void finish(http::status, const ojson& body) override {
    event("done", body);
    stream_->finish();
  }
  void fail(const Error& error) override {
    event("error", error_body(error));
    stream_->finish();
  }

 private:
  std::shared_ptr<ResponseStream> stream_;
};

// One invocation in flight. Lives in shared_ptrs held by its own callbacks until it answers.
class InvokeCall : public std::enable_shared_from_this<InvokeCall> {
 public:
  InvokeCall(ApiContext& api, RuntimeCaller caller, Operation op)
      : api_(api), caller_(std::move(caller)), op_(std::move(op)) {}

  // Everything that can be refused before any money moves. The messages are built here.
  Result<void> prepare(const json& body) {
    request_.model = op_.model;
    if (!op_.system_prompt.empty())
      request_.messages.push_back({ChatMessage::Role::kSystem, op_.system_prompt, {}, {}});
    auto conversation = body.contains("continuation") ? follow_up(body) : first_turn(body);
    if (!conversation) return conversation;
    request_.temperature = op_.temperature;
    request_.max_tokens = op_.max_tokens;
    request_.response_format = op_.response_format;
    request_.tools = op_.tools;
    if (op_.response_format) {
      auto schema = structured::JsonSchema::compile(*op_.response_format, "responseFormat");
      if (!schema) return fail(ErrorCode::kInternal, "the feature's response format no longer compiles");
      schema_ = std::move(schema.value());
    }
    if (auto resolved = resolve_provider(); !resolved) return resolved;
    return worst_case();
  }

  Result<void> follow_up(const json& body) {
    if (body.contains("input")) {
      return fail(ErrorCode::kInvalidArgument,
                  "a follow-up sends 'continuation' and 'toolResults', not 'input'", "input");
    }
    auto field =
        json_read::need_string(body, "continuation", json_read::Path(), kContinuationBytesMax);
    if (!field) {
      return fail(ErrorCode::kInvalidArgument, "'continuation' must be the string a tool-calling "
                                               "answer returned", "continuation");
    }
    auto opened = api_.secrets->open(field.value(), continuation_binding(caller_.claims, op_.slug));
    if (!opened) {
      return fail(ErrorCode::kInvalidArgument,
                  "'continuation' does not belong to this session and feature, or was altered",
                  "continuation");
    }
    auto doc = json_read::parse(opened.value(), kContinuationDepthMax);
    if (!doc) {
      return fail(ErrorCode::kInvalidArgument, "'continuation' is not one this server made",
                  "continuation");
    }
    auto conversation = conversation_from(doc.value());
    if (!conversation) return conversation.error();
    auto& [messages, step] = conversation.value();
    if (messages.empty() || messages.back().tool_calls.empty()) {
      return fail(ErrorCode::kInvalidArgument, "'continuation' is not one this server made",
                  "continuation");
    }
    if (step >= kToolStepsMax) {
      return fail(ErrorCode::kInvalidArgument,
                  "this conversation reached the limit of " + std::to_string(kToolStepsMax) +
                      " tool steps",
                  "continuation");
    }
    auto results = tool_results(body, messages.back());
    if (!results) return results.error();
    step_ = step + 1;
    for (ChatMessage& message : messages) request_.messages.push_back(std::move(message));
    for (ChatMessage& result : results.value()) request_.messages.push_back(std::move(result));
    return {};
  }

  Result<void> first_turn(const json& body) {
    if (body.contains("toolResults")) {
      return fail(ErrorCode::kInvalidArgument, "'toolResults' needs the 'continuation' it answers",
                  "toolResults");
    }
    auto values = input_variables(body, op_);
    if (!values) return values.error();
    auto tmpl = prompt::Template::parse(op_.user_template);
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
    request_.messages.push_back({ChatMessage::Role::kUser, std::move(rendered.value()), {}, {}});
    return {};
  }

  // Reserves, then runs. The provider is called as soon as the ledger has decided the hold, while
  // its commit is still being made durable, so the two overlap; but nothing reaches the caller
  // (no header, no delta, no answer) until the hold is committed: until then the provider's
  // output waits behind the gate. A hold whose commit fails cancels the call, which then cost
  // the caller nothing and sent them nothing. `sink` is made once the hold is durable, so a
  // refused call answers with a plain JSON error even when it asked for a stream.
  using OpenSink = std::function<void(std::function<void(std::shared_ptr<Sink>)>)>;
  void start(OpenSink open_sink, Respond refuse) {
    hold_id_ = new_time_ordered_id("hold_", api_.now_ms());
    // The hold outlives the longest call (server/api/invoke.h); a hold whose outcome was lost
    // (a crash) is settled at its reserved amount when it expires.
    int64_t ttl_ms =
        invoke_hold_ttl_ms(api_.upstream_timeouts, schema_.has_value(), op_.fallback.has_value());
    ReserveCommand reserve{caller_.project.id, caller_.claims.end_user_id,
                           hold_id_,           reserved_credits_,
                           reserved_micros_,   ttl_ms,
                           op_.slug,           limits_of(op_, api_.now_ms())};
    auto self = shared_from_this();
    api_.ledger.submit(
        LedgerCommand{std::move(reserve), std::nullopt},
        [self, open_sink = std::move(open_sink), refuse](const Result<LedgerOutcome>& outcome) {
          self->on_reserved(outcome, open_sink, refuse);
        },
        [self](Result<LedgerOutcome> decided) {
          if (decided && !decided.value().error) self->call_model_once();
        });
  }

  // The hold is committed (or refused). Runs on the ledger's thread, so nothing may escape it:
  // after an exception the call is abandoned and its hold released.
  void on_reserved(const Result<LedgerOutcome>& outcome, const OpenSink& open_sink,
                   const Respond& refuse) noexcept {
    bool opening = false;
    try {
      if (!outcome || outcome.value().error) {
        abandon();
        return refuse(outcome ? refusal(outcome.value()) : error_response(outcome.error()));
      }
      if (api_.metrics != nullptr && !hold_counted_.exchange(true)) api_.metrics->hold_opened();
      call_model_once();  // when the decision came too late to start it
      opening = true;
      auto self = shared_from_this();
      open_sink([self](std::shared_ptr<Sink> sink) {
        self->sink_ = std::move(sink);
        self->open_gate();
      });
    } catch (...) {
      try {
        if (api_.log != nullptr) {
          api_.log->log("error", "invoke_exception",
                        {{"project", caller_.project.id},
                         {"operation", op_.slug},
                         {"hold", hold_id_},
                         {"error", "while opening the answer"}});
        }
        abandon();
        if (outcome && !outcome.value().error && !closing_) {
          closing_ = true;
          close_hold(api_.ledger,
                     LedgerCommand{ReleaseCommand{caller_.project.id, hold_id_}, std::nullopt},
                     api_.run_after, api_.log,
                     [self = shared_from_this()](const Result<LedgerOutcome>&) {
                       self->hold_closed();
                     });
        }
        if (!opening) refuse(error_response(internal_failure()));
      } catch (...) {
      }
    }
  }

  // The client went away mid-stream: stop the provider; what it produced is still charged.
  void cancel() {
    std::shared_ptr<ModelCall> call;
    {
      std::lock_guard lock(mutex_);
      cancelled_ = true;
      call = call_;
    }
    if (call) call->cancel();
  }

 private:
  Result<void> worst_case() {
    int64_t bytes = 0;
    for (const ChatMessage& message : request_.messages) bytes += static_cast<int64_t>(message.content.size());
    if (op_.response_format) bytes += static_cast<int64_t>(op_.response_format->dump().size());
    for (const ToolDefinition& tool : op_.tools) {
      bytes += static_cast<int64_t>(tool.name.size() + tool.description.size() + tool.parameters.dump().size());
    }
    prompt_bytes_ = bytes;
    auto price = api_.pricing->find(op_.provider, op_.model);
    if (!price && op_.price.kind == FeaturePricing::Kind::kTokens) {
      return fail(ErrorCode::kInternal, "the feature is priced by tokens but its model has no "
                                        "price in the pricing catalog");
    }
    price_ = price.value_or(pricing::ModelPrice{money::Micros(0), money::Micros(0)});
    // The reservation must cover whichever model answers: take the dearer price per token.
    pricing::ModelPrice worst = price_;
    if (op_.fallback) {
      auto fallback = api_.pricing->find(op_.fallback->provider, op_.fallback->model);
      if (!fallback && op_.price.kind == FeaturePricing::Kind::kTokens) {
        return fail(ErrorCode::kInternal, "the feature is priced by tokens but its fallback "
                                          "model has no price in the pricing catalog");
      }
      if (fallback) {
        worst.input_per_million = std::max(worst.input_per_million, fallback->input_per_million);
        worst.output_per_million = std::max(worst.output_per_million, fallback->output_per_million);
      }
    }
    // A response format may need one repair call, whose prompt adds the first answer.
    auto reserved = pricing::hold_worst_case(
        {worst, bytes, static_cast<int64_t>(request_.messages.size()), op_.max_tokens,
         schema_.has_value()});
    if (!reserved) return reserved.error();
    reserved_micros_ = reserved.value().value();
    auto credits = charge(money::Micros(reserved_micros_));
    if (!credits) return credits.error();
    reserved_credits_ = credits.value();
    return {};
  }

  Result<int64_t> charge(money::Micros cost) const {
    pricing::FeaturePrice price;
    price.kind = op_.price.kind == FeaturePricing::Kind::kFixed ? pricing::FeaturePrice::Kind::kFixed
                                                                : pricing::FeaturePrice::Kind::kTokens;
    price.fixed_credits = money::Credits(op_.price.credits);
    price.markup_basis_points = op_.price.markup_basis_points;
    price.rate = money::Rate{money::Credits(1), money::Micros(op_.price.micros_per_credit)};
    auto credits = pricing::charge(price, cost);
    if (!credits) return credits.error();
    return credits.value().value();
  }

  Response refusal(const LedgerOutcome& outcome) const {
    const Error& error = *outcome.error;
    if (error.code != ErrorCode::kInsufficientCredits) return error_response(error);
    return insufficient_credits_response(error, outcome.account ? outcome.account->balance : 0,
                                         reserved_credits_);
  }

  // A provider by name: the demo, or the project's stored credentials for it.
  Result<std::unique_ptr<ModelProvider>> provider_for(const std::string& name) {
    if (name == kDemoProvider) return std::unique_ptr<ModelProvider>(std::make_unique<DemoProvider>());
    const std::string& project = caller_.project.id;
    auto credentials = api_.runtime.provider(project, name, [&]() -> Result<std::optional<ProviderCredentials>> {
      auto record = api_.store.get_provider(project, name);
      if (!record) return record.error();
      if (!record.value()) return std::optional<ProviderCredentials>();
      auto key = api_.secrets->open(record.value()->sealed_key, provider_key_binding(project, name));
      if (!key) return fail(ErrorCode::kInternal, "the provider key cannot be opened");
      std::string base_url = record.value()->base_url;
      if (base_url.empty()) base_url = default_base_url(name);
      while (!base_url.empty() && base_url.back() == '/') base_url.pop_back();
      return std::optional<ProviderCredentials>(
          ProviderCredentials{name, std::move(key.value()), std::move(base_url)});
    });
    if (!credentials) return credentials.error();
    if (!credentials.value()) {
      return fail(ErrorCode::kUpstreamError,
                  "the feature's provider '" + name +
                      "' has no API key; the project owner must add it (PUT /v1/providers/" +
                      name + ")");
    }
    if (credentials.value()->base_url.empty()) {
      return fail(ErrorCode::kUpstreamError,
                  "the provider '" + name + "' needs a baseUrl; the project owner must set it");
    }
    return std::unique_ptr<ModelProvider>(std::make_unique<HttpProvider>(
        *api_.upstream, dialect_for(name), std::move(*credentials.value())));
  }

  // The feature's provider; an error here comes before anything is reserved. The fallback's
  // is resolved only if it is needed.
  Result<void> resolve_provider() {
    auto provider = provider_for(op_.provider);
    if (!provider) return provider.error();
    model_ = std::move(provider.value());
    model_name_ = op_.provider + "/" + op_.model;
    provider_name_ = op_.provider;
    return {};
  }

  // The primary failed before producing anything: switch to the fallback model, once.
  bool switch_to_fallback() {
    if (!op_.fallback || fallback_used_ || cancelled()) return false;
    fallback_used_ = true;
    auto provider = provider_for(op_.fallback->provider);
    if (!provider) return false;
    model_ = std::move(provider.value());
    request_.model = op_.fallback->model;
    model_name_ = op_.fallback->provider + "/" + op_.fallback->model;
    provider_name_ = op_.fallback->provider;
    if (auto price = api_.pricing->find(op_.fallback->provider, op_.fallback->model)) price_ = *price;
    if (sink_) sink_->event("fallback", {{"model", model_name_}});
    return true;
  }

  // ---- The gate: provider output waits here until the hold is durable ----------------------

  // Runs `step` now when the gate is open, else queues it in order (dropped if the hold failed).
  void when_durable(std::function<void()> step) {
    {
      std::lock_guard lock(gate_mutex_);
      if (abandoned_) return;
      if (!gate_open_) {
        gated_.push_back(std::move(step));
        return;
      }
    }
    step();
  }

  // The hold is durable and the sink exists: replays what waited, in order, then lets later
  // steps run directly. Steps queued meanwhile by the provider's thread are replayed too.
  void open_gate() {
    while (true) {
      std::vector<std::function<void()>> waiting;
      {
        std::lock_guard lock(gate_mutex_);
        if (gated_.empty()) {
          gate_open_ = true;
          return;
        }
        waiting.swap(gated_);
      }
      for (auto& step : waiting) step();
    }
  }

  // The hold was not committed: the provider call stops and nothing it produced goes anywhere.
  void abandon() {
    {
      std::lock_guard lock(gate_mutex_);
      abandoned_ = true;
      gated_.clear();
    }
    cancel();
  }

  void call_model_once() {
    if (first_call_started_.exchange(true)) return;
    {
      std::lock_guard lock(gate_mutex_);
      if (abandoned_) return;
    }
    call_model();
  }

  void call_model() {
    ModelProvider* model = model_.get();
    ++attempts_;
    request_.stream = streaming_;
    partial_.emplace();
    partial_sent_at_ = 0;
    auto self = shared_from_this();
    auto ended = std::make_shared<std::atomic<bool>>(false);
    std::shared_ptr<ModelCall> call;
    if (streaming_) {
      attempt_started_ns_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                    std::chrono::steady_clock::now().time_since_epoch())
                                    .count());
    }
    try {
      call = model->start(
          request_,
          [self](const ModelDelta& delta) {
            self->time_first_delta();
            self->when_durable([self, delta] {
              self->guarded([&] { self->on_delta(delta); }, /*call_running=*/true);
            });
          },
          [self, ended](ModelResult result) {
            if (ended->exchange(true)) return;  // ended already, below
            auto shared = std::make_shared<ModelResult>(std::move(result));
            self->when_durable([self, shared] {
              self->guarded([&] { self->on_model_done(std::move(*shared)); },
                            /*call_running=*/false);
            });
          });
    } catch (...) {
      // The provider could not start the call (or threw while answering at once, as the demo
      // does): unless it already ended, it ends here, having produced nothing.
      if (!ended->exchange(true)) {
        auto failed = std::make_shared<ModelResult>(ModelFailure{internal_failure(), {}, {}});
        when_durable([self, failed] {
          self->guarded([&] { self->on_model_done(std::move(*failed)); }, /*call_running=*/false);
        });
      }
      return;
    }
    std::lock_guard lock(mutex_);
    call_ = std::move(call);
    if (cancelled_ && call_) call_->cancel();
  }

  void on_delta(const ModelDelta& delta) {
    if (broken_) return;  // the call is being stopped
    if (delta.tool_index >= 0) {
      ojson data{{"index", delta.tool_index}};
      if (!delta.tool_id.empty()) data["id"] = delta.tool_id;
      if (!delta.tool_name.empty()) data["name"] = delta.tool_name;
      data["argumentsDelta"] = delta.tool_arguments;
      sink_->event("tool_call", data);
      return;
    }
    sink_->event("delta", {{"text", delta.text}});
    if (!schema_ || !partial_ || partial_failed_) return;
    if (!partial_->feed(delta.text)) {
      partial_failed_ = true;  // not JSON (yet): the final check decides, with a repair
      return;
    }
    if (partial_->bytes() <= kPartialEveryDeltaBytes ||
        partial_->bytes() - partial_sent_at_ >= kPartialEveryBytes) {
      partial_sent_at_ = partial_->bytes();
      sink_->event("partial", {{"parsed", ojson(partial_->value())}});
    }
  }

  // The owner's record of a failed provider call, with what the provider said: the caller's
  // error names the failure but never carries the provider's text.
  void log_failure(const ModelFailure& failure) {
    if (api_.log == nullptr || cancelled()) return;  // a caller who left is not a failure
    api_.log->warn("provider_call_failed", {{"project", caller_.project.id},
                                            {"operation", op_.slug},
                                            {"model", model_name_},
                                            {"attempt", attempts_},
                                            {"code", error_code_name(failure.error.code)},
                                            {"error", failure.error.message},
                                            {"provider", failure.provider_detail}});
  }

  void on_model_done(ModelResult result) {
    if (closing_) return;  // closed already, after an exception
    if (broken_) result = ModelFailure{internal_failure(), produced_by(std::move(result)), {}};
    count_call(result);
    if (auto* failure = std::get_if<ModelFailure>(&result)) {
      log_failure(*failure);
      if (!failure->produced && !charged_) {
        if (!broken_ && switch_to_fallback()) return call_model();
        return release(failure->error);
      }
      ModelAnswer produced = failure->produced ? std::move(*failure->produced) : ModelAnswer{};
      produced.complete = false;
      if (!produced.usage) produced.usage = estimated_usage(produced);
      add_usage(produced);
      return settle(std::move(produced), failure->error);
    }
    ModelAnswer answer = std::move(std::get<ModelAnswer>(result));
    add_usage(answer);
    if (!schema_ || !answer.tool_calls.empty()) return settle(std::move(answer), std::nullopt);
    // The model's text is as untrusted as the provider's envelope: deep nesting is refused
    // before anything recurses over it.
    auto parsed = json_read::parse(answer.text, kAnswerDepthMax);
    std::string problem;
    if (!parsed) {
      problem = parsed.error().code == ErrorCode::kJsonSyntax
                    ? "the answer is not JSON"
                    : "the answer nests deeper than " + std::to_string(kAnswerDepthMax) + " levels";
    } else if (auto violations = schema_->validate(parsed.value()); !violations.empty()) {
      problem = structured::describe(violations);
    } else {
      parsed_ = std::move(parsed.value());
      return settle(std::move(answer), std::nullopt);
    }
    if (attempts_ == 1 && !cancelled()) {
      sink_->event("repair", {{"reason", "the answer did not match the response format; "
                                         "asking the model once more"}});
      request_.messages.push_back({ChatMessage::Role::kAssistant, answer.text, {}, {}});
      request_.messages.push_back(
          {ChatMessage::Role::kUser,
           "Your answer does not match the required JSON Schema: " + problem +
               "\nAnswer again with only a JSON value that matches it.",
           {},
           {}});
      return call_model();
    }
    settle(std::move(answer),
           fail(ErrorCode::kUpstreamError,
                "the model's answer did not match the feature's response format, also after "
                "one repair: " + problem));
  }

  // A stream that broke off (or whose client left) before the provider reported usage is
  // charged for what it produced, estimated at kBytesPerEstimatedToken bytes a token for the
  // prompt and the output so far (settle() caps it at the reservation).
  pricing::Usage estimated_usage(const ModelAnswer& produced) const {
    int64_t output_bytes = static_cast<int64_t>(produced.text.size());
    for (const ToolCall& call : produced.tool_calls)
      output_bytes += static_cast<int64_t>(call.name.size() + call.arguments.size());
    auto tokens = [](int64_t bytes) {
      return (bytes + kBytesPerEstimatedToken - 1) / kBytesPerEstimatedToken;
    };
    return {tokens(prompt_bytes_) + static_cast<int64_t>(request_.messages.size()) *
                                        pricing::kMessageOverheadTokens,
            tokens(output_bytes)};
  }

  void add_usage(const ModelAnswer& answer) {
    charged_ = true;
    if (answer.usage) {
      used_.input_tokens += answer.usage->input_tokens;
      used_.output_tokens += answer.usage->output_tokens;
    } else {
      usage_missing_ = true;
    }
  }

  bool cancelled() {
    std::lock_guard lock(mutex_);
    return cancelled_;
  }

  // Nothing was produced: the hold goes back whole (retried if the store fails; see
  // server/ledger/hold_close.h). The caller gets `error` either way.
  void release(const Error& error) {
    auto self = shared_from_this();
    closing_ = true;
    close_hold(api_.ledger,
               LedgerCommand{ReleaseCommand{caller_.project.id, hold_id_}, std::nullopt},
               api_.run_after, api_.log, [self, error](const Result<LedgerOutcome>&) {
                 self->hold_closed();
                 self->guarded([&] { self->answer_error(error); }, /*call_running=*/false);
               });
  }

  // Charges what was used: the provider's token counts (or the whole reservation when it
  // reported none), at most the reservation. A fixed price is charged when an answer was
  // delivered, including a cut one; an answer that failed its response format costs its
  // provider spend only (docs/features.md, "What a call costs").
  void settle(ModelAnswer answer, std::optional<Error> error) {
    int64_t micros = reserved_micros_;
    if (!usage_missing_) {
      auto cost = pricing::cost(price_, used_);
      micros = cost ? std::min(cost.value().value(), reserved_micros_) : reserved_micros_;
    }
    bool failed_format = error && answer.complete;
    int64_t credits = reserved_credits_;
    if (failed_format && op_.price.kind == FeaturePricing::Kind::kFixed) {
      credits = 0;
    } else if (!usage_missing_ || op_.price.kind == FeaturePricing::Kind::kFixed) {
      auto charged = charge(money::Micros(micros));
      credits = charged ? std::min(charged.value(), reserved_credits_) : reserved_credits_;
    }
    SettleCommand settle{caller_.project.id, hold_id_, credits, micros, used_.input_tokens,
                         used_.output_tokens};
    if (api_.metrics != nullptr) {
      api_.metrics->provider_usage(provider_name_, used_.input_tokens, used_.output_tokens,
                                   micros);
    }
    auto self = shared_from_this();
    closing_ = true;
    close_hold(
        api_.ledger, LedgerCommand{settle, std::nullopt}, api_.run_after, api_.log,
        [self, answer = std::move(answer), error, credits,
         micros](const Result<LedgerOutcome>& outcome) {
          self->hold_closed();
          self->guarded([&] { self->answer_settled(outcome, answer, error, credits, micros); },
                        /*call_running=*/false);
        });
  }

  void answer_settled(const Result<LedgerOutcome>& outcome, const ModelAnswer& answer,
                      const std::optional<Error>& error, int64_t credits, int64_t micros) {
    if (error) return answer_error(*error);
    if (!outcome || outcome.value().error) {
      return answer_error(outcome ? *outcome.value().error : outcome.error());
    }
    int64_t remaining = outcome.value().account ? outcome.value().account->balance : 0;
    ojson body = render(answer, credits, micros, remaining);
    if (answered_.exchange(true)) return;
    sink_->finish(http::status::ok, body);
  }

  // The hold's settle or release is done (or given up after its retries).
  void hold_closed() {
    if (api_.metrics != nullptr && hold_counted_.exchange(false)) api_.metrics->hold_closed();
  }

  // One provider attempt ended: counted by how (a caller who left is "cancelled").
  void count_call(const ModelResult& result) {
    if (api_.metrics == nullptr) return;
    const auto* failure = std::get_if<ModelFailure>(&result);
    std::string_view outcome = failure == nullptr ? "ok"
                               : cancelled()     ? "cancelled"
                                                 : error_code_name(failure->error.code);
    api_.metrics->provider_call(provider_name_, outcome);
  }

  // The current attempt's first delta: its time to first token, once per attempt.
  void time_first_delta() {
    int64_t started = attempt_started_ns_.exchange(0);
    if (started == 0 || api_.metrics == nullptr) return;
    int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count();
    api_.metrics->time_to_first_token(provider_name_, (now - started) / 1000);
  }

  // The caller's last word, at most once.
  void answer_error(const Error& error) {
    if (sink_ == nullptr || answered_.exchange(true)) return;
    sink_->fail(error);
  }

  // ---- Exceptions: no read here throws, but a bug must not end the process ----------------

  // Runs a step that handles provider output or answers the caller. An exception must not reach
  // the thread running it (the upstream client's or the ledger writer's: either would end the
  // process). While the provider call runs (`call_running`), it is stopped and its end closes
  // the hold as a failure, charging what was produced; after it, the hold is closed here, unless
  // that is under way already, and the caller gets a 500.
  template <typename Step>
  void guarded(Step step, bool call_running) noexcept {
    std::string what;
    try {
      step();
      return;
    } catch (...) {
      what = exception_text(std::current_exception());
    }
    try {
      if (api_.log != nullptr) {
        api_.log->log("error", "invoke_exception",
                      {{"project", caller_.project.id},
                       {"operation", op_.slug},
                       {"hold", hold_id_},
                       {"error", what}});
      }
      if (call_running && !broken_) {
        broken_ = true;
        return cancel();
      }
      cancel();  // a repair or fallback call may have started before the throw
      if (closing_) return answer_error(internal_failure());
      if (!charged_) return release(internal_failure());
      ModelAnswer produced;
      produced.complete = false;
      settle(std::move(produced), internal_failure());
    } catch (...) {
      // Failing again while closing: the hold expires and is charged as reserved (logged above).
    }
  }

  static Error internal_failure() {
    return fail(ErrorCode::kInternal,
                "the call failed inside Tollgate; it is charged only for "
                "what the model produced");
  }

  // What a call whose step threw still produced, to be charged.
  static std::optional<ModelAnswer> produced_by(ModelResult result) {
    if (auto* answer = std::get_if<ModelAnswer>(&result)) {
      answer->complete = false;
      return std::move(*answer);
    }
    return std::move(std::get<ModelFailure>(result).produced);
  }

  ojson render(const ModelAnswer& answer, int64_t credits, int64_t micros,
               int64_t remaining) const {
    ojson out{{"id", hold_id_},
              {"object", "invocation"},
              {"operation", op_.slug},
              {"model", model_name_},
              {"output", answer.text}};
    if (parsed_) out["parsed"] = ojson(*parsed_);
    if (!answer.tool_calls.empty()) {
      out["toolCalls"] = render_tool_calls(answer.tool_calls);
      std::vector<ChatMessage> conversation = request_.messages;
      conversation.push_back({ChatMessage::Role::kAssistant, answer.text, answer.tool_calls, {}});
      auto sealed = api_.secrets->seal(conversation_json(conversation, step_)
                                           .dump(-1, ' ', false, json::error_handler_t::replace),
                                       continuation_binding(caller_.claims, op_.slug));
      if (sealed && sealed.value().size() <= kContinuationBytesMax) {
        out["continuation"] = sealed.value();
        out["toolSteps"] = {{"used", step_}, {"max", kToolStepsMax}};
      }
    }
    out["finishReason"] = answer.finish_reason;
    out["usage"] = {{"inputTokens", used_.input_tokens},
                    {"outputTokens", used_.output_tokens},
                    {"reported", !usage_missing_}};
    out["cost"] = {{"credits", credits}, {"micros", micros}};
    out["remaining"] = remaining;
    if (op_.provider == kDemoProvider) out["demo"] = true;
    return out;
  }

 public:
  bool streaming_ = false;

 private:
  ApiContext& api_;
  RuntimeCaller caller_;
  Operation op_;
  ModelRequest request_;
  std::optional<structured::JsonSchema> schema_;
  pricing::ModelPrice price_{money::Micros(0), money::Micros(0)};
  int64_t reserved_credits_ = 0;
  int64_t reserved_micros_ = 0;
  std::string hold_id_;
  std::shared_ptr<Sink> sink_;
  std::unique_ptr<ModelProvider> model_;
  std::string model_name_;     // "provider/model" of the model answering
  std::string provider_name_;  // its provider, as metrics label it
  bool fallback_used_ = false;
  bool charged_ = false;       // an attempt produced something, so the call is charged
  int attempts_ = 0;
  int64_t step_ = 1;  // model calls in this conversation, this one included
  int64_t prompt_bytes_ = 0;
  pricing::Usage used_;
  bool usage_missing_ = false;
  std::optional<structured::PartialJsonParser> partial_;
  size_t partial_sent_at_ = 0;
  bool partial_failed_ = false;
  std::optional<json> parsed_;
  std::mutex mutex_;
  bool cancelled_ = false;
  // Steps of one invoke run one at a time (the gate orders them), so these need no lock.
  bool broken_ = false;   // a step threw while the provider call ran: it is being stopped
  bool closing_ = false;  // the hold's settle or release is submitted
  std::atomic<bool> answered_{false};
  std::atomic<bool> hold_counted_{false};  // counted in metrics' open holds, not yet closed
  // The current attempt's start (steady clock, ns) until its first delta is timed; 0 after.
  std::atomic<int64_t> attempt_started_ns_{0};
  std::shared_ptr<ModelCall> call_;
  std::atomic<bool> first_call_started_{false};
  std::mutex gate_mutex_;
  bool gate_open_ = false;   // the hold is durable and sink_ is set
  bool abandoned_ = false;   // the hold was refused or its commit failed
  std::vector<std::function<void()>> gated_;
};

// The feature a runtime caller may run here, or why not.
Result<Operation> runnable_operation(ApiContext& api, const RuntimeCaller& caller,
                                     const std::string& slug, const std::string& origin) {
  if (auto scoped = token::check_scope(caller.claims, slug); !scoped) {
    return fail(ErrorCode::kTokenScopeDenied,
                "this runtime token does not grant the feature '" + slug + "'", "operation");
  }
  auto cached = api.runtime.feature(caller.project.id, slug, [&]() -> Result<std::optional<Operation>> {
    auto record = api.store.get_operation(caller.project.id, slug);
    if (!record) return record.error();
    if (!record.value()) return std::optional<Operation>();
    auto parsed = operation_from_record(*record.value());
    if (!parsed) return parsed.error();
    return std::optional<Operation>(std::move(parsed.value()));
  });
  if (!cached) return cached.error();
  if (!cached.value()) {
    return fail(ErrorCode::kNotFound, "no feature with slug '" + slug + "'", "operation");
  }
  Result<Operation> op(std::move(*cached.value()));
  if (!origin.empty() && !op.value().allowed_origins.empty() &&
      std::find(op.value().allowed_origins.begin(), op.value().allowed_origins.end(), origin) ==
          op.value().allowed_origins.end()) {
    return fail(ErrorCode::kForbidden,
                "the feature '" + slug + "' may not be used from the origin " + origin, "origin");
  }
  if (!op.value().active) {
    return fail(ErrorCode::kForbidden, "the feature '" + slug + "' is paused", "operation");
  }
  return op;
}

}  // namespace

int64_t invoke_model_calls_max(bool repair, bool fallback) {
  return 1 + (repair ? 1 : 0) + (fallback ? 1 : 0);
}

std::chrono::milliseconds invoke_worst_case(const UpstreamTimeouts& timeouts, int64_t model_calls) {
  using std::chrono::milliseconds;
  milliseconds backoffs = kRetryBackoffCap * (kUpstreamAttemptsMax - 1);
  milliseconds one_call = kStoreReadBound + timeouts.total + backoffs;
  milliseconds close = kLedgerAnswerBound * kHoldCloseAttemptsMax + hold_close_backoff_total();
  return kLedgerAnswerBound + one_call * model_calls + close;
}

int64_t invoke_hold_ttl_ms(const UpstreamTimeouts& timeouts, bool repair, bool fallback) {
  auto worst = invoke_worst_case(timeouts, invoke_model_calls_max(repair, fallback));
  return (worst + kInvokeHoldTtlMargin).count();
}

void add_invoke_routes(Router& router, ApiContext& api) {
  add_browser_streaming(
      router, api, http::verb::post, "/v1/runtime/invoke",
      [&api](const Request& request, const PathParams&, Respond respond, OpenStream open_stream,
             BrowserAccess& browser) {
        auto caller = authenticate_runtime(api, request);
        if (!caller) return respond(error_response(caller.error()));
        if (auto admitted = browser.admit_runtime(caller.value().project); !admitted)
          return respond(error_response(admitted.error()));
        auto body = json_object_body(request);
        if (!body) return respond(error_response(body.error()));
        if (auto known = only_fields(body.value(), {"operation", "input", "stream", "continuation", "toolResults"}); !known)
          return respond(error_response(known.error()));
        auto slug = string_field(body.value(), "operation", kSlugBytesMax);
        if (!slug) return respond(error_response(slug.error()));
        auto stream = bool_field(body.value(), "stream", false);
        if (!stream) return respond(error_response(stream.error()));
        auto op = runnable_operation(api, caller.value(), slug.value(), origin_of(request));
        if (!op) return respond(error_response(op.error()));
        auto invocation = std::make_shared<InvokeCall>(api, std::move(caller.value()),
                                                       std::move(op.value()));
        if (auto prepared = invocation->prepare(body.value()); !prepared)
          return respond(error_response(prepared.error()));
        invocation->streaming_ = stream.value() && open_stream;
        InvokeCall::OpenSink open_sink;
        if (invocation->streaming_) {
          open_sink = [open_stream, invocation](std::function<void(std::shared_ptr<Sink>)> ready) {
            Response head{http::status::ok, 11};
            head.set(http::field::content_type, "text/event-stream");
            head.set(http::field::cache_control, "no-cache");
            open_stream(std::move(head), [invocation, ready](std::shared_ptr<ResponseStream> s) {
              std::weak_ptr<InvokeCall> weak = invocation;
              s->on_disconnect([weak] {
                if (auto live = weak.lock()) live->cancel();
              });
              ready(std::make_shared<EventSink>(std::move(s)));
            });
          };
        } else {
          open_sink = [respond](std::function<void(std::shared_ptr<Sink>)> ready) {
            ready(std::make_shared<JsonSink>(respond));
          };
        }
        invocation->start(std::move(open_sink), respond);
      });

  add_browser_route(router, api, http::verb::get, "/v1/runtime/usage",
                    [&api](const Request& request, const PathParams&, BrowserAccess& browser) {
    auto caller = authenticate_runtime(api, request);
    if (!caller) return error_response(caller.error());
    if (auto admitted = browser.admit_runtime(caller.value().project); !admitted)
      return error_response(admitted.error());
    const RuntimeCaller& c = caller.value();
    int64_t now = api.now_ms();
    InvocationQuery query{c.claims.end_user_id, utc_month_start(now), now + 1,
                          InvocationGroup::kOperation, static_cast<int64_t>(token::kOperationsMax)};
    auto totals = api.store.invocation_totals(c.project.id, query);
    if (!totals) return error_response(totals.error());
    auto account = api.store.get_account(c.project.id, c.claims.end_user_id, now);
    if (!account) return error_response(account.error());
    InvocationTotal all;
    ojson features = ojson::array();
    for (const InvocationTotal& total : totals.value()) {
      all.calls += total.calls;
      all.input_tokens += total.input_tokens;
      all.output_tokens += total.output_tokens;
      all.credits += total.credits;
      all.micros += total.micros;
      features.push_back(render_invocations(total, "operation"));
    }
    ojson out{{"object", "runtime_usage"},
              {"endUserId", c.claims.end_user_id},
              {"periodStartMs", utc_month_start(now)},
              {"total", render_invocations(all, "")},
              {"features", features},
              {"remaining", account.value().balance}};
    return json_response(http::status::ok, out);
  });
  describe_route(router, {http::verb::post, "/v1/runtime/invoke", Who::kRuntimeToken,
                          "Runs a feature: reserve, call the model, settle (JSON or text/event-stream)",
                          Body::kJson, /*browser=*/true, false,
                          {{"operation", FieldType::kString, true, 0, kSlugBytesMax},
                           {"input", FieldType::kObject},
                           {"stream", FieldType::kBoolean},
                           {"continuation", FieldType::kString},
                           {"toolResults", FieldType::kArray}}});
  describe_route(router, {http::verb::get, "/v1/runtime/usage", Who::kRuntimeToken,
                          "The token's end user's feature usage", Body::kNone, /*browser=*/true});
}

}  // namespace tollgate::server
