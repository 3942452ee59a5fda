// The ledger's rules (ledger_rules.h): the dispatch, the account commands (meter, credit,
// update), apply(), and the small rules the batch driver asks while loading rows.
#include "server/ledger/ledger_rules.h"

#include <algorithm>
#include <iterator>
#include <variant>
#include <vector>

#include "server/ledger/ledger_draft.h"

namespace tollgate::server {
namespace ledger_draft {
namespace {

// Credits reserved by the account's open holds: those stored (its row is locked, so no other
// batch opens or closes one meanwhile) corrected by this batch's own.
Result<Int128> open_hold_credits(const Draft& d, const Account& a) {
  if (!d.stored().open_credits) return broken("the stored holds cannot be counted");
  auto stored = d.stored().open_credits(a);
  if (!stored) return stored;
  Int128 credits = stored.value();
  for (const auto& [id, state] : d.book().holds) {
    const Hold& h = state.hold;
    if (h.project_id != a.project_id || h.user_id != a.user_id) continue;
    if (state.is_new && h.status == "open") credits += h.credits;
    if (!state.is_new && state.dirty && h.status != "open") credits -= h.credits;  // stored open
  }
  return credits;
}

struct Posting {
  std::string kind;
  Pool pool = Pool::kPurchased;
  int64_t amount = 0;  // signed: what the entry adds to the pool
  std::string event;
  std::string reason;
};

// Posts the entries to `account` in order (an entry of 0 is left out, unless all are 0) and
// decides with the account after them; `amount` is what the outcome reports (a meter's cost, a
// credit's amount).
LedgerDecision post_entries(Draft& d, const Account& account, std::vector<Posting> postings,
                            int64_t amount, int64_t shortfall = 0) {
  Account after = account;
  bool posted_any = false;
  for (size_t i = 0; i < postings.size(); ++i) {
    Posting& posting = postings[i];
    bool last = i + 1 == postings.size();
    if (posting.amount == 0 && (posted_any || !last)) continue;
    auto next = posted(after, posting.pool, posting.amount, d.now_ms());
    if (!next) return refusal(next.error());
    after = std::move(next).value();
    d.add_entry(after, posting.pool, std::move(posting.kind), posting.amount,
                std::move(posting.event), std::move(posting.reason));
    posted_any = true;
  }
  d.put_account(after);
  LedgerOutcome outcome;
  outcome.amount = amount;
  outcome.shortfall = shortfall;
  outcome.account = std::move(after);
  return d.decided(std::move(outcome));
}

// A command whose mark is already set: nothing changes, and the answer says it was replayed.
LedgerDecision already_done(const Account& account) {
  LedgerOutcome outcome;
  outcome.account = account;
  outcome.replayed = true;
  return {std::move(outcome), {}, std::nullopt};
}

// Whether `once` is already set for `project_id` (nullopt: no mark asked for). kInternal or a
// store error when it cannot be read.
Result<bool> mark_set(const Draft& d, const std::string& project_id,
                      const std::optional<std::string>& once) {
  if (!once) return false;
  auto stored = d.mark({project_id, *once});
  if (!stored) return stored.error();
  return stored.value().has_value();
}

bool plan_known(const ProjectSettings& settings, const std::string& name) {
  return name == "free" || std::any_of(settings.plans.begin(), settings.plans.end(),
                                       [&](const Plan& plan) { return plan.name == name; });
}

LedgerDecision unknown_plan(const std::string& name) {
  return refusal(refused(ErrorCode::kInvalidArgument,
                         "no plan named '" + name + "' in this project's settings", "plan"));
}

}  // namespace

LedgerDecision decide_one(Draft& d, const MeterCommand& meter) {
  LedgerDecision why;
  const Account* account = sound_account(d, {meter.project_id, meter.user_id}, why);
  if (account == nullptr) return why;
  if (meter.cost < 0) {
    return refusal(broken("a cost of ", std::to_string(meter.cost), " has no debit"));
  }
  if (account->balance < meter.cost) {
    LedgerOutcome outcome =
        refused(ErrorCode::kInsufficientCredits,
                "insufficient credits: " + meter.event + " costs " + std::to_string(meter.cost) +
                    ", balance is " + std::to_string(account->balance));
    outcome.account = *account;
    return refusal(std::move(outcome));
  }
  Split split = spend_split(*account, meter.cost);  // both within [0, cost]: negations fit
  return post_entries(d, *account,
                      {{"debit", Pool::kAllowance, -split.allowance, meter.event, ""},
                       {"debit", Pool::kPurchased, -split.purchased, meter.event, ""}},
                      meter.cost);
}

LedgerDecision decide_one(Draft& d, const CreditCommand& credit) {
  LedgerDecision why;
  const Account* account = sound_account(d, {credit.project_id, credit.user_id}, why);
  if (account == nullptr) return why;
  if (credit.amount <= 0) {
    return refusal(
        refused(ErrorCode::kInvalidArgument, "a credit adds a positive amount", "amount"));
  }
  auto done = mark_set(d, credit.project_id, credit.once);
  if (!done) return read_failure(done.error());
  if (done.value()) return already_done(*account);
  // Open holds return their unspent credits to the balance when they close, so they count
  // here: once granted, a balance can always take them back without leaving int64.
  auto held = open_hold_credits(d, *account);
  if (!held) return read_failure(held.error());
  Int128 total = Int128(account->balance) + held.value() + credit.amount;
  if (total > INT64_MAX) {
    std::string message = "the balance would exceed the largest credit amount, " +
                          std::to_string(INT64_MAX) + ", counting the " +
                          int128_decimal(held.value()) + " credits held by calls in progress";
    return refusal(refused(ErrorCode::kOverflow, std::move(message), "amount"));
  }
  if (credit.once) d.put_mark({credit.project_id, *credit.once}, credit.amount);
  return post_entries(d, *account,
                      {{credit.kind, Pool::kPurchased, credit.amount, "", credit.reason}},
                      credit.amount);
}

LedgerDecision decide_one(Draft& d, const AllowanceCommand& command) {
  LedgerDecision why;
  const Account* account = sound_account(d, {command.project_id, command.user_id}, why);
  if (account == nullptr) return why;
  if (command.credits < 0) {
    return refusal(refused(ErrorCode::kInvalidArgument, "an allowance is not negative", "credits"));
  }
  if (command.plan && !plan_known(d.settings(command.project_id), *command.plan))
    return unknown_plan(*command.plan);
  auto done = mark_set(d, command.project_id, command.once);
  if (!done) return read_failure(done.error());
  if (done.value()) return already_done(*account);
  auto held = open_hold_credits(d, *account);
  if (!held) return read_failure(held.error());
  Int128 total = Int128(account->purchased) + held.value() + command.credits;
  if (total > INT64_MAX) {
    return refusal(
        refused(ErrorCode::kOverflow,
                "the balance would exceed the largest credit amount, " + std::to_string(INT64_MAX),
                "credits"));
  }
  Account base = *account;
  if (command.plan) base.plan = *command.plan;
  if (command.once) d.put_mark({command.project_id, *command.once}, command.credits);
  int64_t delta = command.credits - account->allowance;  // both in [0, INT64_MAX]: fits
  return post_entries(d, base, {{"allowance", Pool::kAllowance, delta, "", command.reason}},
                      command.credits);
}

LedgerDecision decide_one(Draft& d, const ClawbackCommand& clawback) {
  LedgerDecision why;
  const Account* account = sound_account(d, {clawback.project_id, clawback.user_id}, why);
  if (account == nullptr) return why;
  if (clawback.target < 0 || clawback.progress.empty()) {
    return refusal(refused(ErrorCode::kInvalidArgument,
                           "a clawback names its mark and takes a non-negative total", "amount"));
  }
  MarkKey key{clawback.project_id, clawback.progress};
  auto stored = d.mark(key);
  if (!stored) return read_failure(stored.error());
  int64_t before = stored.value().value_or(0);
  if (clawback.target <= before) return already_done(*account);
  int64_t owed = clawback.target - before;  // before >= 0 as stored by this rule: fits
  int64_t taken = std::min(owed, account->purchased);
  d.put_mark(key, clawback.target);
  return post_entries(d, *account, {{"clawback", Pool::kPurchased, -taken, "", clawback.reason}},
                      taken, owed - taken);
}

LedgerDecision decide_one(Draft& d, const UpdateAccountCommand& update) {
  LedgerDecision why;
  const Account* account = sound_account(d, {update.project_id, update.user_id}, why);
  if (account == nullptr) return why;
  Account after = *account;
  if (update.plan) {
    if (!plan_known(d.settings(update.project_id), *update.plan)) return unknown_plan(*update.plan);
    after.plan = *update.plan;
  }
  if (update.spend_cap_micros) after.spend_cap_micros = *update.spend_cap_micros;
  after.updated_at_ms = d.now_ms();
  d.put_account(after);
  LedgerOutcome outcome;
  outcome.account = std::move(after);
  return d.decided(std::move(outcome));
}

}  // namespace ledger_draft

LedgerDecision decide(const LedgerBook& book, const LedgerCommandBody& command,
                      const DecideContext& context) {
  ledger_draft::Draft draft(book, context);
  return std::visit([&](const auto& body) { return ledger_draft::decide_one(draft, body); },
                    command);
}

void apply(LedgerBook& book, LedgerChange change) {
  for (auto& [key, account] : change.accounts) {
    AccountState& state = book.accounts[key];
    state.account = std::move(account);
    state.dirty = true;
  }
  for (const auto& [id, spend] : change.projects) {
    ProjectState& project = book.projects[id];
    project.spend = spend;
    project.dirty = true;
  }
  for (auto& [id, hold] : change.holds) book.holds.insert_or_assign(id, std::move(hold));
  for (auto& [id, key] : change.keys) {
    KeyState& state = book.keys[id];
    state.key = std::move(key);
    state.dirty = true;
  }
  book.key_credits.insert(book.key_credits.end(),
                          std::make_move_iterator(change.key_credits.begin()),
                          std::make_move_iterator(change.key_credits.end()));
  for (const auto& [key, value] : change.marks) book.marks.insert_or_assign(key, value);
  book.entries.insert(book.entries.end(), std::make_move_iterator(change.entries.begin()),
                      std::make_move_iterator(change.entries.end()));
  if (change.takes_expired) book.expired.clear();
}

// ---- Small rules -----------------------------------------------------------------------------

bool roll_period(int64_t& period_start_ms, int64_t& period_spent_micros, int64_t month_start_ms) {
  if (period_start_ms >= month_start_ms) return false;
  period_start_ms = month_start_ms;
  period_spent_micros = 0;
  return true;
}

KeySpend key_spend_in(const KeySpend& spend, int64_t period_start_ms) {
  if (period_start_ms <= spend.period_start_ms) return spend;
  KeySpend rolled = spend;
  rolled.period_start_ms = period_start_ms;
  rolled.period_spent_micros = 0;
  rolled.period_credit_micros = 0;
  return rolled;
}

std::optional<PendingEntry> starting_grant(const AccountKey& account, int64_t starting_credits) {
  if (starting_credits <= 0) return std::nullopt;
  return PendingEntry{account,          "grant", Pool::kPurchased,   starting_credits,
                      starting_credits, "",      "starting credits", "",
                      kNoCommand};
}

std::optional<Error> idempotency_mismatch(std::string_view stored_hash, const Idempotency& key) {
  if (stored_hash == key.request_hash) return std::nullopt;
  return fail(
      ErrorCode::kConflict,
      "Idempotency-Key '" + key.key + "' was already used with a different request; use a new key",
      "Idempotency-Key");
}

}  // namespace tollgate::server
