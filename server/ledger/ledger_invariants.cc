// The ledger's invariants, checked by every decision on the rows it reads and on the change it
// makes (ledger_rules.h).
#include <map>

#include "server/ledger/ledger_draft.h"
#include "server/ledger/ledger_rules.h"

namespace tollgate::server {

using ledger_draft::broken;
using ledger_draft::name_of;

Result<void> check_account(const Account& a) {
  auto negative = [&](const char* what, int64_t value) {
    return broken(name_of(a), " has a negative ", what, ", ", std::to_string(value));
  };
  if (a.balance < 0) return negative("balance", a.balance);
  if (a.allowance < 0) return negative("allowance", a.allowance);
  if (a.purchased < 0) return negative("purchased balance", a.purchased);
  if (Int128(a.allowance) + a.purchased != a.balance)
    return broken(name_of(a), "'s balance is not its allowance plus its purchased credits");
  if (a.held_micros < 0) return negative("held micros", a.held_micros);
  if (a.period_spent_micros < 0) return negative("spend", a.period_spent_micros);
  return {};
}

Result<void> check_spend(std::string_view project_id, const ProjectSpend& spend) {
  auto negative = [&](const char* what, int64_t value) {
    return broken("project ", project_id, " has a negative ", what, ", ", std::to_string(value));
  };
  if (spend.held_micros < 0) return negative("held micros", spend.held_micros);
  if (spend.period_spent_micros < 0) return negative("spend", spend.period_spent_micros);
  return {};
}

Result<void> check_hold(const HoldState& state) {
  const Hold& h = state.hold;
  if (h.credits < 0 || h.micros < 0 || h.allowance_credits < 0)
    return broken("hold ", h.id, " reserves a negative amount");
  if (h.allowance_credits > h.credits)
    return broken("hold ", h.id, " takes more from the allowance than it reserves");
  if (state.settled_credits < 0 || state.settled_credits > h.credits || state.settled_micros < 0 ||
      state.settled_micros > h.micros) {
    return broken("hold ", h.id, " is charged outside its reservation");
  }
  if (state.input_tokens < 0 || state.output_tokens < 0) {
    return broken("hold ", h.id, " has a negative token count");
  }
  return {};
}

Result<void> check_key(const UserKey& key) {
  const KeySpend& k = key.spend;
  if (k.period_spent_micros < 0 || k.period_credit_micros < 0 || k.held_micros < 0 ||
      k.lifetime_micros < 0) {
    return broken("user key ", key.id, " has a negative spend counter");
  }
  return {};
}

Result<void> check_change(const LedgerBook& book, const LedgerChange& change) {
  // Each entry continues its account's running balance, from the balance the book holds, and
  // its pool's running total.
  struct Running {
    Int128 balance = 0;
    Int128 allowance = 0;
    Int128 purchased = 0;
  };
  std::map<AccountKey, Running> running;
  for (const PendingEntry& entry : change.entries) {
    auto sums = running.find(entry.account);
    if (sums == running.end()) {
      auto before = book.accounts.find(entry.account);
      if (before == book.accounts.end() || !change.accounts.count(entry.account)) {
        return broken("an entry for ", name_of(entry.account.first, entry.account.second),
                      " does not go with a changed balance the batch holds");
      }
      const Account& a = before->second.account;
      sums = running.emplace(entry.account, Running{a.balance, a.allowance, a.purchased}).first;
    }
    sums->second.balance += entry.amount;
    (entry.pool == Pool::kAllowance ? sums->second.allowance : sums->second.purchased) +=
        entry.amount;
    if (sums->second.balance != entry.balance_after) {
      return broken("an entry for ", name_of(entry.account.first, entry.account.second),
                    " does not follow from the balance before it");
    }
  }
  for (const auto& [key, after] : change.accounts) {
    auto before = book.accounts.find(key);
    if (before == book.accounts.end() || after.project_id != key.first ||
        after.user_id != key.second) {
      return broken("a change to ", name_of(key.first, key.second),
                    ", an account the batch does not hold");
    }
    if (auto sound = check_account(after); !sound) return sound;
    const Account& was = before->second.account;
    auto sums = running.find(key);
    Running expected =
        sums == running.end() ? Running{was.balance, was.allowance, was.purchased} : sums->second;
    if (after.balance != expected.balance || after.allowance != expected.allowance ||
        after.purchased != expected.purchased) {
      return broken("a balance of ", name_of(after), " is not the one before plus its entries");
    }
  }
  for (const auto& [id, spend] : change.projects) {
    if (auto sound = check_spend(id, spend); !sound) return sound;
  }
  for (const auto& [id, hold] : change.holds) {
    if (hold.hold.id != id) return broken("hold ", id, " changed under another id");
    if (auto sound = check_hold(hold); !sound) return sound;
  }
  for (const auto& [id, key] : change.keys) {
    if (key.id != id || !book.keys.count(id)) return broken("user key ", id, " is not the batch's");
    if (auto sound = check_key(key); !sound) return sound;
  }
  for (const auto& [key, value] : change.marks) {
    if (value < 0) return broken("mark ", key.second, " of ", key.first, " is negative");
  }
  return {};
}

}  // namespace tollgate::server
