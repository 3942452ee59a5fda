// SqlStore::apply: the ledger's one write path. A batch of commands runs in one transaction:
//
//   1. lock every row the batch touches, in a fixed order (holds, then projects, then accounts,
//      then user keys, each sorted), creating accounts on first sight;
//   2. decide each command in arrival order against the locked rows, in memory, by the ledger's
//      rules (server/ledger/ledger_rules.h);
//   3. write the ledger entries and the changed rows, and commit.
//
// On PostgreSQL the locks are row locks (SELECT … FOR UPDATE), so any number of tollgate
// processes can share one database; the fixed order keeps them from deadlocking, and a batch
// that still meets a deadlock or an idempotency race is retried whole. On SQLite BEGIN IMMEDIATE
// makes the batch the single writer. What differs between the two is in LedgerSql.
#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <tuple>
#include <type_traits>
#include <variant>

#include "server/ledger/ledger_rules.h"
#include "server/store/ledger_sql.h"
#include "server/store/sql_store.h"

namespace tollgate::server {
namespace {

// A batch meeting a transient conflict (deadlock, serialization failure, an idempotency key
// inserted concurrently by another process) is retried this many times in all, with jittered
// backoff up to kRetryBackoffMax.
constexpr int kBatchAttemptsMax = 5;
constexpr std::chrono::milliseconds kRetryBackoffMax{20};

// Expired holds settled per ExpireHoldsCommand; the rest wait for the next sweep.
constexpr int64_t kExpireHoldsPerBatch = 500;

struct StoredIdempotency {
  std::string request_hash;
  std::string outcome;          // from an earlier batch
  size_t command = kNoCommand;  // or the command earlier in this batch that answers it
};

// A command's target account, if it names one directly.
std::optional<AccountKey> account_of(const LedgerCommandBody& body) {
  return std::visit(
      [](const auto& command) -> std::optional<AccountKey> {
        using T = std::decay_t<decltype(command)>;
        if constexpr (std::is_same_v<T, MeterCommand> || std::is_same_v<T, CreditCommand> ||
                      std::is_same_v<T, UpdateAccountCommand> ||
                      std::is_same_v<T, ReserveCommand> || std::is_same_v<T, AllowanceCommand> ||
                      std::is_same_v<T, ClawbackCommand>) {
          return AccountKey{command.project_id, command.user_id};
        } else {
          return std::nullopt;
        }
      },
      body);
}

class LedgerBatch {
 public:
  LedgerBatch(SqlConnection& db, const LedgerSql& sql, int64_t now_ms)
      : statements_(db),
        sql_(sql),
        now_ms_(now_ms),
        stored_{[this](const Account& a) { return stored_open_credits(a); },
                [this](const ReserveCommand& reserve, const InvocationLimit& limit) {
                  return stored_invocations(reserve, limit);
                },
                [this](const MarkKey& key) { return stored_mark(key); }} {}
  LedgerBatch(const LedgerBatch&) = delete;  // stored_ points back at it
  LedgerBatch& operator=(const LedgerBatch&) = delete;

  // `decided` (may be empty) gets the outcomes just before the commit.
  Result<std::vector<LedgerOutcome>> run(std::span<const LedgerCommand> commands,
                                         const Store::Decided& decided) {
    if (auto begun = sql_.begin(statements_); !begun) return begun.error();
    if (auto locked = lock_rows(commands); !locked) return locked.error();
    if (auto loaded = load_idempotency(commands); !loaded) return loaded.error();
    std::vector<LedgerOutcome> outcomes;
    outcomes.reserve(commands.size());
    for (size_t i = 0; i < commands.size(); ++i) outcomes.push_back(decide_one(commands[i], i));
    if (decide_error_) return *decide_error_;  // a read while deciding failed: roll back
    if (auto written = write(commands, outcomes); !written) return written.error();
    if (decided) decided(outcomes);
    if (auto committed = query("COMMIT"); !committed) return committed.error();
    return outcomes;
  }

  bool idempotency_race() const { return idempotency_race_; }

 private:
  Result<SqlRows> query(std::string_view sql, const SqlParams& params = {}) {
    return statements_.query(sql, params);
  }
  void defer(std::string sql, SqlParams params) {
    statements_.defer(std::move(sql), std::move(params));
  }

  // ---- 1. Locks ----------------------------------------------------------------------------

