// SqlConnection over one SQLite database handle, with a cache of prepared statements.
#pragma once

#include <sqlite3.h>

#include <map>
#include <memory>
#include <string>

#include "server/store/sql.h"

namespace tollgate::server {

class SqliteConnection final : public SqlConnection {
 public:
  // Opens (creating if needed) the file at `path`, or an in-memory database for ":memory:", in
  // WAL mode with synchronous=FULL. kIoError (param "--data-dir") when it cannot.
  static Result<std::unique_ptr<SqliteConnection>> open(const std::string& path);
  ~SqliteConnection() override;

  SqlDialect dialect() const override { return SqlDialect::kSqlite; }
  Result<SqlRows> query(std::string_view sql, const SqlParams& params = {}) override;
  Result<void> exec_script(std::string_view sql) override;
  bool last_error_retryable() const override { return retryable_; }

 private:
  explicit SqliteConnection(sqlite3* db) : db_(db) {}
  Result<sqlite3_stmt*> prepare(std::string_view sql);
  Error error(std::string_view what);

  sqlite3* db_;
  std::map<std::string, sqlite3_stmt*, std::less<>> statements_;
  bool retryable_ = false;
};

}  // namespace tollgate::server
