// The metered call's close: the settle of what was used, or the release of the whole hold, and
// the listener's last word (server/calls/metered_call.h).
#include <algorithm>
#include <utility>

#include "server/calls/metered_call.h"

namespace tollgate::server {

// ---- Close: settle what was used, or release the hold whole -----------------------------

// Nothing was produced: the hold goes back whole (retried if the store fails; see
// server/ledger/hold_close.h). The listener gets `error` either way.
void MeteredCall::release(const Error& error) {
  if (!begin_close()) return;
  auto self = shared_from_this();
  close_hold(deps_.ledger, LedgerCommand{ReleaseCommand{plan_.project_id, hold_id_}, std::nullopt},
             deps_.run_after, deps_.log, [self, error](const Result<LedgerOutcome>&) {
               self->hold_closed();
               self->guarded([&] { self->answer_error(error); }, /*call_running=*/false);
             });
}

// Charges what was used: the provider's token counts (or the whole reservation when it
// reported none), at most the reservation. A fixed price is charged when an answer was
// delivered, including a cut one; an answer that failed its response format costs its
// provider spend only (docs/features.md, "What a call costs").
void MeteredCall::settle(ModelAnswer answer, std::optional<Error> error) {
  bool fixed = plan_.price.kind == pricing::FeaturePrice::Kind::kFixed;
  int64_t micros = hold_.reserved_micros;
  if (!usage_missing_) {
    auto cost = pricing::cost(price_, used_);
    micros = cost ? std::min(cost.value().value(), hold_.reserved_micros) : hold_.reserved_micros;
  }
  bool failed_format = error && answer.complete;
  int64_t credits = hold_.reserved_credits;
  if (failed_format && fixed) {
    credits = 0;
  } else if (!usage_missing_ || fixed) {
    auto charged = credits_for(plan_.price, micros);
    credits = charged ? std::min(charged.value(), hold_.reserved_credits) : hold_.reserved_credits;
  }
  if (!begin_close()) return;
  SettleCommand command{plan_.project_id,
                        hold_id_,
                        credits,
                        micros,
                        used_.input_tokens,
                        used_.output_tokens,
                        plan_.key && fallback_used_ ? model_name_ : std::string()};
  if (deps_.metrics != nullptr) {
    deps_.metrics->provider_usage(provider_name_, used_.input_tokens, used_.output_tokens, micros);
  }
  auto self = shared_from_this();
  close_hold(deps_.ledger, LedgerCommand{command, std::nullopt}, deps_.run_after, deps_.log,
             [self, answer = std::move(answer), error, credits,
              micros](const Result<LedgerOutcome>& outcome) {
               self->hold_closed();
               self->guarded([&] { self->answer_settled(outcome, answer, error, credits, micros); },
                             /*call_running=*/false);
             });
}

void MeteredCall::answer_settled(const Result<LedgerOutcome>& outcome, const ModelAnswer& answer,
                                 const std::optional<Error>& error, int64_t credits,
                                 int64_t micros) {
  if (error) return answer_error(*error);
  if (!outcome || outcome.value().error) {
    return answer_error(outcome ? *outcome.value().error : outcome.error());
  }
  std::shared_ptr<CallListener> out;
  {
    std::lock_guard lock(mutex_);
    if (listener_ == nullptr || answered_) return;
    answered_ = true;
    out = listener_;
  }
  int64_t remaining = outcome.value().account ? outcome.value().account->balance : 0;
  out->settled({hold_id_, model_name_, answer, parsed_, request_.messages, used_, !usage_missing_,
                credits, micros, remaining});
}

// The listener's last word, at most once.
void MeteredCall::answer_error(const Error& error) {
  std::shared_ptr<CallListener> out;
  {
    std::lock_guard lock(mutex_);
    if (listener_ == nullptr || answered_) return;
    answered_ = true;
    out = listener_;
  }
  out->failed(error);
}

std::shared_ptr<CallListener> MeteredCall::listener() {
  std::lock_guard lock(mutex_);
  return listener_;
}

}  // namespace tollgate::server
