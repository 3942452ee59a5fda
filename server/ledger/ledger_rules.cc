// The ledger's rules (ledger_rules.h): the dispatch, the account commands (meter, credit,
// update), apply(), and the small rules the batch driver asks while loading rows.
#include "server/ledger/ledger_rules.h"

#include <algorithm>
#include <iterator>
#include <variant>

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
  int64_t amount = 0;  // signed: what the entry adds to the balance
  std::string event;
  std::string reason;
};

// Posts one entry to `account` and decides with the account after it; `amount` is what the
// outcome reports (a meter's cost, a credit's amount).
LedgerDecision post_entry(Draft& d, const Account& account, Posting posting, int64_t amount) {
  auto after = posted(account, posting.amount, d.now_ms());
  if (!after) return refusal(after.error());
  d.add_entry(after.value(), std::move(posting.kind), posting.amount, std::move(posting.event),
              std::move(posting.reason));
  d.put_account(after.value());
  LedgerOutcome outcome;
  outcome.amount = amount;
  outcome.account = std::move(after).value();
  return d.decided(std::move(outcome));
}

}  // namespace

LedgerDecision decide_one(Draft& d, const MeterCommand& meter) {
  LedgerDecision why;
  const Account* account = sound_account(d, {meter.project_id, meter.user_id}, why);
  if (account == nullptr) return why;
  if (account->balance < meter.cost) {
    LedgerOutcome outcome =
        refused(ErrorCode::kInsufficientCredits,
                "insufficient credits: " + meter.event + " costs " + std::to_string(meter.cost) +
                    ", balance is " + std::to_string(account->balance));
    outcome.account = *account;
    return refusal(std::move(outcome));
  }
  auto debit = money::sub(Credits(0), Credits(meter.cost));
  if (!debit) return refusal(broken("a cost of ", std::to_string(meter.cost), " has no debit"));
  return post_entry(d, *account, {"debit", debit.value().value(), meter.event, ""}, meter.cost);
}

LedgerDecision decide_one(Draft& d, const CreditCommand& credit) {
  LedgerDecision why;
  const Account* account = sound_account(d, {credit.project_id, credit.user_id}, why);
  if (account == nullptr) return why;
  if (credit.amount <= 0) {
    return refusal(
        refused(ErrorCode::kInvalidArgument, "a credit adds a positive amount", "amount"));
  }
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
  return post_entry(d, *account, {credit.kind, credit.amount, "", credit.reason}, credit.amount);
}

LedgerDecision decide_one(Draft& d, const UpdateAccountCommand& update) {
  LedgerDecision why;
  const Account* account = sound_account(d, {update.project_id, update.user_id}, why);
  if (account == nullptr) return why;
  Account after = *account;
  if (update.plan) {
    const ProjectSettings& settings = d.settings(update.project_id);
    bool known = *update.plan == "free" ||
                 std::any_of(settings.plans.begin(), settings.plans.end(),
                             [&](const Plan& plan) { return plan.name == *update.plan; });
    if (!known) {
      return refusal(refused(ErrorCode::kInvalidArgument,
                             "no plan named '" + *update.plan + "' in this project's settings",
                             "plan"));
    }
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

std::optional<PendingEntry> starting_grant(const AccountKey& account, int64_t starting_credits) {
  if (starting_credits <= 0) return std::nullopt;
  return PendingEntry{
      account, "grant", starting_credits, starting_credits, "", "starting credits", "", kNoCommand};
}

std::optional<Error> idempotency_mismatch(std::string_view stored_hash, const Idempotency& key) {
  if (stored_hash == key.request_hash) return std::nullopt;
  return fail(
      ErrorCode::kConflict,
      "Idempotency-Key '" + key.key + "' was already used with a different request; use a new key",
      "Idempotency-Key");
}

}  // namespace tollgate::server