  Result<void> lock_rows(std::span<const LedgerCommand> commands) {
    std::set<std::string> hold_ids;
    std::set<AccountKey> accounts;
    std::set<std::string> budget_projects;  // projects whose budget counters change
    std::set<std::string> keys;             // user keys whose spend changes
    bool expire = false;
    for (const LedgerCommand& command : commands) {
      if (const auto* credit = std::get_if<KeyCreditCommand>(&command.body))
        keys.insert(credit->key_id);
      if (auto account = account_of(command.body)) accounts.insert(*account);
      if (const auto* settle = std::get_if<SettleCommand>(&command.body))
        hold_ids.insert(settle->hold_id);
      if (const auto* release = std::get_if<ReleaseCommand>(&command.body))
        hold_ids.insert(release->hold_id);
      if (const auto* reserve = std::get_if<ReserveCommand>(&command.body)) {
        hold_ids.insert(reserve->hold_id);  // to refuse a reused id
        budget_projects.insert(reserve->project_id);
        if (reserve->key) keys.insert(reserve->key->key_id);
      }
      if (std::holds_alternative<ExpireHoldsCommand>(command.body)) expire = true;
    }
    for (const std::string& id : hold_ids) {
      std::string sql = "SELECT " + std::string(kHoldColumns) + " FROM holds WHERE id = $1";
      auto rows = query(sql.append(sql_.lock_rows()), {id});
      if (!rows) return rows.error();
      if (!rows.value().empty()) add_hold(rows.value(), 0);
    }
    if (expire) {
      std::string sql = "SELECT " + std::string(kHoldColumns) +
                        " FROM holds WHERE status = 'open' AND expires_at_ms <= $1 ORDER BY id "
                        "LIMIT $2";
      auto rows = query(sql.append(sql_.lock_expired_holds()), {now_ms_, kExpireHoldsPerBatch});
      if (!rows) return rows.error();
      for (size_t r = 0; r < rows.value().size(); ++r) {
        book_.expired.push_back(rows.value().text(r, 0));
        add_hold(rows.value(), r);
      }
    }
    for (const auto& [id, state] : book_.holds) {
      accounts.insert({state.hold.project_id, state.hold.user_id});
      if (state.hold.status == "open") budget_projects.insert(state.hold.project_id);
      if (state.hold.status == "open" && !state.hold.key_id.empty()) keys.insert(state.hold.key_id);
    }
    // Settings are read up front only where a decision needs them (budgets, plans); a batch of
    // meters on known accounts never reads its project at all.
    std::set<std::string> needs_settings = budget_projects;
    for (const LedgerCommand& command : commands) {
      if (const auto* update = std::get_if<UpdateAccountCommand>(&command.body))
        needs_settings.insert(update->project_id);
      if (const auto* allowance = std::get_if<AllowanceCommand>(&command.body);
          allowance != nullptr && allowance->plan) {
        needs_settings.insert(allowance->project_id);
      }
    }
    for (const std::string& project : needs_settings) {
      if (auto loaded = load_project(project, budget_projects.count(project) > 0); !loaded)
        return loaded.error();
    }
    std::map<std::string, std::vector<std::string>> users_by_project;  // sorted: lock order
    for (const auto& [project, user] : accounts) users_by_project[project].push_back(user);
    for (const auto& [project, users] : users_by_project) {
      if (auto locked = lock_accounts(project, users); !locked) return locked;
    }
    return lock_keys(keys);
  }

  // Locks the user keys in id order with one statement. A key that is not there is simply not
  // in the book: the commands naming it are refused.
  Result<void> lock_keys(const std::set<std::string>& ids) {
    if (ids.empty()) return {};
    auto rows = query("SELECT " + std::string(kUserKeyColumns) + " FROM user_keys WHERE " +
                          sql_.in_list("id", 1) + " ORDER BY id" + std::string(sql_.lock_rows()),
                      {sql_.text_list({ids.begin(), ids.end()})});
    if (!rows) return rows.error();
    for (size_t r = 0; r < rows.value().size(); ++r) {
      UserKey key = read_user_key(rows.value(), r);
      std::string id = key.id;
      book_.keys.emplace(std::move(id), KeyState{std::move(key), false});
    }
    return {};
  }

  // Reads (and with `lock`, locks) a project's settings and budget counters once per batch.
  // False when there is no such project: its commands then fail with kNotFound.
  Result<bool> load_project(const std::string& project, bool lock) {
    if (book_.projects.count(project)) return true;
    std::string sql =
        "SELECT settings, period_start_ms, period_spent_micros, held_micros FROM projects "
        "WHERE id = $1";
    auto rows = query(sql.append(lock ? sql_.lock_project() : ""), {project});
    if (!rows) return rows.error();
    if (rows.value().empty()) return false;
    ProjectState& state = book_.projects[project];
    state.settings = settings_from_json(rows.value().text(0, 0));
    state.spend = {rows.value().int64(0, 1), rows.value().int64(0, 2), rows.value().int64(0, 3)};
    state.locked = lock;
    ProjectSpend& spend = state.spend;
    if (roll_period(spend.period_start_ms, spend.period_spent_micros, month_start_ms(now_ms_)))
      state.dirty = lock;
    return true;
  }

