// The WAL-coalescing VFS on real files: transactions far larger than one buffered write, read
// back by a second connection right after each commit, and an intact database afterwards.
#include "server/store/sqlite_wal_vfs.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <string>

#include "server/store/sqlite_connection.h"
#include "tests/support/temp_files.h"

namespace tollgate::server {
namespace {

// Rows of 4 KiB of random hex each: every row takes its own overflow page, so one transaction of
// `rows` rows writes at least `rows` WAL frames.
constexpr int64_t kRows = 300;

std::string fingerprint(SqlConnection& db) {
  auto rows = db.query("SELECT count(*), total(length(body)), min(body), max(body) FROM t");
  EXPECT_TRUE(rows.ok()) << rows.error().message;
  if (!rows.ok() || rows.value().empty()) return "";
  const SqlRows& r = rows.value();
  return std::to_string(r.int64(0, 0)) + "|" + r.text(0, 1) + "|" + r.text(0, 2) + "|" +
         r.text(0, 3);
}

void fill(SqlConnection& db, std::string_view verb) {
  ASSERT_TRUE(db.exec_script("BEGIN IMMEDIATE").ok());
  auto written = db.query(
      std::string(verb) +
          " INTO t (id, body) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
          "WHERE i < $1) SELECT i, hex(randomblob(2048)) FROM n",
      {kRows});
  ASSERT_TRUE(written.ok()) << written.error().message;
  ASSERT_TRUE(db.exec_script("COMMIT").ok());
}

TEST(SqliteWalVfs, IsRegisteredAndUsedForFiles) {
  const char* name = coalescing_wal_vfs();
  ASSERT_NE(name, nullptr);
  EXPECT_NE(sqlite3_vfs_find(name), nullptr);
  EXPECT_EQ(coalescing_wal_vfs(), name);  // registered once
}

TEST(SqliteWalVfs, LargeCommitsAreVisibleToAnotherConnectionAtOnce) {
  TempDb file;
  auto writer = SqliteConnection::open(file.path());
  ASSERT_TRUE(writer.ok()) << writer.error().message;
  ASSERT_TRUE(writer.value()->exec_script("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)").ok());
  auto reader = SqliteConnection::open(file.path());
  ASSERT_TRUE(reader.ok()) << reader.error().message;

  fill(*writer.value(), "INSERT");
  // Over a MiB of frames, many times kWalBufferBytesMax, is on disk once COMMIT returns.
  EXPECT_GT(std::filesystem::file_size(file.path() + "-wal"), kRows * 4096u);
  std::string written = fingerprint(*writer.value());
  EXPECT_EQ(written.substr(0, written.find('|')), std::to_string(kRows));
  EXPECT_EQ(fingerprint(*reader.value()), written);

  // Rewritten in place: the reader sees the new contents, never a mix.
  fill(*writer.value(), "REPLACE");
  std::string rewritten = fingerprint(*writer.value());
  EXPECT_NE(rewritten, written);
  EXPECT_EQ(fingerprint(*reader.value()), rewritten);

  auto checkpoint = writer.value()->query("PRAGMA wal_checkpoint(TRUNCATE)");
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.error().message;
  EXPECT_EQ(checkpoint.value().int64(0, 0), 0);  // not busy
  writer.value().reset();
  reader.value().reset();

  auto reopened = SqliteConnection::open(file.path());
  ASSERT_TRUE(reopened.ok()) << reopened.error().message;
  EXPECT_EQ(fingerprint(*reopened.value()), rewritten);
  auto check = reopened.value()->query("PRAGMA integrity_check");
  ASSERT_TRUE(check.ok());
  EXPECT_EQ(check.value().text(0, 0), "ok");
}

TEST(SqliteWalVfs, ARolledBackTransactionLeavesNoTrace) {
  TempDb file;
  auto db = SqliteConnection::open(file.path());
  ASSERT_TRUE(db.ok()) << db.error().message;
  ASSERT_TRUE(db.value()->exec_script("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)").ok());
  fill(*db.value(), "INSERT");
  std::string committed = fingerprint(*db.value());
  // Small cache: the big uncommitted transaction spills frames into the WAL before it is undone.
  ASSERT_TRUE(db.value()->exec_script("PRAGMA cache_size = 10; BEGIN IMMEDIATE").ok());
  ASSERT_TRUE(db.value()->query("UPDATE t SET body = hex(randomblob(2048))").ok());
  ASSERT_TRUE(db.value()->exec_script("ROLLBACK").ok());
  EXPECT_EQ(fingerprint(*db.value()), committed);
  auto other = SqliteConnection::open(file.path());
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(fingerprint(*other.value()), committed);
}

}  // namespace
}  // namespace tollgate::server
