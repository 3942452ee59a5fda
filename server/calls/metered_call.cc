#include "server/calls/metered_call.h"

#include <algorithm>
#include <utility>

#include "server/auth/crypto.h"
#include "tollgate/core/json_read.h"

namespace tollgate::server {
namespace {

Error internal_failure() {
  return fail(ErrorCode::kInternal,
              "the call failed inside Tollgate; it is charged only for what the model produced");
}

// What a call whose step threw still produced, to be charged.
std::optional<ModelAnswer> produced_by(ModelResult result) {
  if (auto* answer = std::get_if<ModelAnswer>(&result)) {
    answer->complete = false;
    return std::move(*answer);
  }
  return std::move(std::get<ModelFailure>(result).produced);
}

int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Result<std::shared_ptr<MeteredCall>> MeteredCall::prepare(MeteredCallDeps deps,
                                                          MeteredCallPlan plan,
                                                          ResolveProvider resolve) {
  auto model = resolve(plan.primary.provider);
  if (!model) return model.error();
  auto hold = price_hold(deps.pricing, plan.price, plan.primary, plan.fallback, plan.request,
                         plan.schema.has_value());
  if (!hold) return hold.error();
  return std::make_shared<MeteredCall>(std::move(deps), std::move(plan), std::move(resolve),
                                       hold.value(), std::move(model.value()));
}

MeteredCall::MeteredCall(MeteredCallDeps deps, MeteredCallPlan plan, ResolveProvider resolve,
                         HoldPrice hold, std::unique_ptr<ModelProvider> model)
    : deps_(std::move(deps)),
      plan_(std::move(plan)),
      resolve_(std::move(resolve)),
      hold_(hold),
      model_(std::move(model)),
      model_name_(plan_.primary.provider + "/" + plan_.primary.model),
      provider_name_(plan_.primary.provider),
      price_(hold.price) {}

// ---- Reserve ---------------------------------------------------------------------------

void MeteredCall::start(OpenListener open, Refuse refuse) {
  hold_id_ = new_time_ordered_id("hold_", deps_.now_ms());
  int64_t ttl_ms =
      invoke_hold_ttl_ms(deps_.timeouts, plan_.schema.has_value(), plan_.fallback.has_value());
  ReserveCommand reserve{plan_.project_id,
                         plan_.user_id,
                         hold_id_,
                         hold_.reserved_credits,
                         hold_.reserved_micros,
                         ttl_ms,
                         plan_.label,
                         plan_.limits,
                         plan_.key,
                         plan_.key ? model_name_ : std::string()};
  auto self = shared_from_this();
  deps_.ledger.submit(
      LedgerCommand{std::move(reserve), std::nullopt},
      [self, open = std::move(open), refuse](const Result<LedgerOutcome>& outcome) {
        self->on_reserved(outcome, open, refuse);
      },
      [self](Result<LedgerOutcome> decided) {
        if (decided && !decided.value().error) self->call_model_once();
      });
}

// The hold is committed (or refused). Runs on the ledger's thread, so nothing may escape it:
// after an exception the call is abandoned and its hold released.
void MeteredCall::on_reserved(const Result<LedgerOutcome>& outcome, const OpenListener& open,
                              const Refuse& refuse) noexcept {
  bool opening = false;
  bool committed = outcome && !outcome.value().error;
  try {
    if (!committed) {
      abandon();
      if (!outcome) return refuse({outcome.error(), 0, hold_.reserved_credits});
      const LedgerOutcome& refused = outcome.value();
      return refuse({*refused.error, refused.account ? refused.account->balance : 0,
                     hold_.reserved_credits, refused.remaining_micros});
    }
    bool count = false;
    {
      std::lock_guard lock(mutex_);
      if (phase_ == Phase::kReserving) phase_ = Phase::kOpening;
      count = deps_.metrics != nullptr && !hold_counted_;
      hold_counted_ = hold_counted_ || count;
    }
    if (count) deps_.metrics->hold_opened();
    call_model_once();  // when the decision came too late to start it
    opening = true;
    auto self = shared_from_this();
    open([self](std::shared_ptr<CallListener> listener) {
      {
        std::lock_guard lock(self->mutex_);
        self->listener_ = std::move(listener);
      }
      self->open_gate();
    });
  } catch (...) {
    try {
      log_exception("while opening the answer");
      abandon();
      if (committed && begin_close()) {
        close_hold(
            deps_.ledger, LedgerCommand{ReleaseCommand{plan_.project_id, hold_id_}, std::nullopt},
            deps_.run_after, deps_.log,
            [self = shared_from_this()](const Result<LedgerOutcome>&) { self->hold_closed(); });
      }
      if (!opening) refuse({internal_failure(), 0, hold_.reserved_credits});
    } catch (...) {
    }
  }
}

// ---- The gate: provider output waits here until the hold is durable ----------------------

// Runs `step` now when running, else queues it in order (dropped once abandoned).
void MeteredCall::when_running(std::function<void()> step) {
  {
    std::lock_guard lock(mutex_);
    if (phase_ == Phase::kAbandoned) return;
    if (phase_ != Phase::kRunning) {
      waiting_.push_back(std::move(step));
      return;
    }
  }
  step();
}

// The hold is durable and the listener exists: replays what waited, in order, then lets later
// steps run directly. Steps queued meanwhile by the provider's thread are replayed too.
void MeteredCall::open_gate() {
  while (true) {
    std::vector<std::function<void()>> waiting;
    {
      std::lock_guard lock(mutex_);
      if (waiting_.empty()) {
        if (phase_ == Phase::kOpening) phase_ = Phase::kRunning;
        return;
      }
      waiting.swap(waiting_);
    }
    for (auto& step : waiting) step();
  }
}

// The hold was not committed: the provider call stops and nothing it produced goes anywhere.
void MeteredCall::abandon() {
  {
    std::lock_guard lock(mutex_);
    phase_ = Phase::kAbandoned;
    waiting_.clear();
  }
  cancel();
}

// Marks the hold's close as submitted; false when it already was.
bool MeteredCall::begin_close() {
  std::lock_guard lock(mutex_);
  if (closing_) return false;
  closing_ = true;
  return true;
}

bool MeteredCall::closing() {
  std::lock_guard lock(mutex_);
  return closing_;
}

bool MeteredCall::cancelled() {
  std::lock_guard lock(mutex_);
  return cancelled_;
}

void MeteredCall::cancel() {
  std::shared_ptr<ModelCall> call;
  {
    std::lock_guard lock(mutex_);
    cancelled_ = true;
    call = call_;
  }
  if (call) call->cancel();  // never under the lock: it may end the call at once
}

// ---- The model ---------------------------------------------------------------------------

void MeteredCall::call_model_once() {
  {
    std::lock_guard lock(mutex_);
    if (call_started_ || phase_ == Phase::kAbandoned) return;
    call_started_ = true;
  }
  call_model();
}

// True for the first end of an attempt (its `done`, or the failure to start it).
bool MeteredCall::end_attempt(const std::shared_ptr<bool>& ended) {
  std::lock_guard lock(mutex_);
  if (*ended) return false;
  *ended = true;
  return true;
}

void MeteredCall::call_model() {
  ++attempts_;
  request_.stream = plan_.stream;
  partial_.emplace();
  partial_sent_at_ = 0;
  auto self = shared_from_this();
  auto ended = std::make_shared<bool>(false);
  if (plan_.stream) {
    std::lock_guard lock(mutex_);
    attempt_started_ns_ = steady_now_ns();
  }
  std::shared_ptr<ModelCall> call;
  try {
    call = model_->start(
        request_,
        [self](const ModelDelta& delta) {
          self->time_first_delta();
          self->when_running([self, delta] {
            self->guarded([&] { self->on_delta(delta); }, /*call_running=*/true);
          });
        },
        [self, ended](ModelResult result) {
          if (!self->end_attempt(ended)) return;  // ended already, below
          auto shared = std::make_shared<ModelResult>(std::move(result));
          self->when_running([self, shared] {
            self->guarded([&] { self->on_model_done(std::move(*shared)); },
                          /*call_running=*/false);
          });
        });
  } catch (...) {
    // The provider could not start the call (or threw while answering at once, as the demo
    // does): unless it already ended, it ends here, having produced nothing.
    if (end_attempt(ended)) {
      auto failed = std::make_shared<ModelResult>(ModelFailure{internal_failure(), {}, {}});
      when_running([self, failed] {
        self->guarded([&] { self->on_model_done(std::move(*failed)); }, /*call_running=*/false);
      });
    }
    return;
  }
  bool stop = false;
  {
    std::lock_guard lock(mutex_);
    call_ = call;
    stop = cancelled_;
  }
  if (stop && call) call->cancel();
}

void MeteredCall::on_delta(const ModelDelta& delta) {
  if (broken_) return;  // the call is being stopped
  auto out = listener();
  if (delta.tool_index >= 0) return out->tool_call(delta);
  out->text(delta.text);
  if (!plan_.schema || !partial_ || partial_failed_) return;
  if (!partial_->feed(delta.text)) {
    partial_failed_ = true;  // not JSON (yet): the final check decides, with a repair
    return;
  }
  if (partial_->bytes() <= kPartialEveryDeltaBytes ||
      partial_->bytes() - partial_sent_at_ >= kPartialEveryBytes) {
    partial_sent_at_ = partial_->bytes();
    out->partial(partial_->value());
  }
}

void MeteredCall::on_model_done(ModelResult result) {
  if (closing()) return;  // closed already, after an exception
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
  if (!plan_.schema || !answer.tool_calls.empty()) return settle(std::move(answer), std::nullopt);
  // The model's text is as untrusted as the provider's envelope: deep nesting is refused
  // before anything recurses over it.
  auto parsed = json_read::parse(answer.text, kAnswerDepthMax);
  std::string problem;
  if (!parsed) {
    problem = parsed.error().code == ErrorCode::kJsonSyntax
                  ? "the answer is not JSON"
                  : "the answer nests deeper than " + std::to_string(kAnswerDepthMax) + " levels";
  } else if (auto violations = plan_.schema->validate(parsed.value()); !violations.empty()) {
    problem = structured::describe(violations);
  } else {
    parsed_ = std::move(parsed.value());
    return settle(std::move(answer), std::nullopt);
  }
  if (attempts_ == 1 && !cancelled()) {
    listener()->repairing(
        "the answer did not match the response format; asking the model once more");
    request_.messages.push_back({ChatMessage::Role::kAssistant, answer.text, {}, {}});
    request_.messages.push_back({ChatMessage::Role::kUser,
                                 "Your answer does not match the required JSON Schema: " + problem +
                                     "\nAnswer again with only a JSON value that matches it.",
                                 {},
                                 {}});
    return call_model();
  }
  settle(std::move(answer),
         fail(ErrorCode::kUpstreamError,
              "the model's answer did not match the feature's response format, also after "
              "one repair: " +
                  problem));
}

// The primary failed before producing anything: switch to the fallback model, once.
bool MeteredCall::switch_to_fallback() {
  if (!plan_.fallback || fallback_used_ || cancelled()) return false;
  fallback_used_ = true;
  auto provider = resolve_(plan_.fallback->provider);
  if (!provider) return false;
  model_ = std::move(provider.value());
  request_.model = plan_.fallback->model;
  model_name_ = plan_.fallback->provider + "/" + plan_.fallback->model;
  provider_name_ = plan_.fallback->provider;
  if (auto price = deps_.pricing.find(plan_.fallback->provider, plan_.fallback->model))
    price_ = *price;
  if (auto out = listener()) out->fell_back(model_name_);
  return true;
}

// The owner's record of a failed provider call, with what the provider said: the caller's
// error names the failure but never carries the provider's text.
void MeteredCall::log_failure(const ModelFailure& failure) {
  if (deps_.log == nullptr || cancelled()) return;  // a caller who left is not a failure
  deps_.log->warn("provider_call_failed", {{"project", plan_.project_id},
                                           {"operation", plan_.label},
                                           {"model", model_name_},
                                           {"attempt", attempts_},
                                           {"code", error_code_name(failure.error.code)},
                                           {"error", failure.error.message},
                                           {"provider", failure.provider_detail}});
}

// A stream that broke off (or whose client left) before the provider reported usage is
// charged for what it produced, estimated at kBytesPerEstimatedToken bytes a token for the
// prompt and the output so far (settle() caps it at the reservation).
pricing::Usage MeteredCall::estimated_usage(const ModelAnswer& produced) const {
  int64_t output_bytes = static_cast<int64_t>(produced.text.size());
  for (const ToolCall& call : produced.tool_calls)
    output_bytes += static_cast<int64_t>(call.name.size() + call.arguments.size());
  auto tokens = [](int64_t bytes) {
    return (bytes + kBytesPerEstimatedToken - 1) / kBytesPerEstimatedToken;
  };
  return {tokens(hold_.prompt_bytes) +
              static_cast<int64_t>(request_.messages.size()) * pricing::kMessageOverheadTokens,
          tokens(output_bytes)};
}

void MeteredCall::add_usage(const ModelAnswer& answer) {
  charged_ = true;
  if (answer.usage) {
    used_.input_tokens += answer.usage->input_tokens;
    used_.output_tokens += answer.usage->output_tokens;
  } else {
    usage_missing_ = true;
  }
}

// ---- Metrics ------------------------------------------------------------------------------

// The hold's settle or release is done (or given up after its retries).
void MeteredCall::hold_closed() {
  bool counted = false;
  {
    std::lock_guard lock(mutex_);
    std::swap(counted, hold_counted_);
  }
  if (counted) deps_.metrics->hold_closed();
}

// One provider attempt ended: counted by how (a caller who left is "cancelled").
void MeteredCall::count_call(const ModelResult& result) {
  if (deps_.metrics == nullptr) return;
  const auto* failure = std::get_if<ModelFailure>(&result);
  std::string_view outcome = failure == nullptr ? "ok"
                             : cancelled()      ? "cancelled"
                                                : error_code_name(failure->error.code);
  deps_.metrics->provider_call(provider_name_, outcome);
}

// The current attempt's first delta: its time to first token, once per attempt.
void MeteredCall::time_first_delta() {
  int64_t started = 0;
  {
    std::lock_guard lock(mutex_);
    std::swap(started, attempt_started_ns_);
  }
  if (started == 0 || deps_.metrics == nullptr) return;
  deps_.metrics->time_to_first_token(provider_name_, (steady_now_ns() - started) / 1000);
}

// ---- Exceptions: no read here throws, but a bug must not end the process ----------------

void MeteredCall::log_exception(std::string_view what) {
  if (deps_.log == nullptr) return;
  deps_.log->log("error", "invoke_exception",
                 {{"project", plan_.project_id},
                  {"operation", plan_.label},
                  {"hold", hold_id_},
                  {"error", std::string(what)}});
}

// Runs a step that handles provider output or answers the listener. An exception must not
// reach the thread running it (the upstream client's or the ledger writer's: either would end
// the process). While the provider call runs (`call_running`), it is stopped and its end closes
// the hold as a failure, charging what was produced; after it, the hold is closed here, unless
// that is under way already, and the listener gets a 500.
void MeteredCall::guarded(const std::function<void()>& step, bool call_running) noexcept {
  std::string what;
  try {
    step();
    return;
  } catch (...) {
    what = exception_text(std::current_exception());
  }
  try {
    log_exception(what);
    if (call_running && !broken_) {
      broken_ = true;
      return cancel();
    }
    cancel();  // a repair or fallback call may have started before the throw
    if (closing()) return answer_error(internal_failure());
    if (!charged_) return release(internal_failure());
    ModelAnswer produced;
    produced.complete = false;
    settle(std::move(produced), internal_failure());
  } catch (...) {
    // Failing again while closing: the hold expires and is charged as reserved (logged above).
  }
}

}  // namespace tollgate::server
