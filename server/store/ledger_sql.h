// What the ledger batch does differently on each database, behind one interface: how its
// transaction begins, how its reads lock rows, how a list of texts travels as one parameter,
// and how its entries and accounts are written. SQLite runs in-process as the single writer,
// so it takes one cached statement per row; PostgreSQL is a round trip away and serialises
// writers with row locks, so it sends a batch's rows in a few statements whatever their number.
// Every other statement of the batch is the same on both and lives in ledger_batch.cc.
#pragma once

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "server/ledger/ledger_rules.h"
#include "server/store/sql.h"
#include "server/store/store.h"

namespace tollgate::server {

// A batch's statements on its connection. Those whose results the batch does not read (BEGIN,
// the writes) are deferred and travel with the next query (SqlConnection::query_after). On
// PostgreSQL, where each statement is a round trip, a batch of meters on known accounts so
// takes two: BEGIN with the row locks, and the writes with COMMIT. SQLite runs in-process and
// runs them one by one. Not thread-safe, as its connection is not.
class BatchStatements {
 public:
  explicit BatchStatements(SqlConnection& db) : db_(db) {}

  // Runs the deferred statements, then this one; the first failure stops the rest.
  Result<SqlRows> query(std::string_view sql, const SqlParams& params = {});
  void defer(std::string sql, SqlParams params);
  SqlConnection& connection() const { return db_; }

 private:
  SqlConnection& db_;
  std::vector<SqlStatement> deferred_;
};

// Stateless: one shared instance per dialect, for any number of batches at once.
class LedgerSql {
 public:
  virtual ~LedgerSql() = default;

  // The variant for `dialect`.
  static const LedgerSql& of(SqlDialect dialect);

  // Opens the batch's transaction (at once, or deferred to its first query).
  virtual Result<void> begin(BatchStatements& statements) const = 0;

  // What ends a SELECT that locks the rows it reads: holds by id and accounts; a project, whose
  // key never changes (so other writers' foreign-key checks pass); the open holds past their
  // expiry, skipping those another batch holds. Empty where the batch is the single writer.
  virtual std::string_view lock_rows() const = 0;
  virtual std::string_view lock_project() const = 0;
  virtual std::string_view lock_expired_holds() const = 0;

  // A list of texts as one parameter, and SQL reading the parameter numbered `param`:
  // `column` matched against it, or its texts as rows of one column named `value`.
  virtual SqlValue text_list(const std::vector<std::string>& texts) const = 0;
  virtual std::string in_list(std::string_view column, int param) const = 0;
  virtual std::string list_rows(int param) const = 0;

  // Writes the batch's entries, and sets entry_seq on the outcomes whose answer shows it: a
  // credit's, always; on PostgreSQL, in a batch holding a credit, every command's last entry.
  virtual Result<void> insert_entries(BatchStatements& statements,
                                      const std::vector<PendingEntry>& entries,
                                      std::span<const LedgerCommand> commands,
                                      std::vector<LedgerOutcome>& outcomes,
                                      int64_t now_ms) const = 0;

  // Writes back the accounts a decision changed (the dirty ones).
  virtual Result<void> update_accounts(BatchStatements& statements,
                                       const std::map<AccountKey, AccountState>& accounts,
                                       int64_t now_ms) const = 0;
};

// The two variants (ledger_sql_sqlite.cc, ledger_sql_postgres.cc).
const LedgerSql& sqlite_ledger_sql();
const LedgerSql& postgres_ledger_sql();

}  // namespace tollgate::server
