// The outcome of a ledger command as stored with its Idempotency-Key, for replay. The format is
// persisted (records live 24 h, across upgrades): change it only compatibly.
#include <nlohmann/json.hpp>

#include "server/store/store.h"
#include "tollgate/core/json_read.h"

namespace tollgate::server {

namespace {
using json = nlohmann::json;
}  // namespace

std::string outcome_to_json(const LedgerOutcome& outcome) {
  json out = {{"amount", outcome.amount},
              {"entrySeq", outcome.entry_seq},
              {"holdId", outcome.hold_id},
              {"shortfall", outcome.shortfall}};
  if (outcome.error) {
    out["error"] = {{"code", error_code_name(outcome.error->code)},
                    {"message", outcome.error->message},
                    {"param", outcome.error->param}};
  }
  if (outcome.account) {
    const Account& a = *outcome.account;
    out["account"] = {{"projectId", a.project_id},
                      {"userId", a.user_id},
                      {"plan", a.plan},
                      {"balance", a.balance},
                      {"allowance", a.allowance},
                      {"purchased", a.purchased},
                      {"spendCapMicros", a.spend_cap_micros ? json(*a.spend_cap_micros) : json()},
                      {"periodStartMs", a.period_start_ms},
                      {"periodSpentMicros", a.period_spent_micros},
                      {"heldMicros", a.held_micros},
                      {"createdAtMs", a.created_at_ms},
                      {"updatedAtMs", a.updated_at_ms}};
  }
  if (outcome.key_spend) {
    const KeySpend& k = *outcome.key_spend;
    out["keySpend"] = {{"periodStartMs", k.period_start_ms},
                       {"periodSpentMicros", k.period_spent_micros},
                       {"periodCreditMicros", k.period_credit_micros},
                       {"heldMicros", k.held_micros},
                       {"lifetimeMicros", k.lifetime_micros}};
  }
  return out.dump();
}

LedgerOutcome outcome_from_json(std::string_view text) {
  LedgerOutcome outcome;
  json in = json::parse(text, nullptr, false);
  if (!in.is_object()) {
    outcome.error = fail(ErrorCode::kInternal, "unreadable idempotency record");
    return outcome;
  }
  using namespace json_read;
  outcome.amount = int64_or(in, "amount", 0);
  outcome.entry_seq = int64_or(in, "entrySeq", 0);
  outcome.hold_id = string_or(in, "holdId", "");
  outcome.shortfall = int64_or(in, "shortfall", 0);
  if (const json* e = find(in, "error"); e != nullptr && e->is_object()) {
    outcome.error =
        Error{error_code_from_name(string_or(*e, "code", "")).value_or(ErrorCode::kInternal),
              string_or(*e, "message", ""), string_or(*e, "param", "")};
  }
  if (const json* a = find(in, "account"); a != nullptr && a->is_object()) {
    Account account;
    account.project_id = string_or(*a, "projectId", "");
    account.user_id = string_or(*a, "userId", "");
    account.plan = string_or(*a, "plan", "free");
    account.balance = int64_or(*a, "balance", 0);
    account.allowance = int64_or(*a, "allowance", 0);
    account.purchased = int64_or(*a, "purchased", account.balance);
    account.spend_cap_micros = int64_if(*a, "spendCapMicros");
    account.period_start_ms = int64_or(*a, "periodStartMs", 0);
    account.period_spent_micros = int64_or(*a, "periodSpentMicros", 0);
    account.held_micros = int64_or(*a, "heldMicros", 0);
    account.created_at_ms = int64_or(*a, "createdAtMs", 0);
    account.updated_at_ms = int64_or(*a, "updatedAtMs", 0);
    outcome.account = account;
  }
  if (const json* k = find(in, "keySpend"); k != nullptr && k->is_object()) {
    outcome.key_spend =
        KeySpend{int64_or(*k, "periodStartMs", 0), int64_or(*k, "periodSpentMicros", 0),
                 int64_or(*k, "periodCreditMicros", 0), int64_or(*k, "heldMicros", 0),
                 int64_or(*k, "lifetimeMicros", 0)};
  }
  return outcome;
}

}  // namespace tollgate::server
