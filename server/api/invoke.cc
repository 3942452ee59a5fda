// Running AI features: POST /v1/runtime/invoke and GET /v1/runtime/usage, with a runtime token.
//
// An invoke is reserve → call → settle, and this file holds only its routes:
//   1. the pipeline (server/api/route.h) verifies the token and admits the browser; here the
//      token's scope, the caller's origin and the feature's status are checked
//      (server/api/runtime_auth.h), and the prompt is built from the input or the continuation
//      (server/api/invoke_input.h);
//   2. the metered call (server/calls/metered_call.h) reserves the worst case across every
//      budget level in one hold with the invocation limits: 402 or 429 here means nothing ran;
//      then it calls the provider, validates a response format with one repair, and settles;
//   3. its output reaches the caller through a sink (server/api/invoke_sink.h): one JSON body,
//      or server-sent events.
// The feature's system prompt and template reach only the provider: no response, error or event
// built here contains them.
#include <algorithm>
#include <memory>

#include "server/ai/demo_provider.h"
#include "server/api/api.h"
#include "server/api/feature_call.h"
#include "server/api/invoke_input.h"
#include "server/api/invoke_sink.h"
#include "server/api/model_access.h"
#include "server/api/render.h"
#include "server/api/route.h"
#include "server/api/runtime_auth.h"
#include "server/calls/metered_call.h"
#include "server/features/operation.h"
#include "server/http/error_response.h"
#include "tollgate/calendar/calendar.h"

namespace tollgate::server {
namespace {

using ojson = nlohmann::ordered_json;

ojson render_tool_calls(const std::vector<ToolCall>& calls) {
  ojson out = ojson::array();
  for (const ToolCall& call : calls)
    out.push_back({{"id", call.id}, {"name", call.name}, {"arguments", call.arguments}});
  return out;
}

// What one invocation answers: the call's output as sink events, and its outcome as the body.
class InvokeListener final : public CallListener {
 public:
  InvokeListener(std::shared_ptr<Sink> sink, const SecretBox& secrets, token::RuntimeClaims claims,
                 std::string slug, bool demo, int64_t step)
      : sink_(std::move(sink)),
        secrets_(secrets),
        claims_(std::move(claims)),
        slug_(std::move(slug)),
        demo_(demo),
        step_(step) {}

  void text(std::string_view delta) override { sink_->event("delta", {{"text", delta}}); }

  void tool_call(const ModelDelta& delta) override {
    ojson data{{"index", delta.tool_index}};
    if (!delta.tool_id.empty()) data["id"] = delta.tool_id;
    if (!delta.tool_name.empty()) data["name"] = delta.tool_name;
    data["argumentsDelta"] = delta.tool_arguments;
    sink_->event("tool_call", data);
  }

  void partial(const nlohmann::json& parsed) override {
    sink_->event("partial", {{"parsed", ojson(parsed)}});
  }

  void repairing(std::string_view reason) override { sink_->event("repair", {{"reason", reason}}); }

  void fell_back(std::string_view model_name) override {
    sink_->event("fallback", {{"model", model_name}});
  }

  void settled(const CallOutcome& outcome) override {
    const ModelAnswer& answer = outcome.answer;
    ojson out{{"id", outcome.hold_id},
              {"object", "invocation"},
              {"operation", slug_},
              {"model", outcome.model_name},
              {"output", answer.text}};
    if (outcome.parsed) out["parsed"] = ojson(*outcome.parsed);
    if (!answer.tool_calls.empty()) {
      out["toolCalls"] = render_tool_calls(answer.tool_calls);
      std::vector<ChatMessage> conversation = outcome.messages;
      conversation.push_back({ChatMessage::Role::kAssistant, answer.text, answer.tool_calls, {}});
      if (auto sealed = seal_continuation(secrets_, claims_, slug_, conversation, step_)) {
        out["continuation"] = std::move(*sealed);
        out["toolSteps"] = {{"used", step_}, {"max", kToolStepsMax}};
      }
    }
    out["finishReason"] = answer.finish_reason;
    out["usage"] = {{"inputTokens", outcome.usage.input_tokens},
                    {"outputTokens", outcome.usage.output_tokens},
                    {"reported", outcome.usage_reported}};
    out["cost"] = {{"credits", outcome.credits}, {"micros", outcome.micros}};
    out["remaining"] = outcome.remaining;
    if (demo_) out["demo"] = true;
    sink_->finish(http::status::ok, out);
  }

  void failed(const Error& error) override { sink_->fail(error); }

