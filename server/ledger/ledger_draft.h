// Internal to server/ledger/: what the rule files share. A Draft is one decision's working copy
// of the book; the helpers build refusals and kInternal errors. Not for use outside the rules.
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "server/ledger/ledger_rules.h"
#include "tollgate/money/money.h"

namespace tollgate::server::ledger_draft {

using money::Credits;
using money::Micros;

// kInternal: "ledger invariant broken: " and the parts.
template <typename... Parts>
Error broken(const Parts&... parts) {
  std::string message = "ledger invariant broken: ";
  (message.append(parts), ...);
  return fail(ErrorCode::kInternal, std::move(message));
}

inline std::string name_of(std::string_view project_id, std::string_view user_id) {
  std::string name = "user '";
  name.append(user_id).append("' of ").append(project_id);
  return name;
}

inline std::string name_of(const Account& account) {
  return name_of(account.project_id, account.user_id);
}

inline LedgerOutcome refused(ErrorCode code, std::string message, std::string param = {}) {
  LedgerOutcome outcome;
  outcome.error = fail(code, std::move(message), std::move(param));
  return outcome;
}

inline LedgerDecision refusal(LedgerOutcome outcome) {
  return {std::move(outcome), {}, std::nullopt};
}

inline LedgerDecision refusal(Error error) {
  LedgerDecision decision;
  decision.outcome.error = std::move(error);
  return decision;
}

inline LedgerDecision no_project(const std::string& project_id) {
  return refusal(refused(ErrorCode::kNotFound, "no project " + project_id));
}

// A stored count could not be read: the command says why, and the batch rolls back.
inline LedgerDecision read_failure(const Error& error) {
  LedgerDecision decision = refusal(refused(error.code, error.message));
  decision.read_error = error;
  return decision;
}

inline int64_t& pool_of(Account& account, Pool pool) {
  return pool == Pool::kAllowance ? account.allowance : account.purchased;
}

// `account` after an entry of `amount` to `pool` at `now_ms`; kInternal when the pool or the
// balance would leave int64.
inline Result<Account> posted(Account account, Pool pool, int64_t amount, int64_t now_ms) {
  auto in_pool = money::add(Credits(pool_of(account, pool)), Credits(amount));
  auto balance = money::add(Credits(account.balance), Credits(amount));
  if (!in_pool || !balance)
    return broken("the balance of ", name_of(account), " would leave int64");
  pool_of(account, pool) = in_pool.value().value();
  account.balance = balance.value().value();
  account.updated_at_ms = now_ms;
  return account;
}

// How a spend of `credits` splits between the pools: the allowance first.
struct Split {
  int64_t allowance = 0;
  int64_t purchased = 0;
};
inline Split spend_split(const Account& account, int64_t credits) {
  int64_t from_allowance = std::min(credits, account.allowance);
  return {from_allowance, credits - from_allowance};
}

// `value` + `delta` micros; kInternal naming `what` when the sum leaves int64.
inline Result<int64_t> micros_plus(int64_t value, int64_t delta, std::string_view what) {
  auto sum = money::add(Micros(value), Micros(delta));
  if (!sum) return broken(what, " would leave int64");
  return sum.value().value();
}

// One decision's working copy of the book. Reads see the decision's own changes first; a write
// replaces a row's after-image in the change, so the book stays as it was.
class Draft {
 public:
  Draft(const LedgerBook& book, const DecideContext& context) : book_(book), context_(context) {}

  int64_t now_ms() const { return context_.now_ms; }
  const LedgerBook& book() const { return book_; }
  const StoredHolds& stored() const { return context_.stored; }

  // Null when the batch holds no such account (its project does not exist).
  const Account* account(const AccountKey& key) const {
    if (auto changed = change_.accounts.find(key); changed != change_.accounts.end())
      return &changed->second;
    auto held = book_.accounts.find(key);
    return held == book_.accounts.end() ? nullptr : &held->second.account;
  }

  // A project the batch did not load reads as an empty one; being unlocked, nothing of it is
  // written back.
  const ProjectSettings& settings(const std::string& project_id) const {
    auto held = book_.projects.find(project_id);
    return held == book_.projects.end() ? unloaded().settings : held->second.settings;
  }
  const ProjectSpend& spend(const std::string& project_id) const {
    if (auto changed = change_.projects.find(project_id); changed != change_.projects.end())
      return changed->second;
    auto held = book_.projects.find(project_id);
    return held == book_.projects.end() ? unloaded().spend : held->second.spend;
  }

