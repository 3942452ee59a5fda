// The small SQL surface the store needs from a database: run one statement with positional
// parameters and read back integer and text cells. SQLite and PostgreSQL each implement it, so
// the ledger and every query above it are written once.
//
// Statements use PostgreSQL's `$1 … $n` placeholders; the SQLite connection rewrites them to
// `?1 … ?n`. A connection is not thread-safe: the store hands each one to a single caller at a
// time.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tollgate/core/result.h"

namespace tollgate::server {

using SqlValue = std::variant<std::nullptr_t, int64_t, std::string>;
using SqlParams = std::vector<SqlValue>;

// NULL for an empty optional (or an empty string), the value otherwise.
inline SqlValue nullable(const std::optional<int64_t>& value) {
  if (value) return *value;
  return nullptr;
}
inline SqlValue nullable_text(const std::string& value) {
  if (value.empty()) return nullptr;
  return value;
}

// A query's rows, read cell by cell. SQLite hands back typed cells; PostgreSQL hands back text,
// which int64() parses.
class SqlRows {
 public:
  SqlRows() = default;
  SqlRows(size_t columns, std::vector<SqlValue> cells)
      : columns_(columns), cells_(std::move(cells)) {}

  size_t size() const { return columns_ == 0 ? 0 : cells_.size() / columns_; }
  bool empty() const { return size() == 0; }
  bool is_null(size_t row, size_t column) const;
  int64_t int64(size_t row, size_t column) const;  // 0 for NULL
  std::string text(size_t row, size_t column) const;  // "" for NULL
  std::optional<int64_t> optional_int64(size_t row, size_t column) const;

 private:
  const SqlValue& cell(size_t row, size_t column) const;
  size_t columns_ = 0;
  std::vector<SqlValue> cells_;
};

enum class SqlDialect { kSqlite, kPostgres };

// A statement whose result nobody reads, queued to run ahead of the next query (query_after).
struct SqlStatement {
  std::string sql;
  SqlParams params;
};

class SqlConnection {
 public:
  virtual ~SqlConnection() = default;
  virtual SqlDialect dialect() const = 0;

  // Runs one statement. Every failure is kStoreUnavailable; last_error_retryable() then says
  // whether it was a transient lock conflict (deadlock, serialization, busy).
  virtual Result<SqlRows> query(std::string_view sql, const SqlParams& params = {}) = 0;

  // Runs a script of several statements without parameters (migrations).
  virtual Result<void> exec_script(std::string_view sql) = 0;

  // Runs `before` in order, then `sql`, and returns the rows of `sql`; the first failure stops
  // the rest. Every statement binds its parameters. PostgreSQL sends them all in one round trip
  // (libpq's pipeline mode), so a transaction's writes can travel with its COMMIT; elsewhere
  // they run one by one.
  virtual Result<SqlRows> query_after(std::span<const SqlStatement> before, std::string_view sql,
                                      const SqlParams& params = {});

  // True when the last failure was a transient lock conflict worth retrying the transaction for.
  virtual bool last_error_retryable() const = 0;

  // "BEGIN IMMEDIATE" on SQLite (take the write lock now), "BEGIN" on PostgreSQL.
  Result<void> begin_write();
  Result<void> commit() { return discard(query("COMMIT")); }
  void rollback() { (void)query("ROLLBACK"); }

  // " FOR UPDATE" where the database locks rows (PostgreSQL); SQLite has one writer already.
  std::string_view for_update() const {
    return dialect() == SqlDialect::kPostgres ? " FOR UPDATE" : "";
  }
  // A row lock that still lets foreign-key checks (FOR KEY SHARE) from other writers through:
  // for rows whose key never changes, such as a project whose counters a batch updates.
  std::string_view for_no_key_update() const {
    return dialect() == SqlDialect::kPostgres ? " FOR NO KEY UPDATE" : "";
  }

 private:
  static Result<void> discard(Result<SqlRows> rows) {
    if (!rows) return rows.error();
    return {};
  }
};

}  // namespace tollgate::server
