#include "server/auth/secret_box.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>
#include <vector>

#include "tests/support/temp_files.h"

namespace tollgate::server {
namespace {

SecretBox::Key key_of(uint8_t fill) {
  SecretBox::Key key;
  key.fill(fill);
  return key;
}

TEST(SecretBox, SealsAndOpens) {
  SecretBox box(key_of(7));
  auto sealed = box.seal("sk-live-provider-key", "proj_a/openai");
  ASSERT_TRUE(sealed.ok());
  EXPECT_TRUE(sealed.value().starts_with("tgsb1."));
  EXPECT_EQ(sealed.value().find("sk-live-provider-key"), std::string::npos);
  auto opened = box.open(sealed.value(), "proj_a/openai");
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  EXPECT_EQ(opened.value(), "sk-live-provider-key");
  EXPECT_EQ(box.open(box.seal("", "x").value(), "x").value(), "");
}

TEST(SecretBox, EverySealUsesAFreshNonce) {
  SecretBox box(key_of(7));
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) seen.insert(box.seal("same", "same").value());
  EXPECT_EQ(seen.size(), 200u);
}

TEST(SecretBox, RefusesAlteredMovedOrForeignValues) {
  SecretBox box(key_of(7));
  std::string sealed = box.seal("secret", "proj_a/openai").value();
  EXPECT_FALSE(box.open(sealed, "proj_b/openai").ok());  // moved to another row
  auto foreign = SecretBox(key_of(8)).open(sealed, "proj_a/openai");
  ASSERT_FALSE(foreign.ok());
  EXPECT_NE(foreign.error().message.find("another master key"), std::string::npos);
  for (size_t i = 6; i < sealed.size(); ++i) {  // flip each character after the prefix
    std::string altered = sealed;
    altered[i] = altered[i] == 'A' ? 'B' : 'A';
    auto opened = box.open(altered, "proj_a/openai");
    EXPECT_FALSE(opened.ok() && opened.value() == "secret") << i;
  }
  EXPECT_FALSE(box.open("plain text", "x").ok());
  EXPECT_FALSE(box.open("tgsb1.", "x").ok());
  auto error = box.open(sealed.substr(0, sealed.size() - 4), "proj_a/openai");
  ASSERT_FALSE(error.ok());
  EXPECT_EQ(error.error().message.find("secret"), error.error().message.find("secret cannot"));
}

TEST(SecretBox, PlaintextLimit) {
  SecretBox box(key_of(1));
  EXPECT_TRUE(box.seal(std::string(kSealedPlaintextBytesMax, 'k'), "").ok());
  EXPECT_FALSE(box.seal(std::string(kSealedPlaintextBytesMax + 1, 'k'), "").ok());
}

TEST(MasterKey, MadeOnceInTheDataDirWithMode0600AndReused) {
  TempDir dir;
  auto first = load_master_key(std::nullopt, dir.path().string());
  ASSERT_TRUE(first.ok()) << first.error().message;
  std::string file = dir.path().string() + "/master.key";
  struct stat info {};
  ASSERT_EQ(::stat(file.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  auto again = load_master_key(std::nullopt, dir.path().string());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.value(), first.value());
  // The configured key wins over the file.
  auto configured = load_master_key(std::string(64, 'b'), dir.path().string());
  ASSERT_TRUE(configured.ok());
  EXPECT_EQ(configured.value(), key_of(0xbb));
}

TEST(MasterKey, ProcessesStartingAtOnceAgree) {
  TempDir dir;
  std::vector<SecretBox::Key> keys(8);
  std::vector<std::thread> threads;
  for (auto& key : keys) {
    threads.emplace_back([&key, &dir] { key = load_master_key(std::nullopt, dir.path().string()).value(); });
  }
  for (auto& t : threads) t.join();
  for (const auto& key : keys) EXPECT_EQ(key, keys[0]);
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path().string())) files += entry.is_regular_file();
  EXPECT_EQ(files, 1u);  // no temporary file left behind
}

TEST(MasterKey, AFileThatIsNotAKeyIsRefused) {
  TempDir dir;
  std::filesystem::create_directories(dir.path());
  std::ofstream(dir.path().string() + "/master.key") << "not a key\n";
  auto refused = load_master_key(std::nullopt, dir.path().string());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace tollgate::server
