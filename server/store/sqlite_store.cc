#include "server/store/sqlite_store.h"

#include <chrono>
#include <thread>

namespace tollgate::server {
namespace {

// How long a statement waits on a lock held by another connection (e.g. a backup tool).
constexpr int kBusyTimeoutMs = 5'000;

constexpr const char* kSchemaVersionSql = "SELECT max(version) FROM schema_migrations";

// Switching to WAL can report "database is locked" at once, without consulting the busy
// timeout, while another process opens the same fresh file; retry it this often, this far apart.
constexpr int kJournalModeAttemptsMax = 100;
constexpr std::chrono::milliseconds kJournalModeRetryDelay{20};

Error sqlite_error(sqlite3* db, std::string_view what) {
  std::string detail = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
  return fail(ErrorCode::kStoreUnavailable, std::string(what) + ": " + detail);
}

Result<void> exec(sqlite3* db, const char* sql, std::string_view what) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string detail = message != nullptr ? message : "unknown error";
    sqlite3_free(message);
    return fail(ErrorCode::kStoreUnavailable, std::string(what) + ": " + detail);
  }
  return {};
}

// The single integer a query returns, or `fallback` when it returns no row.
Result<int64_t> query_int(sqlite3* db, const char* sql, int64_t fallback) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) != SQLITE_OK)
    return sqlite_error(db, "prepare");
  int rc = sqlite3_step(stmt);
  int64_t value = fallback;
  if (rc == SQLITE_ROW && sqlite3_column_type(stmt, 0) != SQLITE_NULL)
    value = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sqlite_error(db, "query");
  return value;
}

}  // namespace

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path,
                                                       std::span<const Migration> migrations) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    Error error = sqlite_error(db, "cannot open database " + path);
    sqlite3_close(db);
    error.code = ErrorCode::kIoError;
    error.param = "--data-dir";
    return error;
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore(db));
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  // WAL lets readers run beside the writer; FULL sync makes an acknowledged commit durable.
  const char* pragmas =
      path == ":memory:"
          ? "PRAGMA foreign_keys=ON;"
          : "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;";
  auto ok = exec(db, pragmas, "configure database " + path);
  for (int attempt = 1;
       !ok && attempt < kJournalModeAttemptsMax && sqlite3_errcode(db) == SQLITE_BUSY; ++attempt) {
    std::this_thread::sleep_for(kJournalModeRetryDelay);
    ok = exec(db, pragmas, "configure database " + path);
  }
  if (!ok) {
    Error error = ok.error();
    error.code = ErrorCode::kIoError;
    error.param = "--data-dir";
    return error;
  }
  if (auto migrated = store->migrate(migrations); !migrated) return migrated.error();
  return store;
}

SqliteStore::~SqliteStore() { sqlite3_close(db_); }

Result<void> SqliteStore::migrate(std::span<const Migration> migrations) {
  std::lock_guard lock(mutex_);
  auto created = exec(
      db_,
      "CREATE TABLE IF NOT EXISTS schema_migrations ("
      " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms INTEGER NOT NULL) STRICT",
      "create schema_migrations");
  if (!created) {
    Error error = created.error();
    // The first write: failing here means the file is not writable.
    error.code = ErrorCode::kIoError;
    error.param = "--data-dir";
    return error;
  }
  int64_t newest = migrations.empty() ? 0 : migrations.back().version;
  if (auto current = current_version(newest); !current) return current.error();
  for (const Migration& migration : migrations) {
    if (auto applied = apply_one(migration, newest); !applied) {
      (void)exec(db_, "ROLLBACK", "rollback");
      return applied.error();
    }
  }
  return {};
}

Result<int64_t> SqliteStore::current_version(int64_t newest) {
  auto current = query_int(db_, kSchemaVersionSql, 0);
  if (!current) return current.error();
  if (current.value() > newest) {
    return fail(ErrorCode::kStoreUnavailable, "database schema version " +
                                                  std::to_string(current.value()) +
                                                  " is newer than this tollgate understands (" +
                                                  std::to_string(newest) + "); upgrade tollgate");
  }
  return current;
}

Result<void> SqliteStore::apply_one(const Migration& migration, int64_t newest) {
  // The version is read inside the write transaction, so two processes starting on one fresh
  // database apply each migration exactly once.
  if (auto begun = exec(db_, "BEGIN IMMEDIATE", "begin migration"); !begun) return begun.error();
  auto current = current_version(newest);
  if (!current) return current.error();
  std::string what = "migration " + std::to_string(migration.version);
  if (migration.version > current.value()) {
    std::string sql = std::string(migration.sql) +
                      "\nINSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (" +
                      std::to_string(migration.version) + ", '" + std::string(migration.name) +
                      "', " + std::string(kNowMsSql) + ");";
    if (auto applied = exec(db_, sql.c_str(), what); !applied) return applied.error();
  }
  return exec(db_, "COMMIT", what);
}

Result<int64_t> SqliteStore::schema_version() {
  std::lock_guard lock(mutex_);
  return query_int(db_, kSchemaVersionSql, 0);
}

Result<void> SqliteStore::ping() {
  std::lock_guard lock(mutex_);
  auto one = query_int(db_, "SELECT 1", 0);
  if (!one) return one.error();
  return {};
}

}  // namespace tollgate::server
