#include "server/calls/hold_ttl.h"

#include "server/ledger/hold_close.h"

namespace tollgate::server {

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

}  // namespace tollgate::server
