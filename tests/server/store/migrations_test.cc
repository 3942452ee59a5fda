#include "server/store/migrations.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "server/store/sqlite_connection.h"
#include "server/store/store.h"
#include "tests/support/temp_files.h"

namespace tollgate::server {
namespace {

namespace fs = std::filesystem;

// Opens a SQLite connection to `path` and applies `migrations`, as the store does at start.
Result<std::unique_ptr<SqliteConnection>> open_migrated(
    const std::string& path,
    std::span<const Migration> migrations = migrations_for(SqlDialect::kSqlite)) {
  auto connection = SqliteConnection::open(path);
  if (!connection) return connection.error();
  if (auto migrated = migrate(*connection.value(), migrations); !migrated) return migrated.error();
  return connection;
}

int64_t version_of(SqlConnection& connection) { return applied_version(connection).value(); }

TEST(Migrations, CreatesDataDirAndAppliesMigrations) {
  TempDir dir;
  auto store = open_store({(dir.path() / "nested" / "data").string(), ""});
  ASSERT_TRUE(store.ok()) << store.error().message;
  EXPECT_EQ(store.value()->kind(), "sqlite");
  EXPECT_TRUE(store.value()->ping().ok());
  auto version = store.value()->schema_version();
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(version.value(), migrations_for(SqlDialect::kSqlite).back().version);
  EXPECT_TRUE(fs::exists(dir.path() / "nested" / "data" / "tollgate.db"));
}

TEST(Migrations, ReopeningAppliesNothingTwice) {
  TempDb db;
  const std::string& path = db.path();
  constexpr Migration kFirst[] = {{1, "one", "CREATE TABLE t (x INTEGER) STRICT;"}};
  constexpr Migration kBoth[] = {{1, "one", "CREATE TABLE t (x INTEGER) STRICT;"},
                                 {2, "two", "INSERT INTO t VALUES (7);"}};
  {
    auto store = open_migrated(path, kFirst);
    ASSERT_TRUE(store.ok()) << store.error().message;
    EXPECT_EQ(version_of(*store.value()), 1);
  }
  for (int round = 0; round < 2; ++round) {
    // The second round would fail on a duplicate CREATE TABLE if version 1 re-ran.
    auto store = open_migrated(path, kBoth);
    ASSERT_TRUE(store.ok()) << store.error().message;
    EXPECT_EQ(version_of(*store.value()), 2);
  }
}

TEST(Migrations, FailedMigrationRollsBackAndReports) {
  constexpr Migration kBroken[] = {
      {1, "one", "CREATE TABLE t (x INTEGER) STRICT;"},
      {2, "two", "INSERT INTO t VALUES (1); INSERT INTO no_such_table VALUES (1);"}};
  TempDb db;
  const std::string& path = db.path();
  auto broken = open_migrated(path, kBroken);
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.error().message.find("migration 2"), std::string::npos);
  constexpr Migration kFirst[] = {{1, "one", "CREATE TABLE t (x INTEGER) STRICT;"}};
  auto store = open_migrated(path, kFirst);
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(version_of(*store.value()), 1);
}

TEST(Migrations, RefusesANewerSchema) {
  TempDb db;
  const std::string& path = db.path();
  constexpr Migration kTwo[] = {{1, "one", "SELECT 1;"}, {2, "two", "SELECT 1;"}};
  ASSERT_TRUE(open_migrated(path, kTwo).ok());
  constexpr Migration kOne[] = {{1, "one", "SELECT 1;"}};
  auto older = open_migrated(path, kOne);
  ASSERT_FALSE(older.ok());
  EXPECT_NE(older.error().message.find("newer"), std::string::npos);
}

TEST(Migrations, ConcurrentFirstStartsApplyEachMigrationOnce) {
  // Two processes starting on one fresh data dir: each open must succeed, and the migrations
  // table must hold each version once.
  TempDb db;
  const std::string& path = db.path();
  constexpr Migration kMigrations[] = {{1, "one", "CREATE TABLE t (x INTEGER) STRICT;"},
                                       {2, "two", "CREATE TABLE u (y INTEGER) STRICT;"}};
  for (int round = 0; round < 5; ++round) {
    db.remove();
    std::vector<std::thread> starters;
    std::atomic<int> failures{0};
    for (int i = 0; i < 4; ++i) {
      starters.emplace_back([&] {
        auto store = open_migrated(path, kMigrations);
        if (!store.ok()) ADD_FAILURE() << store.error().message;
        if (!store.ok() || version_of(*store.value()) != 2) ++failures;
      });
    }
    for (auto& t : starters) t.join();
    EXPECT_EQ(failures.load(), 0);
  }
}

TEST(Migrations, InMemoryWorks) {
  auto store = open_migrated(":memory:");
  ASSERT_TRUE(store.ok());
  EXPECT_TRUE(store.value()->query("SELECT 1").ok());
}

TEST(Migrations, DataDirThatIsAFileIsAnIoError) {
  TempDir dir;
  fs::create_directories(dir.path());
  std::ofstream(dir.path() / "file") << "x";
  auto store = open_store({(dir.path() / "file" / "data").string(), ""});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, ErrorCode::kIoError);
  EXPECT_EQ(store.error().param, "--data-dir");
}

}  // namespace
}  // namespace tollgate::server
