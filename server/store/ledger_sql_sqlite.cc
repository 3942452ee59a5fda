// The ledger batch on SQLite: BEGIN IMMEDIATE makes the batch the single writer, so its reads
// take no row locks, and as the database runs in-process each row is one cached statement.
#include <nlohmann/json.hpp>

#include "server/store/ledger_sql.h"

namespace tollgate::server {
namespace {

using json = nlohmann::json;

class SqliteLedgerSql final : public LedgerSql {
 public:
  Result<void> begin(BatchStatements& statements) const override {
    return statements.connection().begin_write();
  }

  std::string_view lock_rows() const override { return ""; }
  std::string_view lock_project() const override { return ""; }
  std::string_view lock_expired_holds() const override { return ""; }

  // A JSON array, read with json_each.
  SqlValue text_list(const std::vector<std::string>& texts) const override {
    return json(texts).dump(-1, ' ', false, json::error_handler_t::replace);
  }
  std::string in_list(std::string_view column, int param) const override {
    std::string sql(column);
    return sql.append(" IN ").append(list_rows(param));
  }
  std::string list_rows(int param) const override {
    std::string sql = "(SELECT value FROM json_each($";
    return sql.append(std::to_string(param)).append("))");
  }

  // Only a credit's entry reads its sequence number back (RETURNING costs about a third more
  // per row).
  Result<void> insert_entries(BatchStatements& statements, const std::vector<PendingEntry>& entries,
                              std::span<const LedgerCommand> commands,
                              std::vector<LedgerOutcome>& outcomes, int64_t now_ms) const override {
    static const std::string kInsert =
        "INSERT INTO ledger (project_id, user_id, kind, pool, amount, balance_after, event, "
        "reason, hold_id, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
    static const std::string kInsertReturning = kInsert + " RETURNING seq";
    for (const PendingEntry& entry : entries) {
      bool report = entry.command < commands.size() &&
                    std::holds_alternative<CreditCommand>(commands[entry.command].body);
      auto rows =
          statements.query(report ? kInsertReturning : kInsert,
                           {entry.account.first, entry.account.second, entry.kind,
                            std::string(pool_name(entry.pool)), entry.amount, entry.balance_after,
                            nullable_text(entry.event), nullable_text(entry.reason),
                            nullable_text(entry.hold_id), now_ms});
      if (!rows) return rows.error();
      if (report && entry.command < outcomes.size() && !rows.value().empty())
        outcomes[entry.command].entry_seq = rows.value().int64(0, 0);
    }
    return {};
  }

  Result<void> update_accounts(BatchStatements& statements,
                               const std::map<AccountKey, AccountState>& accounts,
                               int64_t now_ms) const override {
    for (const auto& [key, state] : accounts) {
      if (!state.dirty) continue;
      const Account& a = state.account;
      auto rows = statements.query(
          "UPDATE accounts SET plan = $3, balance = $4, spend_cap_micros = $5, "
          "period_start_ms = $6, period_spent_micros = $7, held_micros = $8, updated_at_ms = $9, "
          "allowance = $10, purchased = $11 WHERE project_id = $1 AND user_id = $2",
          {key.first, key.second, a.plan, a.balance, nullable(a.spend_cap_micros),
           a.period_start_ms, a.period_spent_micros, a.held_micros, now_ms, a.allowance,
           a.purchased});
      if (!rows) return rows.error();
    }
    return {};
  }
};

}  // namespace

const LedgerSql& sqlite_ledger_sql() {
  static const SqliteLedgerSql kSqlite;
  return kSqlite;
}

}  // namespace tollgate::server