  // Locks a project's accounts in user-id order with one statement, first creating (in one more
  // statement) those seen for the first time, with the project's starting credits.
  Result<void> lock_accounts(const std::string& project, const std::vector<std::string>& users) {
    auto select = [&](const std::vector<std::string>& which) {
      return query("SELECT " + std::string(kAccountColumns) +
                       " FROM accounts WHERE project_id = $1 AND " + sql_.in_list("user_id", 2) +
                       " ORDER BY user_id" + std::string(sql_.lock_rows()),
                   {project, sql_.text_list(which)});
    };
    auto rows = select(users);
    if (!rows) return rows.error();
    std::set<std::string> found;
    for (size_t r = 0; r < rows.value().size(); ++r) add_account(rows.value(), r, found);
    std::vector<std::string> missing;
    for (const std::string& user : users) {
      if (!found.count(user)) missing.push_back(user);
    }
    if (missing.empty()) return {};
    auto exists = load_project(project, false);
    if (!exists) return exists.error();
    if (!exists.value()) return {};  // no project: no accounts, and its commands get kNotFound
    int64_t starting = book_.projects[project].settings.starting_credits;
    auto created = query(
        "INSERT INTO accounts (project_id, user_id, plan, balance, purchased, period_start_ms, "
        "created_at_ms, updated_at_ms) SELECT $1, u.value, 'free', $3, $3, $4, $5, $5 FROM " +
            sql_.list_rows(2) +
            " AS u ORDER BY u.value ON CONFLICT (project_id, user_id) DO NOTHING RETURNING user_id",
        {project, sql_.text_list(missing), starting, month_start_ms(now_ms_), now_ms_});
    if (!created) return created.error();
    for (size_t r = 0; r < created.value().size(); ++r) {
      if (auto grant = starting_grant({project, created.value().text(r, 0)}, starting))
        book_.entries.push_back(std::move(*grant));
    }
    // Rows another process created meanwhile are locked here along with ours.
    rows = select(missing);
    if (!rows) return rows.error();
    for (size_t r = 0; r < rows.value().size(); ++r) add_account(rows.value(), r, found);
    if (found.size() != users.size()) return fail(ErrorCode::kStoreUnavailable, "account vanished");
    return {};
  }

  void add_account(const SqlRows& rows, size_t r, std::set<std::string>& found) {
    AccountState state{read_account(rows, r), false};
    Account& a = state.account;
    if (roll_period(a.period_start_ms, a.period_spent_micros, month_start_ms(now_ms_)))
      state.dirty = true;
    found.insert(a.user_id);
    book_.accounts.emplace(AccountKey{a.project_id, a.user_id}, std::move(state));
  }

  void add_hold(const SqlRows& rows, size_t r) {
    HoldState state;
    state.hold = read_hold(rows, r);
    book_.holds.emplace(state.hold.id, std::move(state));
  }

  Result<void> load_idempotency(std::span<const LedgerCommand> commands) {
    for (const LedgerCommand& command : commands) {
      if (!command.idempotency) continue;
      const Idempotency& idem = *command.idempotency;
      auto rows = query(
          "SELECT request_hash, outcome FROM idempotency "
          "WHERE scope = $1 AND key = $2 AND created_at_ms >= $3",
          {idem.scope, idem.key, now_ms_ - kIdempotencyRetentionMs});
      if (!rows) return rows.error();
      if (!rows.value().empty()) {
        idempotency_[{idem.scope, idem.key}] = {rows.value().text(0, 0), rows.value().text(0, 1)};
      }
    }
    return {};
  }

  // ---- 2. Decisions ------------------------------------------------------------------------

