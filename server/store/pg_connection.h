// SqlConnection over one PostgreSQL connection (libpqxx). Transactions are plain BEGIN/COMMIT
// statements, so the store drives SQLite and PostgreSQL the same way.
#pragma once

#include <memory>
#include <string>

#include "server/store/sql.h"

namespace tollgate::server {

class PgConnection final : public SqlConnection {
 public:
  // Connects to `url` (a libpq URL or key=value string), bounded by kConnectTimeoutS.
  // kStoreUnavailable (param "DATABASE_URL") when it cannot.
  static Result<std::unique_ptr<PgConnection>> open(const std::string& url);
  ~PgConnection() override;

  SqlDialect dialect() const override { return SqlDialect::kPostgres; }
  Result<SqlRows> query(std::string_view sql, const SqlParams& params = {}) override;
  Result<void> exec_script(std::string_view sql) override;
  Result<SqlRows> query_after(std::span<const SqlStatement> before, std::string_view sql,
                              const SqlParams& params = {}) override;
  bool last_error_retryable() const override { return retryable_; }

 private:
  struct State;
  explicit PgConnection(std::unique_ptr<State> state);
  // The Error for the exception being handled; call only inside a catch block.
  Error failure(std::string_view what);
  // `sql` with each $n replaced by params[n-1] as an SQL literal, for a script.
  std::string inlined(std::string_view sql, const SqlParams& params);
  std::unique_ptr<State> state_;
  bool retryable_ = false;
};

}  // namespace tollgate::server
