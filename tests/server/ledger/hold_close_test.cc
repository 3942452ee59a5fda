// Closing a hold survives passing store failures: a real SQLite store under a wrapper that
// fails the first N batches holding a settle or a release, as a disk or a database hiccup would.
#include "server/ledger/hold_close.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "server/store/store.h"
#include "tests/support/forwarding_store.h"
#include "tests/support/log_file.h"

namespace tollgate::server {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kNow = 1'790'000'000'000;

// Forwards everything to a real store, but fails (kStoreUnavailable, nothing applied) the first
// `failures` batches that hold a settle or a release.
class FlakyCloseStore final : public ForwardingStore {
 public:
  FlakyCloseStore(Store& inner, int failures) : ForwardingStore(inner), failures_(failures) {}

  int close_batches() const { return close_batches_; }

  using Store::apply;
  Result<std::vector<LedgerOutcome>> apply(std::span<const LedgerCommand> commands, int64_t now_ms,
                                           const Decided& decided) override {
    bool closes = false;
    for (const LedgerCommand& command : commands) {
      closes = closes || std::holds_alternative<SettleCommand>(command.body) ||
               std::holds_alternative<ReleaseCommand>(command.body);
    }
    if (closes) {
      ++close_batches_;
      if (failures_.fetch_sub(1) > 0) {
        return fail(ErrorCode::kStoreUnavailable, "injected: the database did not answer");
      }
    }
    return inner_.apply(commands, now_ms, decided);
  }