  // A command with an Idempotency-Key seen before is answered from its record; any other is
  // decided by the rules, and its change becomes part of the book for the commands after it.
  LedgerOutcome decide_one(const LedgerCommand& command, size_t index) {
    if (command.idempotency) {
      const Idempotency& idem = *command.idempotency;
      auto stored = idempotency_.find({idem.scope, idem.key});
      if (stored != idempotency_.end()) {
        if (auto mismatch = idempotency_mismatch(stored->second.request_hash, idem)) {
          LedgerOutcome refused;
          refused.error = std::move(*mismatch);
          return refused;
        }
        if (stored->second.command != kNoCommand) {
          replays_.emplace_back(index, stored->second.command);  // filled in after the writes
          return {};
        }
        LedgerOutcome replay = outcome_from_json(stored->second.outcome);
        replay.replayed = true;
        return replay;
      }
    }
    LedgerDecision decision = decide(book_, command.body, {now_ms_, index, stored_});
    if (decision.read_error) decide_error_ = std::move(decision.read_error);
    apply(book_, std::move(decision.change));
    if (command.idempotency) {
      const Idempotency& idem = *command.idempotency;
      idempotency_[{idem.scope, idem.key}] = {idem.request_hash, "", index};
      new_idempotency_.push_back({idem.scope, idem.key, idem.request_hash, index});
    }
    return std::move(decision.outcome);
  }

  // The stored counts the rules ask for (StoredHolds). The rows they count cannot change
  // meanwhile: the account's row, or the project's, is locked.
  Result<Int128> stored_open_credits(const Account& a) {
    auto rows = query("SELECT " + split_sum("credits") +
                          " FROM holds WHERE project_id = $1 AND user_id = $2 AND status = 'open'",
                      {a.project_id, a.user_id});
    if (!rows) return rows.error();
    return read_split_sum(rows.value(), 0, 0);
  }

  Result<std::optional<int64_t>> stored_mark(const MarkKey& key) {
    auto rows = query("SELECT value FROM ledger_marks WHERE project_id = $1 AND mark = $2",
                      {key.first, key.second});
    if (!rows) return rows.error();
    if (rows.value().empty()) return std::optional<int64_t>();
    return std::optional<int64_t>(rows.value().int64(0, 0));
  }

  Result<int64_t> stored_invocations(const ReserveCommand& reserve, const InvocationLimit& limit) {
    std::string sql =
        "SELECT count(*) FROM holds WHERE project_id = $1 AND operation = $2 AND "
        "created_at_ms >= $3 AND status <> 'released'";
    SqlParams params{reserve.project_id, reserve.operation, limit.since_ms};
    if (limit.per_user) {
      sql += " AND user_id = $4";
      params.push_back(reserve.user_id);
    }
    auto rows = query(sql, params);
    if (!rows) return rows.error();
    return rows.value().int64(0, 0);
  }

  // ---- 3. Writes ---------------------------------------------------------------------------

  Result<void> write(std::span<const LedgerCommand> commands,
                     std::vector<LedgerOutcome>& outcomes) {
    if (auto written = sql_.insert_entries(statements_, book_.entries, commands, outcomes, now_ms_);
        !written) {
      return written;
    }
    if (auto written = sql_.update_accounts(statements_, book_.accounts, now_ms_); !written) {
      return written;
    }
    for (const auto& [id, state] : book_.projects) {
      if (!state.dirty || !state.locked) continue;
      defer(
          "UPDATE projects SET period_start_ms = $2, period_spent_micros = $3, held_micros = $4 "
          "WHERE id = $1",
          {id, state.spend.period_start_ms, state.spend.period_spent_micros,
           state.spend.held_micros});
    }
    for (const auto& [id, state] : book_.holds) {
      const Hold& h = state.hold;
      if (state.is_new) {
        defer(
            "INSERT INTO holds (id, project_id, user_id, credits, allowance_credits, micros, "
            "status, expires_at_ms, created_at_ms, operation, key_id, model) "
            "VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8, $9, $10, $11)",
            {h.id, h.project_id, h.user_id, h.credits, h.allowance_credits, h.micros,
             h.expires_at_ms, now_ms_, nullable_text(h.operation), nullable_text(h.key_id),
             nullable_text(h.model)});
      }
      if (state.dirty) {
        defer(
            "UPDATE holds SET status = $2, settled_credits = $3, settled_micros = $4, "
            "input_tokens = $5, output_tokens = $6, model = $7 WHERE id = $1",
            {h.id, h.status, state.settled_credits, state.settled_micros, state.input_tokens,
             state.output_tokens, nullable_text(h.model)});
      }
    }
    for (const auto& [id, state] : book_.keys) {
      if (!state.dirty) continue;
      const KeySpend& s = state.key.spend;
      defer(
          "UPDATE user_keys SET period_start_ms = $2, period_spent_micros = $3, "
          "period_credit_micros = $4, held_micros = $5, lifetime_micros = $6, updated_at_ms = $7 "
          "WHERE id = $1",
          {id, s.period_start_ms, s.period_spent_micros, s.period_credit_micros, s.held_micros,
           s.lifetime_micros, now_ms_});
    }
    for (const PendingKeyCredit& credit : book_.key_credits) {
      defer(
          "INSERT INTO key_credits (project_id, key_id, micros, reason, period_start_ms, "
          "created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
          {credit.project_id, credit.key_id, credit.micros, credit.reason, credit.period_start_ms,
           now_ms_});
    }
    // A mark is set once, by the batch that holds its account's lock; an update is a clawback's
    // progress.
    for (const auto& [key, value] : book_.marks) {
      defer(
          "INSERT INTO ledger_marks (project_id, mark, value, created_at_ms) "
          "VALUES ($1, $2, $3, $4) ON CONFLICT (project_id, mark) DO UPDATE SET value = "
          "excluded.value",
          {key.first, key.second, value, now_ms_});
    }
    if (auto claimed = claim_idempotency(outcomes); !claimed) return claimed;
    for (const auto& [index, source] : replays_) {
      outcomes[index] = outcomes[source];
      outcomes[index].replayed = true;
    }
    return {};
  }

