#include "server/store/sqlite_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "server/store/store.h"

namespace tollgate::server {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir()
      : path_(fs::temp_directory_path() /
              ("tollgate-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++))) {
    fs::remove_all(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

// A database file path that is removed, with its WAL and shared-memory files, on scope exit.
class TempDb {
 public:
  const std::string& path() const { return path_; }
  void remove() const {
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path_ + suffix);
  }
  ~TempDb() { remove(); }

 private:
  TempDir dir_;
  std::string path_ = dir_.path().string() + ".db";
};

TEST(SqliteStore, CreatesDataDirAndAppliesMigrations) {
  TempDir dir;
  auto store = open_store({(dir.path() / "nested" / "data").string()});
  ASSERT_TRUE(store.ok()) << store.error().message;
  EXPECT_EQ(store.value()->kind(), "sqlite");
  EXPECT_TRUE(store.value()->ping().ok());
  auto version = store.value()->schema_version();
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(version.value(), sqlite_migrations().back().version);
  EXPECT_TRUE(fs::exists(dir.path() / "nested" / "data" / "tollgate.db"));
}

TEST(SqliteStore, ReopeningAppliesNothingTwice) {
  TempDb db;
  const std::string& path = db.path();
  constexpr Migration kFirst[] = {{1, "one", "CREATE TABLE t (x INTEGER) STRICT;"}};
  constexpr Migration kBoth[] = {{1, "one", "CREATE TABLE t (x INTEGER) STRICT;"},
                                 {2, "two", "INSERT INTO t VALUES (7);"}};
  {
    auto store = SqliteStore::open(path, kFirst);
    ASSERT_TRUE(store.ok()) << store.error().message;
    EXPECT_EQ(store.value()->schema_version().value(), 1);
  }
  for (int round = 0; round < 2; ++round) {
    // The second round would fail on a duplicate CREATE TABLE if version 1 re-ran.
    auto store = SqliteStore::open(path, kBoth);
    ASSERT_TRUE(store.ok()) << store.error().message;
    EXPECT_EQ(store.value()->schema_version().value(), 2);
  }
}

TEST(SqliteStore, FailedMigrationRollsBackAndReports) {
  constexpr Migration kBroken[] = {
      {1, "one", "CREATE TABLE t (x INTEGER) STRICT;"},
      {2, "two", "INSERT INTO t VALUES (1); INSERT INTO no_such_table VALUES (1);"}};
  TempDb db;
  const std::string& path = db.path();
  auto broken = SqliteStore::open(path, kBroken);
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.error().message.find("migration 2"), std::string::npos);
  constexpr Migration kFirst[] = {{1, "one", "CREATE TABLE t (x INTEGER) STRICT;"}};
  auto store = SqliteStore::open(path, kFirst);
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(store.value()->schema_version().value(), 1);
}

TEST(SqliteStore, RefusesANewerSchema) {
  TempDb db;
  const std::string& path = db.path();
  constexpr Migration kTwo[] = {{1, "one", "SELECT 1;"}, {2, "two", "SELECT 1;"}};
  ASSERT_TRUE(SqliteStore::open(path, kTwo).ok());
  constexpr Migration kOne[] = {{1, "one", "SELECT 1;"}};
  auto older = SqliteStore::open(path, kOne);
  ASSERT_FALSE(older.ok());
  EXPECT_NE(older.error().message.find("newer"), std::string::npos);
}

TEST(SqliteStore, ConcurrentFirstStartsApplyEachMigrationOnce) {
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
        auto store = SqliteStore::open(path, kMigrations);
        if (!store.ok()) ADD_FAILURE() << store.error().message;
        if (!store.ok() || store.value()->schema_version().value() != 2) ++failures;
      });
    }
    for (auto& t : starters) t.join();
    EXPECT_EQ(failures.load(), 0);
  }
}

TEST(SqliteStore, InMemoryWorks) {
  auto store = SqliteStore::open(":memory:");
  ASSERT_TRUE(store.ok());
  EXPECT_TRUE(store.value()->ping().ok());
}

TEST(SqliteStore, DataDirThatIsAFileIsAnIoError) {
  TempDir dir;
  fs::create_directories(dir.path());
  std::ofstream(dir.path() / "file") << "x";
  auto store = open_store({(dir.path() / "file" / "data").string()});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, ErrorCode::kIoError);
  EXPECT_EQ(store.error().param, "--data-dir");
}

}  // namespace
}  // namespace tollgate::server
