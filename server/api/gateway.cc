#include "server/api/gateway.h"

#include <algorithm>

#include "server/api/feature_call.h"
#include "server/api/invoke_input.h"
#include "server/api/runtime_auth.h"
#include "server/api/user_keys.h"
#include "server/http/error_response.h"

namespace tollgate::server {
namespace {

// The least of two optional limits (none: no limit).
std::optional<int64_t> least(std::optional<int64_t> a, std::optional<int64_t> b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

// What the key's cap and the end user's spend cap leave this period.
Result<std::optional<int64_t>> remaining_micros(ApiContext& api, const std::string& project_id,
                                                const std::string& user_id, const UserKey* key) {
  std::optional<int64_t> left;
  if (key != nullptr) {
    auto fresh = api.store.get_user_key(project_id, key->id);
    if (!fresh) return fresh.error();
    UserKey now = fresh.value() ? *fresh.value() : *key;
    now.spend = key_spend_now(now, api.now_ms());
    left = key_remaining_micros(now);
  }
  auto account = api.store.get_account(project_id, user_id, api.now_ms());
  if (!account) return account.error();
  const Account& a = account.value();
  if (a.spend_cap_micros) {
    Int128 cap = Int128(*a.spend_cap_micros) - a.period_spent_micros - a.held_micros;
    left = least(left, cap < 0 ? 0 : static_cast<int64_t>(std::min<Int128>(cap, INT64_MAX)));
  }
  return left;
}

Result<int64_t> worst_case(const pricing::ModelPrice& price, const ModelRequest& request,
                           int64_t max_tokens, bool repair) {
  auto worst =
      pricing::hold_worst_case({price, prompt_bytes(request),
                                static_cast<int64_t>(request.messages.size()), max_tokens, repair});
  if (!worst) return worst.error();
  return worst.value().value();
}

// The most output tokens whose worst case fits in `budget` (0 when not even the prompt does):
// the worst case grows with the tokens, so a binary search finds it exactly.
int64_t affordable_tokens(const pricing::ModelPrice& price, const ModelRequest& request,
                          int64_t ceiling, bool repair, int64_t budget) {
  int64_t low = 0;
  int64_t high = ceiling;
  auto fits = [&](int64_t tokens) {
    auto cost = worst_case(price, request, tokens, repair);
    return cost && cost.value() <= budget;
  };
  if (!fits(0)) return 0;
  while (low < high) {
    int64_t mid = low + (high - low + 1) / 2;
    if (fits(mid)) {
      low = mid;
    } else {
      high = mid - 1;
    }
  }
  return low;
}

// The plan for a "provider/model" request: the catalogue prices it, the project's provider
// runs it, the key's cap counts it; no credits.
Result<MeteredCallPlan> model_plan(ApiContext& api, const std::string& project_id,
                                   const std::string& user_id, GatewayRequest& request) {
  size_t slash = request.model.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == request.model.size()) {
    return invalid_field(
        "'model' must be \"provider/model\" (such as \"openai/gpt-4o-mini\") or "
        "\"tollgate/<feature slug>\"",
        "model");
  }
  MeteredCallPlan plan;
  plan.project_id = project_id;
  plan.user_id = user_id;
  plan.label = "";
  plan.primary = {request.model.substr(0, slash), request.model.substr(slash + 1)};
  if (!api.pricing->find(plan.primary.provider, plan.primary.model)) {
    return invalid_field("the model '" + request.model.substr(0, 200) +
                             "' has no price in the pricing catalogue, and Tollgate does not "
                             "run unpriced models",
                         "model");
  }
  if (!request.max_tokens_given) {
    request.request.max_tokens =
        api.pricing->max_output_tokens(plan.primary.provider, plan.primary.model);
  }
  plan.request = std::move(request.request);
  plan.request.model = plan.primary.model;
  plan.price.kind = pricing::FeaturePrice::Kind::kFixed;
  plan.price.fixed_credits = money::Credits(0);
  plan.schema = std::move(request.schema);
  plan.stream = request.stream;
  return plan;
}

// The plan for "tollgate/<slug>": the feature's own prompt, model, price and limits, with the
// caller's messages after its prompt. The caller's own system messages are refused: the
// feature's system prompt is the one that holds.
Result<MeteredCallPlan> feature_model_plan(ApiContext& api, const std::string& project_id,
                                           const std::string& user_id,
                                           const GatewayRequest& request) {
  std::string slug = request.model.substr(kFeatureModelPrefix.size());
  auto op = project_feature(api, project_id, slug);
  if (!op) {
    Error error = op.error();
    if (error.code == ErrorCode::kNotFound) error.param = "model";
    return error;
  }
  std::vector<ChatMessage> messages;
  if (!op.value().user_template.empty() || !op.value().system_prompt.empty()) {
    auto prompt = conversation_for(nlohmann::json{{"input", request.metadata}}, op.value(),
                                   *api.secrets, token::RuntimeClaims{});
    if (!prompt) {
      Error error = prompt.error();
      if (error.param.starts_with("input")) error.param = "metadata" + error.param.substr(5);
      error.message += " (a feature's template variables come from 'metadata')";
      return error;
    }
    messages = std::move(prompt.value().messages);
    if (op.value().user_template.empty() && !messages.empty() &&
        messages.back().role == ChatMessage::Role::kUser && messages.back().content.empty()) {
      messages.pop_back();
    }
  }
  for (const ChatMessage& message : request.request.messages) {
    if (message.role == ChatMessage::Role::kSystem) {
      return invalid_field(
          "a feature's system prompt is its own; send user and assistant "
          "messages only",
          "messages");
    }
    messages.push_back(message);
  }
  auto plan =
      feature_plan(api, project_id, user_id, op.value(), std::move(messages), request.stream);
  if (!plan) return plan.error();
  if (request.max_tokens_given)
    plan.value().request.max_tokens =
        std::min(plan.value().request.max_tokens, request.request.max_tokens);
  return plan;
}

Result<MeteredCallPlan> plan_for(ApiContext& api, const std::string& project_id,
                                 const std::string& user_id, GatewayRequest request) {
  if (request.model.starts_with(kFeatureModelPrefix))
    return feature_model_plan(api, project_id, user_id, request);
  return model_plan(api, project_id, user_id, request);
}

// What `request` costs at worst (`worst`, with `price` per token) against what is left.
GatewayQuote quote_of(const ModelRequest& request, const pricing::ModelPrice& price, int64_t worst,
                      std::optional<int64_t> remaining, bool repair) {
  GatewayQuote quote;
  quote.worst_case_micros = worst;
  auto input = worst_case(price, request, 0, repair);
  quote.input_micros = input ? input.value() : 0;
  quote.remaining_micros = remaining;
  quote.max_tokens = request.max_tokens;
  quote.affordable_max_tokens =
      remaining ? affordable_tokens(price, request, request.max_tokens, repair, *remaining)
                : request.max_tokens;
  return quote;
}

Result<void> check_model_allowed(const UserKey& key, const std::string& model) {
  if (key_allows_model(key, model)) return {};
  return fail(ErrorCode::kForbidden,
              "this key may not use the model '" + model.substr(0, 200) + "'", "model");
}

Result<GatewayQuote> quote_plan(ApiContext& api, const MeteredCallPlan& plan, const UserKey* key) {
  auto hold = price_hold(*api.pricing, plan.price, plan.primary, plan.fallback, plan.request,
                         plan.schema.has_value());
  if (!hold) return hold.error();
  auto remaining = remaining_micros(api, plan.project_id, plan.user_id, key);
  if (!remaining) return remaining.error();
  return quote_of(plan.request, hold.value().price, hold.value().reserved_micros, remaining.value(),
                  plan.schema.has_value());
}

}  // namespace

Field gateway_model_field() {
  return {"model", FieldType::kString,
          true,    1,
          300,     false,
          {},      "\"provider/model\" or \"tollgate/<feature slug>\""};
}

std::string indexed_field(std::string_view list, size_t index) {
  std::string field(list);
  return field.append("[").append(std::to_string(index)).append("]");
}

std::string cannot_afford_message(const GatewayQuote& quote) {
  std::string message = "insufficient budget: this call may cost up to " +
                        money::format_usd(money::Micros(quote.worst_case_micros)) + " USD with " +
                        std::to_string(quote.max_tokens) + " output tokens, and " +
                        money::format_usd(money::Micros(quote.remaining_micros.value_or(0))) +
                        " USD is left; it can afford " +
                        std::to_string(quote.affordable_max_tokens) + " tokens";
  if (quote.affordable_max_tokens > 0) message += " (send max_tokens of at most that)";
  return message;
}

Result<std::shared_ptr<MeteredCall>> gateway_call(ApiContext& api, const UserKeyCaller& caller,
                                                  GatewayRequest request) {
  if (auto allowed = check_model_allowed(caller.key, request.model); !allowed)
    return allowed.error();
  auto plan = plan_for(api, caller.project.id, caller.key.user_id, std::move(request));
  if (!plan) return plan.error();
  plan.value().key =
      KeyBudget{caller.key.id, key_spend_now(caller.key, api.now_ms()).period_start_ms};
  // Without max_tokens the catalogue's maximum is reserved; the ledger decides whether the
  // budget pays for it, and a refusal says what it affords (run_gateway_call).
  return prepare_metered_call(api, std::move(plan).value());
}

void run_gateway_call(const std::shared_ptr<MeteredCall>& call, const OpenStream& open_stream,
                      const MakeListener& make, const Reply& reply) {
  MeteredCall::OpenListener open;
  std::weak_ptr<MeteredCall> weak = call;
  if (open_stream) {
    open = [open_stream, make, weak](MeteredCall::Ready ready) {
      Response head{http::status::ok, 11};
      head.set(http::field::content_type, "text/event-stream");
      head.set(http::field::cache_control, "no-cache");
      open_stream(std::move(head), [make, ready, weak](std::shared_ptr<ResponseStream> stream) {
        stream->on_disconnect([weak] {
          if (auto live = weak.lock()) live->cancel();
        });
        auto live = weak.lock();
        ready(make(std::move(stream), live ? live->hold_id() : std::string(),
                   live && live->validates_output()));
      });
    };
  } else {
    open = [make, weak](MeteredCall::Ready ready) {
      auto live = weak.lock();
      ready(make(nullptr, live ? live->hold_id() : std::string(), false));
    };
  }
  call->start(std::move(open), [reply, weak](const Refusal& refusal) {
    auto live = weak.lock();
    if (refusal.error.code != ErrorCode::kInsufficientCredits || !refusal.remaining_micros ||
        !live) {
      return reply(refusal.error);
    }
    // Refused at a cap: say how many output tokens it still affords.
    const HoldPrice& hold = live->hold();
    GatewayQuote quote = quote_of(live->request(), hold.price, hold.reserved_micros,
                                  refusal.remaining_micros, live->validates_output());
    Error error = refusal.error;
    error.message += "; " + cannot_afford_message(quote);
    reply(error);
  });
}

Result<GatewayQuote> gateway_quote(ApiContext& api, const std::string& project_id,
                                   const std::string& user_id, const UserKey* key,
                                   const GatewayRequest& request) {
  if (key != nullptr) {
    if (auto allowed = check_model_allowed(*key, request.model); !allowed) return allowed.error();
  }
  auto plan = plan_for(api, project_id, user_id, request);
  if (!plan) return plan.error();
  return quote_plan(api, plan.value(), key);
}

}  // namespace tollgate::server
