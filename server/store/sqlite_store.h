// The SQLite Store: one database file in WAL mode, writes in BEGIN IMMEDIATE transactions.
//
// A single connection guarded by a mutex is the single writer the ledger design relies on.
#pragma once

#include <sqlite3.h>

#include <mutex>
#include <span>
#include <string>

#include "server/store/store.h"

namespace tollgate::server {

// One schema change. Versions start at 1 and increase by one; applied ones are never edited.
struct Migration {
  int64_t version;
  std::string_view name;
  std::string_view sql;
};

// The current time as Unix milliseconds, in SQLite SQL.
inline constexpr std::string_view kNowMsSql =
    "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";

// The migrations this build of Tollgate knows, in order.
std::span<const Migration> sqlite_migrations();

class SqliteStore final : public Store {
 public:
  // Opens (creating if needed) the database at `path`, or in memory for ":memory:", and applies
  // `migrations`. Refuses a database whose schema is newer than the newest migration.
  static Result<std::unique_ptr<SqliteStore>> open(
      const std::string& path, std::span<const Migration> migrations = sqlite_migrations());
  ~SqliteStore() override;

  std::string_view kind() const override { return "sqlite"; }
  Result<int64_t> schema_version() override;
  Result<void> ping() override;

 private:
  explicit SqliteStore(sqlite3* db) : db_(db) {}
  Result<void> migrate(std::span<const Migration> migrations);
  Result<void> apply_one(const Migration& migration, int64_t newest);
  // The applied schema version; kStoreUnavailable when it is newer than `newest`.
  Result<int64_t> current_version(int64_t newest);

  std::mutex mutex_;
  sqlite3* db_;
};

}  // namespace tollgate::server
