// A batch's book for the ledger rules' tests (ledger_rules_test.cc, ledger_holds_test.cc): one
// project, accounts and holds added by hand, and stored counts that are plain numbers here.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>

#include "server/ledger/ledger_rules.h"

namespace tollgate::server {

inline constexpr int64_t kNow = 1'790'000'000'000;
inline constexpr const char* kProject = "proj_a";

class LedgerBookTest : public ::testing::Test {
 protected:
  LedgerBookTest() { add_project(kProject); }

  // `balance` purchased credits, and `allowance` on top.
  Account& add_account(const std::string& user, int64_t balance, int64_t allowance = 0) {
    Account account;
    account.project_id = kProject;
    account.user_id = user;
    account.purchased = balance;
    account.allowance = allowance;
    account.balance = balance + allowance;
    account.period_start_ms = kNow - 1'000;
    return book_.accounts[{kProject, user}].account = account;
  }

  ProjectState& add_project(const std::string& id) {
    ProjectState& project = book_.projects[id];
    project.settings.plans = {{"pro", 1000, 19'000'000, "usd", "month"}};
    project.spend.period_start_ms = kNow - 1'000;
    project.locked = true;
    return project;
  }

  // An open hold as stored, with its reservation taken from the account and the project.
  HoldState& add_hold(const std::string& id, const std::string& user, int64_t credits,
                      int64_t micros, const std::string& operation = "") {
    HoldState& state = book_.holds[id];
    state.hold = Hold{id, kProject, user, credits, 0, micros, "open", kNow - 1, operation};
    Account& account = book_.accounts.at({kProject, user}).account;
    account.held_micros += micros;
    book_.projects.at(kProject).spend.held_micros += micros;
    return state;
  }

  const Account& account(const std::string& user) {
    return book_.accounts.at({kProject, user}).account;
  }

  LedgerDecision decide_now(const LedgerCommandBody& command, size_t index = 0) {
    return decide(book_, command, {kNow, index, stored_});
  }

  // Decides and applies, as the batch does; returns the outcome.
  LedgerOutcome run(const LedgerCommandBody& command, size_t index = 0) {
    LedgerDecision decision = decide_now(command, index);
    EXPECT_FALSE(decision.read_error);
    apply(book_, std::move(decision.change));
    return decision.outcome;
  }

  static void expect_refused(const LedgerDecision& decision, ErrorCode code,
                             const std::string& message_part = "") {
    ASSERT_TRUE(decision.outcome.error) << "allowed";
    EXPECT_EQ(decision.outcome.error->code, code) << decision.outcome.error->message;
    EXPECT_NE(decision.outcome.error->message.find(message_part), std::string::npos)
        << decision.outcome.error->message;
    EXPECT_TRUE(decision.change.accounts.empty());
    EXPECT_TRUE(decision.change.projects.empty());
    EXPECT_TRUE(decision.change.holds.empty());
    EXPECT_TRUE(decision.change.entries.empty());
  }

  static void expect_broken(const LedgerDecision& decision, const std::string& what) {
    expect_refused(decision, ErrorCode::kInternal, what);
    EXPECT_FALSE(decision.read_error);
  }

  LedgerBook book_;
  Int128 stored_open_credits_ = 0;
  int64_t stored_invocations_ = 0;
  std::optional<Error> stored_failure_;
  std::map<MarkKey, int64_t> stored_marks_;
  int stored_reads_ = 0;
  StoredHolds stored_{
      [this](const Account&) -> Result<Int128> {
        ++stored_reads_;
        if (stored_failure_) return *stored_failure_;
        return stored_open_credits_;
      },
      [this](const ReserveCommand&, const InvocationLimit&) -> Result<int64_t> {
        ++stored_reads_;
        if (stored_failure_) return *stored_failure_;
        return stored_invocations_;
      },
      [this](const MarkKey& key) -> Result<std::optional<int64_t>> {
        ++stored_reads_;
        if (stored_failure_) return *stored_failure_;
        auto found = stored_marks_.find(key);
        if (found == stored_marks_.end()) return std::optional<int64_t>();
        return std::optional<int64_t>(found->second);
      }};
};

}  // namespace tollgate::server
