// Secrets shown once: on a terminal they are printed; otherwise they go to a 0600 file in the
// data dir, and stderr and the log get only its path.
#include "server/log/one_time_secrets.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "tests/support/log_file.h"
#include "tests/support/temp_files.h"

namespace tollgate::server {
namespace {

namespace fs = std::filesystem;

mode_t mode_of(const fs::path& path) {
  struct stat status {};
  EXPECT_EQ(::stat(path.c_str(), &status), 0) << path;
  return status.st_mode & 07777;
}

std::string read_all(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(AppendPrivateFile, CreatesTheFile0600AndAppends) {
  TempDir dir;
  fs::create_directories(dir.path());
  fs::path file = dir.path() / "secrets.txt";
  ASSERT_TRUE(append_private_file(file.string(), "one\n"));
  ASSERT_TRUE(append_private_file(file.string(), "two\n"));
  EXPECT_EQ(mode_of(file), 0600u);
  EXPECT_EQ(read_all(file), "one\ntwo\n");
}

TEST(AppendPrivateFile, TightensAWiderFileBeforeWriting) {
  TempDir dir;
  fs::create_directories(dir.path());
  fs::path file = dir.path() / "secrets.txt";
  std::ofstream(file) << "old\n";
  ASSERT_EQ(::chmod(file.c_str(), 0644), 0);
  ASSERT_TRUE(append_private_file(file.string(), "new\n"));
  EXPECT_EQ(mode_of(file), 0600u);
  EXPECT_EQ(read_all(file), "old\nnew\n");
}

TEST(AppendPrivateFile, RefusesASymlinkAndADirectory) {
  TempDir dir;
  fs::create_directories(dir.path() / "sub");
  fs::path target = dir.path() / "target.txt";
  std::ofstream(target) << "";
  fs::create_symlink(target, dir.path() / "link.txt");
  auto linked = append_private_file((dir.path() / "link.txt").string(), "secret\n");
  ASSERT_FALSE(linked);
  EXPECT_EQ(linked.error().code, ErrorCode::kIoError);
  EXPECT_NE(linked.error().message.find("link.txt"), std::string::npos);
  EXPECT_EQ(read_all(target), "");
  EXPECT_FALSE(append_private_file((dir.path() / "sub").string(), "secret\n"));
}

TEST(OneTimeSecrets, WithoutATerminalOnlyThePathLeavesTheFile) {
  TempDir dir;
  fs::path data_dir = dir.path() / "data";  // made by show(), as with PostgreSQL it may be missing
  LogFile out(std::tmpfile());
  std::ostringstream err;
  std::string path;
  {
    Logger log(out.get());
    OneTimeSecrets secrets(data_dir.string(), /*terminal=*/false, err, log);
    path = secrets.path();
    ASSERT_TRUE(secrets.show("admin token created", "  tgadm_SECRET1\n"));
    ASSERT_TRUE(secrets.show("demo project proj_x created", "  secret key: sk_SECRET2\n"));
  }
  EXPECT_EQ(fs::path(path), fs::absolute(data_dir / kOneTimeSecretsFileName).lexically_normal());
  EXPECT_EQ(mode_of(data_dir), 0700u);
  EXPECT_EQ(mode_of(path), 0600u);
  std::string file = read_all(path);
  EXPECT_NE(file.find("admin token created"), std::string::npos);
  EXPECT_NE(file.find("  tgadm_SECRET1\n"), std::string::npos);
  EXPECT_NE(file.find("  secret key: sk_SECRET2\n"), std::string::npos);
  std::string logged = log_text(out.get());
  for (const std::string& text : {err.str(), logged}) {
    EXPECT_EQ(text.find("SECRET"), std::string::npos) << text;
    EXPECT_NE(text.find(path), std::string::npos) << text;
  }
  EXPECT_NE(logged.find("\"level\":\"warn\",\"event\":\"one_time_secrets_written\""),
            std::string::npos);
}

TEST(OneTimeSecrets, OnATerminalTheyArePrintedAndNoFileIsWritten) {
  TempDir dir;
  LogFile out(std::tmpfile());
  std::ostringstream err;
  std::string path;
  {
    Logger log(out.get());
    OneTimeSecrets secrets(dir.path().string(), /*terminal=*/true, err, log);
    path = secrets.path();
    ASSERT_TRUE(secrets.show("admin token created", "  tgadm_SECRET1\n"));
  }
  EXPECT_EQ(err.str(),
            "tollgate: admin token created (shown once, store it now):\n  tgadm_SECRET1\n");
  EXPECT_FALSE(fs::exists(path));
  EXPECT_EQ(log_text(out.get()).find("SECRET"), std::string::npos);
}

TEST(OneTimeSecrets, AFileThatCannotBeWrittenIsAnError) {
  TempDir dir;
  fs::create_directories(dir.path());
  std::ofstream(dir.path() / "target") << "";
  fs::create_symlink(dir.path() / "target", dir.path() / kOneTimeSecretsFileName);
  LogFile out(std::tmpfile());
  std::ostringstream err;
  Logger log(out.get());
  OneTimeSecrets secrets(dir.path().string(), /*terminal=*/false, err, log);
  auto shown = secrets.show("admin token created", "  tgadm_SECRET1\n");
  ASSERT_FALSE(shown);
  EXPECT_EQ(shown.error().code, ErrorCode::kIoError);
  EXPECT_EQ(err.str(), "");
  EXPECT_EQ(read_all(dir.path() / "target"), "");
}

}  // namespace
}  // namespace tollgate::server
