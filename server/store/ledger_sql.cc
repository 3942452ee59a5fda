#include "server/store/ledger_sql.h"

#include <utility>

namespace tollgate::server {

Result<SqlRows> BatchStatements::query(std::string_view sql, const SqlParams& params) {
  if (deferred_.empty()) return db_.query(sql, params);
  std::vector<SqlStatement> before;
  before.swap(deferred_);
  return db_.query_after(before, sql, params);
}

void BatchStatements::defer(std::string sql, SqlParams params) {
  deferred_.push_back({std::move(sql), std::move(params)});
}

const LedgerSql& LedgerSql::of(SqlDialect dialect) {
  switch (dialect) {
    case SqlDialect::kSqlite:
      return sqlite_ledger_sql();
    case SqlDialect::kPostgres:
      return postgres_ledger_sql();
  }
  return sqlite_ledger_sql();  // not reached: the switch names every dialect
}

}  // namespace tollgate::server