 private:
  std::atomic<int> failures_;
  std::atomic<int> close_batches_{0};
};

class HoldCloseTest : public ::testing::Test {
 protected:
  void open(int failures) {
    auto opened = open_store({dir_.string(), ""});
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    sqlite_ = std::move(opened).value();
    flaky_ = std::make_unique<FlakyCloseStore>(*sqlite_, failures);
    writer_ = std::make_unique<LedgerWriter>(*flaky_, 1, nullptr, [] { return kNow; });
    Project project;
    project.id = "proj_close";
    project.name = "close";
    project.created_at_ms = kNow;
    project.settings.starting_credits = 100;
    KeyRecord key{"key_close", project.id, KeyKind::kSecret, "hash_close", "abcd", std::nullopt, kNow};
    ASSERT_TRUE(sqlite_->create_project(project, std::span<const KeyRecord>(&key, 1)).ok());
    auto reserved = writer_->apply(LedgerCommand{
        ReserveCommand{"proj_close", "user", "hold_1", 30, 3000, 600'000, "op", {}}, std::nullopt});
    ASSERT_TRUE(reserved.ok() && !reserved.value().error);
  }

  void TearDown() override {
    for (std::thread& thread : threads_) thread.join();
    writer_.reset();
    log_.reset();
    if (sqlite_) {
      auto audit = sqlite_->audit("proj_close");
      ASSERT_TRUE(audit.ok());
      EXPECT_TRUE(audit.value().mismatched.empty());
    }
    flaky_.reset();
    sqlite_.reset();
    fs::remove_all(dir_);
  }

  // Records each requested delay and runs the step at once on a thread of its own, as a timer
  // would, without the test waiting for real time.
  RunAfter recording_timer() {
    return [this](std::chrono::milliseconds delay, std::function<void()> step) {
      std::lock_guard lock(mutex_);
      delays_.push_back(delay);
      threads_.emplace_back(std::move(step));
    };
  }

  Result<LedgerOutcome> close(LedgerCommand command) {
    std::promise<Result<LedgerOutcome>> promise;
    close_hold(
        *writer_, std::move(command), recording_timer(), log_->log.get(),
        [&promise](Result<LedgerOutcome> outcome) { promise.set_value(std::move(outcome)); });
    return promise.get_future().get();
  }

  std::string logged() { return log_->text(); }

  static size_t count(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  }

  std::string status() { return sqlite_->get_hold("proj_close", "hold_1").value()->status; }
  int64_t balance() { return sqlite_->get_account("proj_close", "user", kNow).value().balance; }

  fs::path dir_ =
      fs::temp_directory_path() / ("tollgate-hold-close-" + std::to_string(::getpid()) + "-" +
                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::unique_ptr<Store> sqlite_;
  std::unique_ptr<FlakyCloseStore> flaky_;
  std::unique_ptr<CapturedLog> log_ = std::make_unique<CapturedLog>();
  std::unique_ptr<LedgerWriter> writer_;
  std::mutex mutex_;
  std::vector<std::chrono::milliseconds> delays_;
  std::vector<std::thread> threads_;
};

TEST(HoldCloseBackoff, DoublesUpToItsCap) {
  EXPECT_EQ(hold_close_backoff(1), kHoldCloseBackoffBase);
  EXPECT_EQ(hold_close_backoff(2), kHoldCloseBackoffBase * 2);
  EXPECT_EQ(hold_close_backoff(3), kHoldCloseBackoffBase * 4);
  EXPECT_EQ(hold_close_backoff(40), kHoldCloseBackoffCap);
  std::chrono::milliseconds total{0};
  for (int attempt = 1; attempt < kHoldCloseAttemptsMax; ++attempt)
    total += hold_close_backoff(attempt);
  EXPECT_EQ(hold_close_backoff_total(), total);
  EXPECT_LE(hold_close_backoff_total(), kHoldCloseBackoffCap * (kHoldCloseAttemptsMax - 1));
}

TEST_F(HoldCloseTest, AReleaseTheStoreFailedIsRetriedUntilItCommits) {
  open(kHoldCloseAttemptsMax - 1);
  EXPECT_EQ(balance(), 70);
  auto outcome = close(LedgerCommand{ReleaseCommand{"proj_close", "hold_1"}, std::nullopt});
  ASSERT_TRUE(outcome.ok()) << outcome.error().message;
  EXPECT_FALSE(outcome.value().error);
  EXPECT_EQ(status(), "released");
  EXPECT_EQ(balance(), 100);
  EXPECT_EQ(flaky_->close_batches(), kHoldCloseAttemptsMax);
  std::lock_guard lock(mutex_);
  ASSERT_EQ(delays_.size(), size_t(kHoldCloseAttemptsMax - 1));
  for (size_t i = 0; i < delays_.size(); ++i) EXPECT_EQ(delays_[i], hold_close_backoff(int(i) + 1));
  std::string log = logged();
  EXPECT_EQ(count(log, "\"event\":\"hold_close_retry\""), size_t(kHoldCloseAttemptsMax - 1));
  EXPECT_EQ(count(log, "\"level\":\"error\""), 0u);
}

TEST_F(HoldCloseTest, ASettleIsRetriedToo) {
  open(1);
  auto outcome =
      close(LedgerCommand{SettleCommand{"proj_close", "hold_1", 12, 1200, 10, 20}, std::nullopt});
  ASSERT_TRUE(outcome.ok()) << outcome.error().message;
  EXPECT_EQ(status(), "settled");
  EXPECT_EQ(balance(), 88);
  EXPECT_EQ(flaky_->close_batches(), 2);
}

TEST_F(HoldCloseTest, AfterTheLastAttemptTheFailureIsLoggedAsAnError) {
  open(kHoldCloseAttemptsMax);
  auto outcome = close(LedgerCommand{ReleaseCommand{"proj_close", "hold_1"}, std::nullopt});
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code, ErrorCode::kStoreUnavailable);
  EXPECT_EQ(flaky_->close_batches(), kHoldCloseAttemptsMax);
  EXPECT_EQ(status(), "open");  // left to expire: the error line is the owner's cue
  std::string log = logged();
  EXPECT_EQ(count(log, "\"event\":\"hold_close_retry\""), size_t(kHoldCloseAttemptsMax - 1));
  ASSERT_EQ(count(log, "\"level\":\"error\",\"event\":\"hold_close_failed\""), 1u) << log;
  EXPECT_NE(log.find("\"hold\":\"hold_1\""), std::string::npos);
  EXPECT_NE(log.find("\"attempts\":" + std::to_string(kHoldCloseAttemptsMax)), std::string::npos);
  // The store is back: the same close now goes through, once.
  auto again = close(LedgerCommand{ReleaseCommand{"proj_close", "hold_1"}, std::nullopt});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(status(), "released");
}

TEST_F(HoldCloseTest, AClosureTheLedgerRefusedIsNotRetried) {
  open(0);
  ASSERT_TRUE(close(LedgerCommand{ReleaseCommand{"proj_close", "hold_1"}, std::nullopt}).ok());
  auto twice = close(LedgerCommand{ReleaseCommand{"proj_close", "hold_1"}, std::nullopt});
  ASSERT_TRUE(twice.ok());
  ASSERT_TRUE(twice.value().error);
  EXPECT_EQ(twice.value().error->code, ErrorCode::kConflict);
  auto unknown = close(LedgerCommand{ReleaseCommand{"proj_close", "hold_none"}, std::nullopt});
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown.value().error->code, ErrorCode::kNotFound);
  EXPECT_EQ(flaky_->close_batches(), 3);
  std::lock_guard lock(mutex_);
  EXPECT_TRUE(delays_.empty());
}

}  // namespace
}  // namespace tollgate::server
