// SqlConnection over one PostgreSQL connection, through libpq. Transactions are plain
// BEGIN/COMMIT statements, so the store drives SQLite and PostgreSQL the same way.
//
// Works behind a transaction-pooling proxy (pgbouncer in `pool_mode = transaction`), where each
// transaction may run on a different server connection:
// - every statement is sent unnamed with bound parameters (no named prepared statements, which
//   pgbouncer 1.18 does not carry from one server connection to the next), and user text is
//   never part of the SQL;
// - nothing is kept in the session: the statement timeout is set with
//   set_config(…, is_local => true) in the round trip that starts each transaction, so it ends
//   with that transaction instead of leaking to the next client of the server connection.
// Several statements travel in one round trip through libpq's pipeline mode (query_after).
//
// Every call is bounded twice: the server cancels a statement running longer than
// kStatementTimeoutMs, and the client gives up on a call still unanswered kClientDeadlineMs after
// it started (a frozen server, a cut network). The connection is then dead: every later call
// fails at once, and the store replaces it.
//
// Errors never echo the password of the URL: libpq does not, and the URL's password is also
// masked in every message taken from libpq.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "server/store/sql.h"

struct pg_conn;  // libpq's PGconn

namespace tollgate::server {

inline constexpr int kPostgresConnectTimeoutS = 5;  // unless the URL sets connect_timeout
inline constexpr int64_t kStatementTimeoutMs = 10'000;
inline constexpr int64_t kClientDeadlineMs = kStatementTimeoutMs + 5'000;

class PgConnection final : public SqlConnection {
 public:
  // Connects to `url` (a libpq URL or key=value string), bounded by kPostgresConnectTimeoutS.
  // kStoreUnavailable (param "DATABASE_URL") when it cannot.
  static Result<std::unique_ptr<PgConnection>> open(const std::string& url);
  ~PgConnection() override;
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  SqlDialect dialect() const override { return SqlDialect::kPostgres; }
  Result<SqlRows> query(std::string_view sql, const SqlParams& params = {}) override;
  Result<void> exec_script(std::string_view sql) override;
  // All statements in one round trip (one pipeline, one sync point).
  Result<SqlRows> query_after(std::span<const SqlStatement> before, std::string_view sql,
                              const SqlParams& params = {}) override;
  bool last_error_retryable() const override { return retryable_; }

 private:
  PgConnection(pg_conn* connection, std::string url);
  Result<SqlRows> pipeline(std::span<const SqlStatement> before, std::string_view sql,
                           const SqlParams& params);
  Result<SqlRows> pipeline_results(size_t sent, int64_t deadline_ms);
  // Sends what libpq has buffered and waits until a result can be read without blocking.
  Result<void> await_result(int64_t deadline_ms);
  // The connection cannot be used again: `why` (masked) is the error of this and every later
  // call.
  Error dead(std::string why);
  std::string masked(std::string message) const;

  pg_conn* connection_;
  std::string url_;   // kept only to mask its password in messages
  std::string dead_;  // non-empty once the connection is unusable
  bool retryable_ = false;
};

// `message` with every form of the password in `url` (as written, and percent-decoded) replaced
// by "[password]". For error messages from libpq, which may quote the URL it could not parse.
std::string mask_password(std::string message, const std::string& url);

}  // namespace tollgate::server
