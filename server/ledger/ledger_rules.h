// The ledger's rules: given the rows a batch holds and one command, what the command does
// (allowed, or refused with which error) and how the rows change. Pure: no SQL, no store, no
// I/O and no clock (the time comes in). store/ledger_batch.cc loads the rows under locks, asks
// decide() command by command in arrival order, apply()s each change and writes the result.
//
// Each decision checks the ledger's invariants on both sides. Before: the rows it reads are
// sound (no negative balance, counter or hold amount; a closed hold charged at most what it
// reserved). After: the rows it would leave are sound too, and every changed balance equals the
// previous one plus the command's new entries; all arithmetic is checked. A broken invariant
// refuses the command with kInternal and changes nothing: never a wrapped value, never an abort.
//
// Not thread-safe: a book belongs to one batch on one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/store/store.h"  // the ledger's data types only: Account, Hold, the commands

namespace tollgate::server {

using AccountKey = std::pair<std::string, std::string>;  // (project_id, user_id)

// An entry's `command` when no command's outcome reports it (an account's starting credits).
inline constexpr size_t kNoCommand = SIZE_MAX;

struct AccountState {
  Account account;
  bool dirty = false;  // changed in this batch: written back
};

// A project's spend in its current budget period (the budget itself is in its settings).
struct ProjectSpend {
  int64_t period_start_ms = 0;
  int64_t period_spent_micros = 0;
  int64_t held_micros = 0;
};

struct ProjectState {
  ProjectSettings settings;
  ProjectSpend spend;
  bool locked = false;  // read under a row lock: only then is its spend written back
  bool dirty = false;
};

struct HoldState {
  Hold hold;
  bool is_new = false;  // reserved in this batch: inserted
  bool dirty = false;   // closed in this batch: updated
  int64_t settled_credits = 0;
  int64_t settled_micros = 0;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
};

// A user key as the ledger sees it: its cap and its spend counters (store.h, UserKey).
struct KeyState {
  UserKey key;
  bool dirty = false;  // its spend changed in this batch: written back
};

// A raise of a key's cap, to record (key_credits).
struct PendingKeyCredit {
  std::string project_id;
  std::string key_id;
  int64_t micros = 0;
  std::string reason;
  int64_t period_start_ms = 0;
};

// A ledger entry to write.
struct PendingEntry {
  AccountKey account;
  std::string kind;
  Pool pool = Pool::kPurchased;
  int64_t amount = 0;         // to the pool
  int64_t balance_after = 0;  // the whole balance
  std::string event;
  std::string reason;
  std::string hold_id;
  size_t command = kNoCommand;  // whose outcome gets the entry's seq
};

// (project_id, mark): a permanent key, see store.h "Marks".
using MarkKey = std::pair<std::string, std::string>;

// The rows a batch holds, as the decisions so far left them, and the entries they made.
struct LedgerBook {
  std::map<AccountKey, AccountState> accounts;
  std::map<std::string, ProjectState> projects;
  std::map<std::string, HoldState> holds;
  std::map<std::string, KeyState> keys;  // the user keys the batch's holds and credits name
  std::map<MarkKey, int64_t> marks;      // set in this batch: written
  std::vector<std::string> expired;      // open holds past their expiry, for ExpireHoldsCommand
  std::vector<PendingEntry> entries;
  std::vector<PendingKeyCredit> key_credits;
};

// What one command changes: the rows it changes as they are after it, and its new entries.
struct LedgerChange {
  std::map<AccountKey, Account> accounts;
  std::map<std::string, ProjectSpend> projects;
  std::map<std::string, HoldState> holds;
  std::map<std::string, UserKey> keys;
  std::map<MarkKey, int64_t> marks;
  std::vector<PendingEntry> entries;
  std::vector<PendingKeyCredit> key_credits;
  bool takes_expired = false;  // the book's expired holds are dealt with
};

struct LedgerDecision {
  LedgerOutcome outcome;
  LedgerChange change;  // empty when outcome.error is set
  // A stored count could not be read: the command is refused and the batch must roll back.
  std::optional<Error> read_error;
};

// Counts over stored holds that a few decisions need beyond the book. They are asked only by
// the decision that needs them, and only once it gets that far, so a batch reads no more than
// its decisions use. The rules correct them by the book's own new and closed holds.
struct StoredHolds {
  // The credits the account's open holds reserve, as stored.
  std::function<Result<Int128>(const Account&)> open_credits;
  // The holds `limit` counts for `reserve`'s feature, as stored: not released, created at or
  // after limit.since_ms, and of reserve.user_id when limit.per_user.
  std::function<Result<int64_t>(const ReserveCommand&, const InvocationLimit&)> invocations;
  // A mark's value as stored, or nullopt when it is not set. Asked after the account the
  // command names is locked: every command setting a mark names one, so a concurrent batch
  // setting the same mark waits on that lock and this read sees its commit.
  std::function<Result<std::optional<int64_t>>(const MarkKey&)> mark;
};

struct DecideContext {
  int64_t now_ms = 0;
  size_t command = 0;  // the command's place in its batch, for its entries
  const StoredHolds& stored;
};

// Decides one command against `book`; the book itself is not changed (see apply()).
LedgerDecision decide(const LedgerBook& book, const LedgerCommandBody& command,
                      const DecideContext& context);

// Makes `change` (from a decide() on this book) part of the book; changed rows become dirty.
void apply(LedgerBook& book, LedgerChange change);

// The invariants, on their own. kInternal naming what broke.
Result<void> check_account(const Account& account);
Result<void> check_spend(std::string_view project_id, const ProjectSpend& spend);
Result<void> check_hold(const HoldState& hold);
Result<void> check_key(const UserKey& key);
// The after side: every row `change` leaves is sound, each of its accounts is one the book
// holds, and each changed balance equals the book's plus the change's entries (running through
// each entry's balance_after).
Result<void> check_change(const LedgerBook& book, const LedgerChange& change);

// Starts a new budget period once `month_start_ms` is past the period's start: nothing is
// spent in it yet. True when it did.
bool roll_period(int64_t& period_start_ms, int64_t& period_spent_micros, int64_t month_start_ms);

// A key's counters in the period starting at `period_start_ms`: a later start than the key's
// begins a new period, with nothing spent or credited in it yet (what is held stays held).
KeySpend key_spend_in(const KeySpend& spend, int64_t period_start_ms);

// The entry that grants a new account its project's starting credits; none for zero.
std::optional<PendingEntry> starting_grant(const AccountKey& account, int64_t starting_credits);

// The refusal for an Idempotency-Key reused with a different request (`stored_hash` is what
// the key answered before); none when the request is the same one.
std::optional<Error> idempotency_mismatch(std::string_view stored_hash, const Idempotency& key);

}  // namespace tollgate::server
