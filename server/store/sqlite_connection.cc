#include "server/store/sqlite_connection.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "server/config/data_dir.h"
#include "server/store/sqlite_wal_vfs.h"

namespace tollgate::server {
namespace {

// How long a statement waits on a lock held by another connection or process.
constexpr int kBusyTimeoutMs = 5'000;

// Switching to WAL can report "database is locked" at once, without consulting the busy
// timeout, while another process opens the same fresh file; retry it this often, this far apart.
constexpr int kJournalModeAttemptsMax = 100;
constexpr std::chrono::milliseconds kJournalModeRetryDelay{20};

// Prepared statements kept per connection. Statement texts are fixed strings in the store, so
// the cache stays small; the bound only guards against a future caller building SQL per request.
constexpr size_t kStatementCacheMax = 512;

// `$1 … $n` (PostgreSQL) to `?1 … ?n` (SQLite's numbered form, which keeps the numbering).
std::string to_sqlite_placeholders(std::string_view sql) {
  std::string out(sql);
  for (char& c : out) {
    if (c == '$') c = '?';
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<SqliteConnection>> SqliteConnection::open(const std::string& path) {
  if (path != ":memory:") {
    // Created 0600 before SQLite sees it: SQLite would make it 0644, and gives its -wal and -shm
    // files the database's mode. An existing file is opened as it is.
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, kDataFileMode);
    if (fd >= 0) ::close(fd);
  }
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, coalescing_wal_vfs());
  std::unique_ptr<SqliteConnection> connection(new SqliteConnection(db));
  auto io_error = [&](Error error) {
    error.code = ErrorCode::kIoError;
    error.param = "--data-dir";
    return error;
  };
  if (rc != SQLITE_OK) return io_error(connection->error("cannot open database " + path));
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  // WAL lets readers run beside the writer; FULL sync makes an acknowledged commit durable.
  const char* pragmas =
      path == ":memory:"
          ? "PRAGMA foreign_keys=ON;"
          : "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;";
  auto ok = connection->exec_script(pragmas);
  for (int attempt = 1;
       !ok && attempt < kJournalModeAttemptsMax && sqlite3_errcode(db) == SQLITE_BUSY; ++attempt) {
    std::this_thread::sleep_for(kJournalModeRetryDelay);
    ok = connection->exec_script(pragmas);
  }
  if (!ok) return io_error(ok.error());
  return connection;
}

SqliteConnection::~SqliteConnection() {
  for (auto& [sql, statement] : statements_) sqlite3_finalize(statement);
  sqlite3_close(db_);
}

Error SqliteConnection::error(std::string_view what) {
  int code = db_ != nullptr ? sqlite3_errcode(db_) : SQLITE_NOMEM;
  retryable_ = code == SQLITE_BUSY || code == SQLITE_LOCKED;
  std::string detail = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
  return fail(ErrorCode::kStoreUnavailable, std::string(what) + ": " + detail);
}

Result<sqlite3_stmt*> SqliteConnection::prepare(std::string_view sql) {
  if (auto cached = statements_.find(sql); cached != statements_.end()) return cached->second;
  std::string text = to_sqlite_placeholders(sql);
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v2(db_, text.c_str(), static_cast<int>(text.size()), &statement,
                         nullptr) != SQLITE_OK) {
    return error("prepare");
  }
  if (statements_.size() >= kStatementCacheMax) {
    for (auto& [unused, old] : statements_) sqlite3_finalize(old);
    statements_.clear();
  }
  statements_.emplace(std::string(sql), statement);
  return statement;
}

Result<SqlRows> SqliteConnection::query(std::string_view sql, const SqlParams& params) {
  retryable_ = false;
  auto prepared = prepare(sql);
  if (!prepared) return prepared.error();
  sqlite3_stmt* statement = prepared.value();
  sqlite3_reset(statement);
  sqlite3_clear_bindings(statement);
  for (size_t i = 0; i < params.size(); ++i) {
    int index = static_cast<int>(i) + 1;
    int rc = SQLITE_OK;
    if (const auto* number = std::get_if<int64_t>(&params[i])) {
      rc = sqlite3_bind_int64(statement, index, *number);
    } else if (const auto* text = std::get_if<std::string>(&params[i])) {
      rc = sqlite3_bind_text(statement, index, text->data(), static_cast<int>(text->size()),
                             SQLITE_TRANSIENT);
    } else {
      rc = sqlite3_bind_null(statement, index);
    }
    if (rc != SQLITE_OK) return error("bind");
  }
  int columns = sqlite3_column_count(statement);
  std::vector<SqlValue> cells;
  int rc = SQLITE_OK;
  while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
    for (int c = 0; c < columns; ++c) {
      switch (sqlite3_column_type(statement, c)) {
        case SQLITE_INTEGER:
          cells.emplace_back(static_cast<int64_t>(sqlite3_column_int64(statement, c)));
          break;
        case SQLITE_NULL:
          cells.emplace_back(nullptr);
          break;
        default: {
          const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement, c));
          cells.emplace_back(std::string(text, static_cast<size_t>(sqlite3_column_bytes(statement, c))));
        }
      }
    }
  }
  if (rc != SQLITE_DONE) {
    Error failed = error("query");
    sqlite3_reset(statement);
    return failed;
  }
  sqlite3_reset(statement);
  return SqlRows(static_cast<size_t>(columns), std::move(cells));
}

Result<void> SqliteConnection::exec_script(std::string_view sql) {
  retryable_ = false;
  std::string text(sql);
  char* message = nullptr;
  if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    std::string detail = message != nullptr ? message : "unknown error";
    sqlite3_free(message);
    int code = sqlite3_errcode(db_);
    retryable_ = code == SQLITE_BUSY || code == SQLITE_LOCKED;
    return fail(ErrorCode::kStoreUnavailable, detail);
  }
  return {};
}

}  // namespace tollgate::server