  const HoldState* hold(const std::string& id) const {
    if (auto changed = change_.holds.find(id); changed != change_.holds.end())
      return &changed->second;
    auto held = book_.holds.find(id);
    return held == book_.holds.end() ? nullptr : &held->second;
  }

  // Null when the batch holds no such key.
  const UserKey* key(const std::string& id) const {
    if (auto changed = change_.keys.find(id); changed != change_.keys.end())
      return &changed->second;
    auto held = book_.keys.find(id);
    return held == book_.keys.end() ? nullptr : &held->second.key;
  }

  void put_key(const UserKey& key) { change_.keys.insert_or_assign(key.id, key); }
  void add_key_credit(PendingKeyCredit credit) { change_.key_credits.push_back(std::move(credit)); }

  void put_account(const Account& account) {
    change_.accounts.insert_or_assign(AccountKey{account.project_id, account.user_id}, account);
  }
  void put_spend(const std::string& project_id, const ProjectSpend& spend) {
    change_.projects.insert_or_assign(project_id, spend);
  }
  void put_hold(HoldState hold) {
    std::string id = hold.hold.id;
    change_.holds.insert_or_assign(std::move(id), std::move(hold));
  }
  // An entry of `amount` to `pool` that took `after` to its balance.
  void add_entry(const Account& after, Pool pool, std::string kind, int64_t amount,
                 std::string event = {}, std::string reason = {}, std::string hold_id = {}) {
    change_.entries.push_back({{after.project_id, after.user_id},
                               std::move(kind),
                               pool,
                               amount,
                               after.balance,
                               std::move(event),
                               std::move(reason),
                               std::move(hold_id),
                               context_.command});
  }

  // A mark's value: set earlier in this batch, or as stored (nullopt: not set).
  Result<std::optional<int64_t>> mark(const MarkKey& key) const {
    if (auto changed = change_.marks.find(key); changed != change_.marks.end())
      return std::optional<int64_t>(changed->second);
    if (auto held = book_.marks.find(key); held != book_.marks.end())
      return std::optional<int64_t>(held->second);
    if (!context_.stored.mark) return broken("the stored marks cannot be read");
    return context_.stored.mark(key);
  }
  void put_mark(const MarkKey& key, int64_t value) { change_.marks.insert_or_assign(key, value); }
  void take_expired() { change_.takes_expired = true; }

  // `outcome` with the change, once the change passes check_change(); kInternal otherwise.
  LedgerDecision decided(LedgerOutcome outcome) {
    if (auto sound = check_change(book_, change_); !sound) return refusal(sound.error());
    return {std::move(outcome), std::move(change_), std::nullopt};
  }

 private:
  static const ProjectState& unloaded() {
    static const ProjectState kUnloaded;
    return kUnloaded;
  }

  const LedgerBook& book_;
  const DecideContext& context_;
  LedgerChange change_;
};

// The account a command names, checked; null with `why` set when there is none or it is
// unsound.
inline const Account* sound_account(const Draft& d, const AccountKey& key, LedgerDecision& why) {
  const Account* account = d.account(key);
  if (account == nullptr) {
    why = no_project(key.first);
    return nullptr;
  }
  if (auto sound = check_account(*account); !sound) {
    why = refusal(sound.error());
    return nullptr;
  }
  return account;
}

// The decisions, one per command (ledger_rules.cc: accounts; ledger_holds.cc: holds).
LedgerDecision decide_one(Draft& d, const MeterCommand& meter);
LedgerDecision decide_one(Draft& d, const CreditCommand& credit);
LedgerDecision decide_one(Draft& d, const UpdateAccountCommand& update);
LedgerDecision decide_one(Draft& d, const ReserveCommand& reserve);
LedgerDecision decide_one(Draft& d, const SettleCommand& settle);
LedgerDecision decide_one(Draft& d, const ReleaseCommand& release);
LedgerDecision decide_one(Draft& d, const ExpireHoldsCommand& expire);
LedgerDecision decide_one(Draft& d, const AllowanceCommand& allowance);
LedgerDecision decide_one(Draft& d, const ClawbackCommand& clawback);
LedgerDecision decide_one(Draft& d, const KeyCreditCommand& credit);

}  // namespace tollgate::server::ledger_draft
