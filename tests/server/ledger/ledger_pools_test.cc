// The ledger's two pools without a database: a meter or a hold spends the allowance first, a
// hold gives back to the pools it took from, an allowance is reset (not added to), marks make a
// command take effect once, and a clawback takes only what its target adds, never below zero.
#include <gtest/gtest.h>

#include <string>

#include "server/ledger/ledger_rules.h"
#include "tests/server/ledger/ledger_book_fixture.h"

namespace tollgate::server {
namespace {

class LedgerPoolsTest : public LedgerBookTest {
 protected:
  // The sum of the book's entries to `pool` for u1.
  int64_t entries_to(Pool pool) const {
    int64_t sum = 0;
    for (const PendingEntry& e : book_.entries)
      if (e.account.second == "u1" && e.pool == pool) sum += e.amount;
    return sum;
  }
};

TEST_F(LedgerPoolsTest, AMeterSpendsTheAllowanceFirstInTwoEntries) {
  add_account("u1", 50, 10);  // 50 purchased, 10 allowance
  LedgerOutcome outcome = run(MeterCommand{kProject, "u1", "gen", 15});
  ASSERT_FALSE(outcome.error);
  EXPECT_EQ(account("u1").allowance, 0);
  EXPECT_EQ(account("u1").purchased, 45);
  EXPECT_EQ(account("u1").balance, 45);
  ASSERT_EQ(book_.entries.size(), 2u);
  EXPECT_EQ(book_.entries[0].pool, Pool::kAllowance);
  EXPECT_EQ(book_.entries[0].amount, -10);
  EXPECT_EQ(book_.entries[0].balance_after, 50);
  EXPECT_EQ(book_.entries[1].pool, Pool::kPurchased);
  EXPECT_EQ(book_.entries[1].amount, -5);
  EXPECT_EQ(book_.entries[1].balance_after, 45);

  run(MeterCommand{kProject, "u1", "gen", 5});  // only purchased left: one entry
  EXPECT_EQ(book_.entries.size(), 3u);
  EXPECT_EQ(account("u1").purchased, 40);
}

TEST_F(LedgerPoolsTest, AMeterWithinTheAllowanceLeavesPurchasedCreditsAlone) {
  add_account("u1", 50, 10);
  run(MeterCommand{kProject, "u1", "gen", 4});
  EXPECT_EQ(account("u1").allowance, 6);
  EXPECT_EQ(account("u1").purchased, 50);
  ASSERT_EQ(book_.entries.size(), 1u);
  EXPECT_EQ(book_.entries[0].pool, Pool::kAllowance);
}

TEST_F(LedgerPoolsTest, AHoldTakesTheAllowanceFirstAndGivesBackToThePoolsItTookFrom) {
  add_account("u1", 50, 10);
  ASSERT_FALSE(run(ReserveCommand{kProject, "u1", "hold_1", 30, 0, 60'000, "", {}}).error);
  EXPECT_EQ(book_.holds.at("hold_1").hold.allowance_credits, 10);
  EXPECT_EQ(account("u1").allowance, 0);
  EXPECT_EQ(account("u1").purchased, 30);
  // Charged 12: the 10 from the allowance and 2 purchased; 18 purchased come back.
  ASSERT_FALSE(run(SettleCommand{kProject, "hold_1", 12, 0, 1, 1}).error);
  EXPECT_EQ(account("u1").allowance, 0);
  EXPECT_EQ(account("u1").purchased, 48);
  EXPECT_EQ(entries_to(Pool::kAllowance), -10);
  EXPECT_EQ(entries_to(Pool::kPurchased), -2);

  ASSERT_FALSE(run(ReserveCommand{kProject, "u1", "hold_2", 5, 0, 60'000, "", {}}).error);
  ASSERT_FALSE(
      run(AllowanceCommand{kProject, "u1", 20, std::nullopt, "renewal", std::nullopt}).error);
  ASSERT_FALSE(run(ReserveCommand{kProject, "u1", "hold_3", 25, 0, 60'000, "", {}}).error);
  EXPECT_EQ(book_.holds.at("hold_3").hold.allowance_credits, 20);
  // Released: all 25 go back, 20 to the allowance and 5 to purchased.
  ASSERT_FALSE(run(ReleaseCommand{kProject, "hold_3"}).error);
  EXPECT_EQ(account("u1").allowance, 20);
  EXPECT_EQ(account("u1").purchased, 43);
  EXPECT_EQ(account("u1").balance, 63);
}

TEST_F(LedgerPoolsTest, AnAllowanceIsResetNotAddedToAndSetsThePlan) {
  add_account("u1", 7, 300);
  LedgerOutcome outcome =
      run(AllowanceCommand{kProject, "u1", 1000, std::string("pro"), "renewal", std::nullopt});
  ASSERT_FALSE(outcome.error);
  EXPECT_EQ(account("u1").allowance, 1000);
  EXPECT_EQ(account("u1").plan, "pro");
  EXPECT_EQ(account("u1").purchased, 7);
  ASSERT_EQ(book_.entries.size(), 1u);
  EXPECT_EQ(book_.entries[0].kind, "allowance");
  EXPECT_EQ(book_.entries[0].amount, 700);
  run(AllowanceCommand{kProject, "u1", 0, std::string("free"), "canceled", std::nullopt});
  EXPECT_EQ(account("u1").allowance, 0);
  EXPECT_EQ(entries_to(Pool::kAllowance), -300);  // from the 300 the test began with
}

TEST_F(LedgerPoolsTest, AnAllowanceForAnUnknownPlanIsRefused) {
  add_account("u1", 0);
  expect_refused(
      decide_now(AllowanceCommand{kProject, "u1", 5, std::string("gold"), "", std::nullopt}),
      ErrorCode::kInvalidArgument, "no plan named 'gold'");
}

TEST_F(LedgerPoolsTest, AMarkedCommandTakesEffectOnceInABatchAndAcrossBatches) {
  add_account("u1", 0);
  CreditCommand pack{kProject, "u1", "purchase", 500, "pack starter", std::string("checkout:cs_1")};
  LedgerOutcome first = run(pack);
  ASSERT_FALSE(first.error);
  EXPECT_FALSE(first.replayed);
  EXPECT_EQ(book_.marks.at({kProject, "checkout:cs_1"}), 500);
  LedgerOutcome again = run(pack);  // the same batch: the book's mark
  EXPECT_TRUE(again.replayed);
  EXPECT_EQ(account("u1").balance, 500);

  stored_marks_[{kProject, "invoice:in_1"}] = 1000;  // set by an earlier batch
  LedgerOutcome stored = run(
      AllowanceCommand{kProject, "u1", 1000, std::string("pro"), "", std::string("invoice:in_1")});
  EXPECT_TRUE(stored.replayed);
  EXPECT_EQ(account("u1").allowance, 0);
  EXPECT_EQ(account("u1").plan, "free");
  EXPECT_EQ(book_.entries.size(), 1u);
}

TEST_F(LedgerPoolsTest, AMarkThatCannotBeReadRollsTheBatchBack) {
  add_account("u1", 0);
  stored_failure_ = fail(ErrorCode::kStoreUnavailable, "down");
  LedgerDecision decision =
      decide_now(CreditCommand{kProject, "u1", "purchase", 5, "", std::string("checkout:cs_9")});
  ASSERT_TRUE(decision.read_error);
  EXPECT_TRUE(decision.change.entries.empty());
}

TEST_F(LedgerPoolsTest, AClawbackTakesWhatItsTargetAddsAndNeverGoesBelowZero) {
  add_account("u1", 100, 40);
  LedgerOutcome part = run(ClawbackCommand{kProject, "u1", "clawback:cs_1", 30, "refund"});
  ASSERT_FALSE(part.error);
  EXPECT_EQ(part.amount, 30);
  EXPECT_EQ(part.shortfall, 0);
  EXPECT_EQ(account("u1").purchased, 70);
  EXPECT_EQ(account("u1").allowance, 40);  // the allowance is never clawed back

  LedgerOutcome older = run(ClawbackCommand{kProject, "u1", "clawback:cs_1", 20, "refund"});
  EXPECT_TRUE(older.replayed);  // an older, smaller refund takes nothing more
  EXPECT_EQ(account("u1").purchased, 70);

  run(MeterCommand{kProject, "u1", "gen", 90});  // 40 allowance, 50 purchased: 20 left
  LedgerOutcome full = run(ClawbackCommand{kProject, "u1", "clawback:cs_1", 100, "dispute"});
  ASSERT_FALSE(full.error);
  EXPECT_EQ(full.amount, 20);
  EXPECT_EQ(full.shortfall, 50);
  EXPECT_EQ(account("u1").purchased, 0);
  EXPECT_EQ(book_.marks.at({kProject, "clawback:cs_1"}), 100);
  EXPECT_EQ(run(ClawbackCommand{kProject, "u1", "clawback:cs_1", 100, "refund"}).amount, 0);
}

TEST_F(LedgerPoolsTest, ABalanceThatIsNotItsPoolsIsBroken) {
  Account& a = add_account("u1", 10, 5);
  a.balance = 16;
  expect_broken(decide_now(MeterCommand{kProject, "u1", "gen", 1}), "allowance plus");
}

}  // namespace
}  // namespace tollgate::server
