// The ledger's rules for holds (ledger_rules.h): reserve across every budget level at once,
// settle, release and expire.
#include <algorithm>
#include <optional>
#include <tuple>
#include <utility>

#include "server/ledger/ledger_draft.h"
#include "server/ledger/ledger_rules.h"

namespace tollgate::server::ledger_draft {
namespace {

// The feature's calls a limit counts: stored holds (the project's row is locked, so no other
// batch adds one meanwhile) corrected by this batch's own new and released holds.
Result<int64_t> count_invocations(const Draft& d, const ReserveCommand& reserve,
                                  const InvocationLimit& limit) {
  if (!d.stored().invocations) return broken("the stored holds cannot be counted");
  auto stored = d.stored().invocations(reserve, limit);
  if (!stored) return stored;
  int64_t calls = stored.value();
  for (const auto& [id, state] : d.book().holds) {
    const Hold& h = state.hold;
    if (h.project_id != reserve.project_id || h.operation != reserve.operation) continue;
    if (limit.per_user && h.user_id != reserve.user_id) continue;
    if (state.is_new && h.status != "released") ++calls;
    if (!state.is_new && state.dirty && h.status == "released") --calls;  // stored as open
  }
  return calls;
}

// How a hold closes: what of it is charged and how the close is recorded.
struct HoldClose {
  int64_t credits = 0;  // charged; the rest of the reservation goes back to the balance
  int64_t micros = 0;
  const char* status = "";      // settled, released or expired
  const char* entry_kind = "";  // settle or release
  std::string reason;
  std::optional<std::pair<int64_t, int64_t>> tokens;  // (input, output), recorded by a settle
  std::string model = {};                             // the model that answered, if it changed
};

// Closes an open hold in the draft. Every value is computed and checked before any row is put,
// so a close that would break an invariant leaves the draft as it was (the Error). A refusal
// (no such account) is an outcome with its error set, also with nothing changed.
Result<LedgerOutcome> close_hold(Draft& d, const HoldState& open, const HoldClose& close) {
  if (auto sound = check_hold(open); !sound) return sound.error();
  HoldState closed = open;
  const Hold& hold = closed.hold;
  const Account* account = d.account({hold.project_id, hold.user_id});
  if (account == nullptr) return refused(ErrorCode::kNotFound, "no project " + hold.project_id);
  const ProjectSpend& project = d.spend(hold.project_id);
  if (auto sound = check_account(*account); !sound) return sound.error();
  if (auto sound = check_spend(hold.project_id, project); !sound) return sound.error();
  if (close.credits < 0 || close.credits > hold.credits || close.micros < 0 ||
      close.micros > hold.micros) {
    return broken("a close of hold ", hold.id, " charges more than it reserved");
  }
  // The charge is taken from the allowance first, as the reservation was; the rest goes back
  // to the pools it came from. All within [0, credits]: no overflow.
  int64_t from_allowance = std::min(hold.allowance_credits, hold.credits);
  int64_t charged_allowance = std::min(close.credits, from_allowance);
  int64_t back_allowance = from_allowance - charged_allowance;
  int64_t back_purchased = (hold.credits - close.credits) - back_allowance;
  auto after = posted(*account, Pool::kAllowance, back_allowance, d.now_ms());
  if (after) after = posted(after.value(), Pool::kPurchased, back_purchased, d.now_ms());
  if (!after) return after.error();
  Account& a = after.value();
  auto account_held = micros_plus(a.held_micros, -hold.micros, "the account's held micros");
  auto account_spent = micros_plus(a.period_spent_micros, close.micros, "the account's spend");
  auto project_held = micros_plus(project.held_micros, -hold.micros, "the project's held micros");
  auto project_spent =
      micros_plus(project.period_spent_micros, close.micros, "the project's spend");
  for (const Result<int64_t>* sum : {&account_held, &account_spent, &project_held, &project_spent})
    if (!*sum) return sum->error();
  a.held_micros = account_held.value();
  a.period_spent_micros = account_spent.value();
  ProjectSpend spend = project;
  spend.held_micros = project_held.value();
  spend.period_spent_micros = project_spent.value();
  if (auto sound = check_account(a); !sound) return sound.error();
  if (auto sound = check_spend(hold.project_id, spend); !sound) return sound.error();

  std::optional<UserKey> key;
  if (!hold.key_id.empty()) {
    const UserKey* held = d.key(hold.key_id);
    if (held == nullptr) return broken("hold ", hold.id, " names a user key the batch lacks");
    if (auto sound = check_key(*held); !sound) return sound.error();
    key = *held;
    auto key_held = micros_plus(key->spend.held_micros, -hold.micros, "the key's held micros");
    auto key_spent = micros_plus(key->spend.period_spent_micros, close.micros, "the key's spend");
    auto key_life = micros_plus(key->spend.lifetime_micros, close.micros, "the key's spend");
    for (const Result<int64_t>* sum : {&key_held, &key_spent, &key_life})
      if (!*sum) return sum->error();
    key->spend.held_micros = key_held.value();
    key->spend.period_spent_micros = key_spent.value();
    key->spend.lifetime_micros = key_life.value();
    key->updated_at_ms = d.now_ms();
    if (auto sound = check_key(*key); !sound) return sound.error();
  }

  closed.hold.status = close.status;
  if (!close.model.empty()) closed.hold.model = close.model;
  closed.settled_credits = close.credits;
  closed.settled_micros = close.micros;
  if (close.tokens) std::tie(closed.input_tokens, closed.output_tokens) = *close.tokens;
  closed.dirty = true;
  LedgerOutcome outcome;
  outcome.account = a;
  outcome.amount = close.credits;
  outcome.hold_id = hold.id;
  if (back_allowance > 0) {
    Account at_allowance = a;  // the balance after the first of the two entries
    at_allowance.balance -= back_purchased;
    d.add_entry(at_allowance, Pool::kAllowance, close.entry_kind, back_allowance, "", close.reason,
                hold.id);
  }
  if (back_purchased > 0 || back_allowance == 0) {
    d.add_entry(a, Pool::kPurchased, close.entry_kind, back_purchased, "", close.reason, hold.id);
  }
  d.put_account(a);
  d.put_spend(hold.project_id, spend);
  if (key) {
    outcome.key_spend = key->spend;
    d.put_key(*key);
  }
  d.put_hold(std::move(closed));
  return outcome;
}

// The open hold a settle or release names, checked; null with `why` set otherwise.
const HoldState* open_hold(const Draft& d, const std::string& project_id,
                           const std::string& hold_id, LedgerDecision& why) {
  const HoldState* hold = d.hold(hold_id);
  if (hold == nullptr || hold->hold.project_id != project_id) {
    why = refusal(refused(ErrorCode::kNotFound, "no hold " + hold_id, "hold"));
    return nullptr;
  }
  if (hold->hold.status != "open") {
    why = refusal(refused(ErrorCode::kConflict,
                          "hold " + hold_id + " is already " + hold->hold.status, "hold"));
    return nullptr;
  }
  if (auto sound = check_hold(*hold); !sound) {
    why = refusal(sound.error());
    return nullptr;
  }
  return hold;
}

// What a cap leaves after what is spent and held; never negative.
int64_t left_under(int64_t cap, int64_t spent, int64_t held) {
  Int128 left = Int128(cap) - spent - held;
  return left < 0 ? 0 : left > INT64_MAX ? INT64_MAX : static_cast<int64_t>(left);
}

// The key a reservation counts against, with the reservation's micros held: refused when the key
// is not this end user's, no longer works, or has less than `reserve.micros` left of its cap.
Result<UserKey> key_reservation(const Draft& d, const ReserveCommand& reserve,
                                const KeyBudget& budget, std::optional<int64_t>& remaining) {
  const UserKey* found = d.key(budget.key_id);
  if (found == nullptr || found->project_id != reserve.project_id ||
      found->user_id != reserve.user_id) {
    return fail(ErrorCode::kUnauthenticated, "no such user key", "key");
  }
  if (auto sound = check_key(*found); !sound) return sound.error();
  if (found->revoked_at_ms) return fail(ErrorCode::kUnauthenticated, "this key was revoked", "key");
  if (found->expires_at_ms && *found->expires_at_ms <= d.now_ms())
    return fail(ErrorCode::kUnauthenticated, "this key has expired", "key");
  UserKey key = *found;
  key.spend = key_spend_in(key.spend, budget.period_start_ms);
  const KeySpend& s = key.spend;
  Int128 used = Int128(s.period_spent_micros) + s.held_micros + reserve.micros;
  if (used > INT64_MAX) {
    return fail(ErrorCode::kOverflow,
                "the call's cost would take the key's spend past the largest amount of micros",
                "key");
  }
  if (key.spend_cap_micros && used > Int128(*key.spend_cap_micros) + s.period_credit_micros) {
    remaining = key_remaining_micros(key);
    return fail(ErrorCode::kInsufficientCredits,
                "this key's spend cap is reached: the call may cost " +
                    money::format_usd(money::Micros(reserve.micros)) + " USD and " +
                    money::format_usd(money::Micros(remaining.value_or(0))) + " USD is left this " +
                    std::string(cap_period_name(key.cap_period)),
                "key");
  }
  key.spend.held_micros = static_cast<int64_t>(Int128(s.held_micros) + reserve.micros);
  key.updated_at_ms = d.now_ms();
  return key;
}

LedgerDecision closed_decision(Draft& d, Result<LedgerOutcome> closed) {
  if (!closed) return refusal(closed.error());
  if (closed.value().error) return refusal(std::move(closed).value());
  return d.decided(std::move(closed).value());
}

}  // namespace

// Every budget level at once: invocation limits, the balance, the spend cap, the project's
// budget. Nothing is reserved unless all of them allow it.
LedgerDecision decide_one(Draft& d, const ReserveCommand& reserve) {
  const Account* account = d.account({reserve.project_id, reserve.user_id});
  if (account == nullptr) return no_project(reserve.project_id);
  if (reserve.credits < 0 || reserve.micros < 0 || reserve.ttl_ms <= 0) {
    return refusal(refused(ErrorCode::kInvalidArgument,
                           "a hold reserves non-negative amounts for a positive time", "hold"));
  }
  if (d.hold(reserve.hold_id) != nullptr) {
    return refusal(
        refused(ErrorCode::kConflict, "hold " + reserve.hold_id + " already exists", "hold"));
  }
  const Account& a = *account;
  const ProjectSpend& project = d.spend(reserve.project_id);
  if (auto sound = check_account(a); !sound) return refusal(sound.error());
  if (auto sound = check_spend(reserve.project_id, project); !sound) return refusal(sound.error());
  LedgerOutcome outcome;
  outcome.account = a;
  for (const InvocationLimit& limit : reserve.limits) {
    auto calls = count_invocations(d, reserve, limit);
    if (!calls) return read_failure(calls.error());
    if (calls.value() >= limit.max) {
      outcome.error = fail(ErrorCode::kRateLimited,
                           "'" + limit.name + "' of " + std::to_string(limit.max) +
                               " calls is reached; try again in the next period",
                           limit.name);
      return refusal(std::move(outcome));
    }
  }
  if (a.balance < reserve.credits) {
    outcome.error =
        fail(ErrorCode::kInsufficientCredits, "insufficient credits: the call may cost " +
                                                  std::to_string(reserve.credits) +
                                                  ", balance is " + std::to_string(a.balance));
    return refusal(std::move(outcome));
  }
  // Spent plus held micros only grow here (settling moves held micros to spent ones), so
  // keeping them inside int64 here keeps every later settle inside it too.
  Int128 account_micros = Int128(a.period_spent_micros) + a.held_micros + reserve.micros;
  Int128 project_micros =
      Int128(project.period_spent_micros) + project.held_micros + reserve.micros;
  if (account_micros > INT64_MAX || project_micros > INT64_MAX) {
    outcome.error = fail(ErrorCode::kOverflow,
                         "the call's cost would take this period's spend past the largest "
                         "amount of micros",
                         "hold");
    return refusal(std::move(outcome));
  }
  if (a.spend_cap_micros && account_micros > *a.spend_cap_micros) {
    outcome.remaining_micros =
        left_under(*a.spend_cap_micros, a.period_spent_micros, a.held_micros);
    outcome.error = fail(ErrorCode::kInsufficientCredits,
                         "spend cap reached: this user's cap for the month is " +
                             money::format_usd(money::Micros(*a.spend_cap_micros)) + " USD");
    return refusal(std::move(outcome));
  }
  const ProjectSettings& settings = d.settings(reserve.project_id);
  if (settings.budget_micros && project_micros > *settings.budget_micros) {
    outcome.remaining_micros =
        left_under(*settings.budget_micros, project.period_spent_micros, project.held_micros);
    outcome.error =
        fail(ErrorCode::kInsufficientCredits, "the project's monthly budget is reached");
    return refusal(std::move(outcome));
  }
  std::optional<UserKey> key;
  if (reserve.key) {
    auto reserved = key_reservation(d, reserve, *reserve.key, outcome.remaining_micros);
    if (!reserved) {
      outcome.error = std::move(reserved.error());
      return refusal(std::move(outcome));
    }
    key = std::move(reserved).value();
  }
  int64_t expires_at_ms = 0;
  if (__builtin_add_overflow(d.now_ms(), reserve.ttl_ms, &expires_at_ms)) {
    outcome.error =
        fail(ErrorCode::kOverflow, "the hold's expiry is past the largest time", "hold");
    return refusal(std::move(outcome));
  }
  Split split = spend_split(a, reserve.credits);  // within [0, credits]: the negations fit
  auto after = posted(a, Pool::kAllowance, -split.allowance, d.now_ms());
  Result<Account> at_allowance = after;
  if (after) after = posted(after.value(), Pool::kPurchased, -split.purchased, d.now_ms());
  if (!after) return refusal(after.error());
  auto account_held = micros_plus(a.held_micros, reserve.micros, "the account's held micros");
  auto project_held = micros_plus(project.held_micros, reserve.micros, "the project's held micros");
  if (!account_held) return refusal(account_held.error());
  if (!project_held) return refusal(project_held.error());
  after.value().held_micros = account_held.value();
  ProjectSpend spend = project;
  spend.held_micros = project_held.value();

  HoldState hold;
  hold.hold = Hold{reserve.hold_id,
                   reserve.project_id,
                   reserve.user_id,
                   reserve.credits,
                   split.allowance,
                   reserve.micros,
                   "open",
                   expires_at_ms,
                   reserve.operation,
                   reserve.key ? reserve.key->key_id : "",
                   reserve.model};
  hold.is_new = true;
  if (split.allowance > 0)
    d.add_entry(at_allowance.value(), Pool::kAllowance, "hold", -split.allowance, "", "",
                reserve.hold_id);
  if (split.purchased > 0 || split.allowance == 0)
    d.add_entry(after.value(), Pool::kPurchased, "hold", -split.purchased, "", "", reserve.hold_id);
  d.put_account(after.value());
  d.put_spend(reserve.project_id, spend);
  d.put_hold(std::move(hold));
  if (key) {
    outcome.key_spend = key->spend;
    d.put_key(*key);
  }
  outcome.account = std::move(after).value();
  outcome.amount = reserve.credits;
  outcome.hold_id = reserve.hold_id;
  return d.decided(std::move(outcome));
}

LedgerDecision decide_one(Draft& d, const SettleCommand& settle) {
  LedgerDecision why;
  const HoldState* hold = open_hold(d, settle.project_id, settle.hold_id, why);
  if (hold == nullptr) return why;
  if (settle.credits < 0 || settle.credits > hold->hold.credits) {
    return refusal(refused(ErrorCode::kInvalidArgument,
                           "settled credits must be between 0 and the " +
                               std::to_string(hold->hold.credits) + " reserved",
                           "credits"));
  }
  if (settle.micros < 0 || settle.micros > hold->hold.micros) {
    return refusal(refused(ErrorCode::kInvalidArgument,
                           "settled micros must be between 0 and the " +
                               std::to_string(hold->hold.micros) + " reserved",
                           "micros"));
  }
  if (settle.input_tokens < 0 || settle.output_tokens < 0) {
    return refusal(
        refused(ErrorCode::kInvalidArgument, "token counts must not be negative", "tokens"));
  }
  HoldClose close{settle.credits,
                  settle.micros,
                  "settled",
                  "settle",
                  {},
                  std::pair{settle.input_tokens, settle.output_tokens},
                  settle.model};
  return closed_decision(d, close_hold(d, *hold, close));
}

LedgerDecision decide_one(Draft& d, const ReleaseCommand& release) {
  LedgerDecision why;
  const HoldState* hold = open_hold(d, release.project_id, release.hold_id, why);
  if (hold == nullptr) return why;
  return closed_decision(d, close_hold(d, *hold, {0, 0, "released", "release", {}, {}}));
}

// Each expired hold is closed on its own: one whose close would break an invariant stays open
// (and uncounted) rather than keeping every other expired hold from being charged.
LedgerDecision decide_one(Draft& d, const ExpireHoldsCommand&) {
  int64_t expired = 0;
  for (const std::string& id : d.book().expired) {
    const HoldState* hold = d.hold(id);
    if (hold == nullptr || hold->hold.status != "open") continue;  // settled earlier in the batch
    HoldClose close{hold->hold.credits,
                    hold->hold.micros,
                    "expired",
                    "settle",
                    "hold expired: charged as reserved",
                    {}};
    if (!close_hold(d, *hold, close)) continue;
    ++expired;
  }
  d.take_expired();
  LedgerOutcome outcome;
  outcome.amount = expired;
  return d.decided(std::move(outcome));
}

LedgerDecision decide_one(Draft& d, const KeyCreditCommand& credit) {
  const UserKey* found = d.key(credit.key_id);
  if (found == nullptr || found->project_id != credit.project_id)
    return refusal(refused(ErrorCode::kNotFound, "no key " + credit.key_id, "key"));
  if (auto sound = check_key(*found); !sound) return refusal(sound.error());
  if (credit.micros <= 0) {
    return refusal(refused(ErrorCode::kInvalidArgument, "a key credit adds a positive amount",
                           "amountMicros"));
  }
  UserKey key = *found;
  key.spend = key_spend_in(key.spend, credit.period_start_ms);
  auto raised = micros_plus(key.spend.period_credit_micros, credit.micros, "the key's credit");
  if (!raised) {
    return refusal(refused(ErrorCode::kOverflow,
                           "the key's credit would exceed the largest amount of micros",
                           "amountMicros"));
  }
  key.spend.period_credit_micros = raised.value();
  key.updated_at_ms = d.now_ms();
  d.put_key(key);
  d.add_key_credit(
      {credit.project_id, credit.key_id, credit.micros, credit.reason, key.spend.period_start_ms});
  LedgerOutcome outcome;
  outcome.amount = credit.micros;
  outcome.key_spend = key.spend;
  return d.decided(std::move(outcome));
}

}  // namespace tollgate::server::ledger_draft