 private:
  std::shared_ptr<Sink> sink_;
  const SecretBox& secrets_;
  token::RuntimeClaims claims_;
  std::string slug_;
  bool demo_;
  int64_t step_;
};

Response refusal_response(const Refusal& refusal) {
  if (refusal.error.code != ErrorCode::kInsufficientCredits) return error_response(refusal.error);
  return insufficient_credits_response(refusal.error, refusal.balance, refusal.credits);
}

// The metered call for a feature and a conversation; refused before anything is reserved when
// the feature can no longer run (its provider has no key, its format no longer compiles).
Result<std::shared_ptr<MeteredCall>> feature_call(ApiContext& api, const RuntimeCaller& caller,
                                                  const Operation& op, Conversation conversation,
                                                  bool stream) {
  auto plan = feature_plan(api, caller.project.id, caller.claims.end_user_id, op,
                           std::move(conversation.messages), stream);
  if (!plan) return plan.error();
  return prepare_metered_call(api, std::move(plan).value());
}

void invoke(ApiContext& api, const Call& call, Reply reply, const OpenStream& open_stream) {
  const RuntimeCaller& caller = *call.runtime;
  std::string slug = call.text("operation");
  auto op = runnable_operation(api, caller, slug, origin_of(call.request));
  if (!op) return reply(op.error());
  auto conversation = conversation_for(call.body, op.value(), *api.secrets, caller.claims);
  if (!conversation) return reply(conversation.error());
  int64_t step = conversation.value().step;
  bool streaming = call.flag("stream") && open_stream;
  auto metered = feature_call(api, caller, op.value(), std::move(conversation.value()), streaming);
  if (!metered) return reply(metered.error());
  std::shared_ptr<MeteredCall> running = metered.value();
  auto make_listener = [&secrets = *api.secrets, claims = caller.claims, slug,
                        demo = op.value().provider == kDemoProvider,
                        step](std::shared_ptr<Sink> sink) {
    return std::make_shared<InvokeListener>(std::move(sink), secrets, claims, slug, demo, step);
  };
  // The listener is made once the hold is durable, so a refused call answers with a plain JSON
  // error even when it asked for a stream.
  MeteredCall::OpenListener open;
  if (streaming) {
    open = [open_stream, make_listener,
            weak = std::weak_ptr<MeteredCall>(running)](MeteredCall::Ready ready) {
      Response head{http::status::ok, 11};
      head.set(http::field::content_type, "text/event-stream");
      head.set(http::field::cache_control, "no-cache");
      open_stream(std::move(head), [make_listener, ready, weak](std::shared_ptr<ResponseStream> s) {
        s->on_disconnect([weak] {
          if (auto live = weak.lock()) live->cancel();
        });
        ready(make_listener(std::make_shared<EventSink>(std::move(s))));
      });
    };
  } else {
    open = [reply, make_listener](MeteredCall::Ready ready) {
      ready(
          make_listener(std::make_shared<JsonSink>([reply](Response r) { reply(std::move(r)); })));
    };
  }
  running->start(std::move(open),
                 [reply](const Refusal& refusal) { reply(refusal_response(refusal)); });
}

Result<Response> usage(ApiContext& api, const Call& call) {
  const RuntimeCaller& c = *call.runtime;
  int64_t now = api.now_ms();
  InvocationQuery query{c.claims.end_user_id, utc_month_start(now), now + 1,
                        InvocationGroup::kOperation, static_cast<int64_t>(token::kOperationsMax)};
  auto totals = api.store.invocation_totals(c.project.id, query);
  if (!totals) return totals.error();
  auto account = api.store.get_account(c.project.id, c.claims.end_user_id, now);
  if (!account) return account.error();
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
}

}  // namespace

void add_invoke_routes(Router& router, ApiContext& api) {
  add_streaming_route(
      router, api,
      {http::verb::post,
       "/v1/runtime/invoke",
       Who::kRuntimeToken,
       "Runs a feature: reserve, call the model, settle (JSON or text/event-stream)",
       "Invocation",
       Body::kJson,
       /*browser=*/true,
       /*idempotent=*/false,
       {{"operation", FieldType::kString, true, 0, kSlugBytesMax},
        {"input", FieldType::kObject, false, 0, 0, /*nullable=*/true},
        {"stream", FieldType::kBoolean},
        {"continuation", FieldType::kString, false, 0, kContinuationBytesMax},
        {"toolResults", FieldType::kArray}}},
      [&api](const Call& call, Reply reply, const OpenStream& open_stream) {
        invoke(api, call, std::move(reply), open_stream);
      });
  add_route(router, api,
            {http::verb::get, "/v1/runtime/usage", Who::kRuntimeToken,
             "The token's end user's feature usage this month", "RuntimeUsage", Body::kNone,
             /*browser=*/true},
            [&api](const Call& call) { return usage(api, call); });
}

}  // namespace tollgate::server