  // Stores each new Idempotency-Key with its outcome, in key order, so two batches claiming the
  // same keys cannot wait on each other in a cycle.
  Result<void> claim_idempotency(const std::vector<LedgerOutcome>& outcomes) {
    std::sort(new_idempotency_.begin(), new_idempotency_.end(),
              [](const NewIdempotency& a, const NewIdempotency& b) {
                return std::tie(a.scope, a.key) < std::tie(b.scope, b.key);
              });
    for (const auto& record : new_idempotency_) {
      // Drop an expired record for the same key, then claim it; a concurrent claim by another
      // process makes the insert return nothing, and the batch is retried to replay it.
      defer("DELETE FROM idempotency WHERE scope = $1 AND key = $2 AND created_at_ms < $3",
            {record.scope, record.key, now_ms_ - kIdempotencyRetentionMs});
      auto rows = query(
          "INSERT INTO idempotency (scope, key, request_hash, outcome, created_at_ms) "
          "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (scope, key) DO NOTHING RETURNING key",
          {record.scope, record.key, record.request_hash, outcome_to_json(outcomes[record.command]),
           now_ms_});
      if (!rows) return rows.error();
      if (rows.value().empty()) {
        idempotency_race_ = true;
        return fail(ErrorCode::kStoreUnavailable, "idempotency key claimed concurrently");
      }
    }
    return {};
  }

  struct NewIdempotency {
    std::string scope, key, request_hash;
    size_t command = 0;  // whose outcome is stored
  };

  BatchStatements statements_;
  const LedgerSql& sql_;
  int64_t now_ms_;
  StoredHolds stored_;
  LedgerBook book_;
  std::optional<Error> decide_error_;
  std::map<std::pair<std::string, std::string>, StoredIdempotency> idempotency_;
  std::vector<NewIdempotency> new_idempotency_;
  std::vector<std::pair<size_t, size_t>> replays_;  // (command, the earlier command it repeats)
  bool idempotency_race_ = false;
};

std::chrono::milliseconds retry_delay() {
  thread_local std::mt19937 rng{std::random_device{}()};
  return std::chrono::milliseconds(
      std::uniform_int_distribution<int64_t>(1, kRetryBackoffMax.count())(rng));
}

}  // namespace

Result<std::vector<LedgerOutcome>> SqlStore::apply(std::span<const LedgerCommand> commands,
                                                   int64_t now_ms, const Decided& decided) {
  auto leased = lease();
  if (!leased) return leased.error();
  Lease& db = leased.value();
  Error last = fail(ErrorCode::kStoreUnavailable, "ledger batch not attempted");
  bool told = false;  // `decided` hears from the first attempt that gets to its commit
  Decided once;
  if (decided) {
    once = [&](const std::vector<LedgerOutcome>& outcomes) {
      if (told) return;
      told = true;
      decided(outcomes);
    };
  }
  for (int attempt = 1; attempt <= kBatchAttemptsMax; ++attempt) {
    LedgerBatch batch(*db, ledger_sql_, now_ms);
    auto outcomes = batch.run(commands, once);
    if (outcomes) return outcomes;
    last = outcomes.error();
    // Read before ROLLBACK, which is a statement of its own and resets the flag.
    bool retryable = batch.idempotency_race() || db->last_error_retryable();
    db->rollback();
    if (!retryable) break;
    std::this_thread::sleep_for(retry_delay());
  }
  db.mark_broken();
  return last;
}

}  // namespace tollgate::server
