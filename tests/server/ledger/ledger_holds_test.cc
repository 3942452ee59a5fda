// The ledger's rules for holds without a database: a reservation refused at each budget level
// (invocation limits, balance, spend cap, project budget) and near INT64_MAX, then settle,
// release and expire, each allowed and refused.
#include "server/ledger/ledger_rules.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "tests/server/ledger/ledger_book_fixture.h"

namespace tollgate::server {
namespace {

class LedgerHoldsTest : public LedgerBookTest {};

// ---- Reserve: every budget level ----------------------------------------------------------------

TEST_F(LedgerHoldsTest, ReserveTakesCreditsAndHoldsMicrosAtEveryLevel) {
  add_account("u1", 100);
  LedgerDecision decision =
      decide_now(ReserveCommand{kProject, "u1", "hold_1", 30, 500, 60'000, "summarize", {}}, 2);
  ASSERT_FALSE(decision.outcome.error);
  EXPECT_EQ(decision.outcome.amount, 30);
  EXPECT_EQ(decision.outcome.hold_id, "hold_1");
  apply(book_, std::move(decision.change));
  EXPECT_EQ(account("u1").balance, 70);
  EXPECT_EQ(account("u1").held_micros, 500);
  EXPECT_EQ(book_.projects.at(kProject).spend.held_micros, 500);
  EXPECT_TRUE(book_.projects.at(kProject).dirty);
  const HoldState& hold = book_.holds.at("hold_1");
  EXPECT_TRUE(hold.is_new);
  EXPECT_EQ(hold.hold.status, "open");
  EXPECT_EQ(hold.hold.expires_at_ms, kNow + 60'000);
  EXPECT_EQ(hold.hold.operation, "summarize");
  ASSERT_EQ(book_.entries.size(), 1u);
  EXPECT_EQ(book_.entries[0].kind, "hold");
  EXPECT_EQ(book_.entries[0].amount, -30);
  EXPECT_EQ(book_.entries[0].hold_id, "hold_1");
  EXPECT_EQ(stored_reads_, 0);  // no limits: nothing counted
}

TEST_F(LedgerHoldsTest, ReserveIsRefusedByTheBalance) {
  add_account("u1", 100);
  LedgerDecision decision = decide_now(ReserveCommand{kProject, "u1", "h", 101, 0, 1, "", {}});
  expect_refused(decision, ErrorCode::kInsufficientCredits,
                 "the call may cost 101, balance is 100");
  EXPECT_EQ(decision.outcome.account->balance, 100);
}

TEST_F(LedgerHoldsTest, ReserveIsRefusedByTheSpendCapCountingHeldMicros) {
  Account& a = add_account("u1", 100);
  a.spend_cap_micros = 1'000;
  a.period_spent_micros = 600;
  a.held_micros = 300;
  expect_refused(decide_now(ReserveCommand{kProject, "u1", "h", 1, 101, 1, "", {}}),
                 ErrorCode::kInsufficientCredits,
                 "spend cap reached: this user's cap for the month is 0.001 USD");
  EXPECT_FALSE(run(ReserveCommand{kProject, "u1", "h", 1, 100, 1, "", {}}).error);  // up to it
  EXPECT_EQ(account("u1").held_micros, 400);
}

TEST_F(LedgerHoldsTest, ReserveIsRefusedByTheProjectBudget) {
  add_account("u1", 100);
  ProjectState& project = book_.projects.at(kProject);
  project.settings.budget_micros = 1'000;
  project.spend.period_spent_micros = 900;
  expect_refused(decide_now(ReserveCommand{kProject, "u1", "h", 1, 101, 1, "", {}}),
                 ErrorCode::kInsufficientCredits, "the project's monthly budget is reached");
  EXPECT_FALSE(run(ReserveCommand{kProject, "u1", "h", 1, 100, 1, "", {}}).error);
}

TEST_F(LedgerHoldsTest, ReserveIsRefusedByAnInvocationLimitCountingTheBatchsHolds) {
  add_account("u1", 100);
  add_account("u2", 100);
  InvocationLimit per_user{"perUserDailyLimit", true, kNow - 10, 3};
  stored_invocations_ = 2;
  // Two more of u1's calls in this batch: one reserved (counts), one stored and released now
  // (stops counting); u2's does not count for u1.
  HoldState& fresh = add_hold("hold_a", "u1", 1, 0, "summarize");
  fresh.is_new = true;
  HoldState& released = add_hold("hold_b", "u1", 1, 0, "summarize");
  released.hold.status = "released";
  released.dirty = true;
  add_hold("hold_c", "u2", 1, 0, "summarize").is_new = true;
  ReserveCommand reserve{kProject, "u1", "hold_d", 1, 0, 1, "summarize", {per_user}};
  EXPECT_FALSE(decide_now(reserve).outcome.error);  // 2 + 1 - 1 = 2 of 3

  stored_invocations_ = 3;
  LedgerDecision reached = decide_now(reserve);
  expect_refused(reached, ErrorCode::kRateLimited, "'perUserDailyLimit' of 3 calls is reached");
  EXPECT_EQ(reached.outcome.error->param, "perUserDailyLimit");

  // For the whole feature, u2's new hold counts too: 2 + 2 - 1 = 3.
  stored_invocations_ = 2;
  reserve.limits = {{"monthlyLimit", false, kNow - 10, 3}};
  expect_refused(decide_now(reserve), ErrorCode::kRateLimited, "'monthlyLimit'");
}

TEST_F(LedgerHoldsTest, ReserveChecksLimitsBeforeTheBalance) {
  add_account("u1", 0);
  stored_invocations_ = 5;
  expect_refused(decide_now(ReserveCommand{kProject, "u1", "h", 10, 0, 1, "f",
                                           {{"perUserDailyLimit", true, 0, 5}}}),
                 ErrorCode::kRateLimited);
}

TEST_F(LedgerHoldsTest, ReserveRefusesBadArgumentsAndAReusedHoldId) {
  add_account("u1", 100);
  for (ReserveCommand bad : {ReserveCommand{kProject, "u1", "h", -1, 0, 1, "", {}},
                             ReserveCommand{kProject, "u1", "h", 0, -1, 1, "", {}},
                             ReserveCommand{kProject, "u1", "h", 0, 0, 0, "", {}}}) {
    LedgerDecision decision = decide_now(bad);
    expect_refused(decision, ErrorCode::kInvalidArgument, "non-negative amounts");
    EXPECT_EQ(decision.outcome.error->param, "hold");
  }
  add_hold("hold_1", "u1", 1, 0);
  expect_refused(decide_now(ReserveCommand{kProject, "u1", "hold_1", 1, 0, 1, "", {}}),
                 ErrorCode::kConflict, "hold hold_1 already exists");
}

TEST_F(LedgerHoldsTest, ReserveMicrosPastInt64MaxAreRefusedNotWrapped) {
  Account& a = add_account("u1", 100);
  a.period_spent_micros = INT64_MAX - 10;
  LedgerDecision account_level = decide_now(ReserveCommand{kProject, "u1", "h", 1, 11, 1, "", {}});
  expect_refused(account_level, ErrorCode::kOverflow, "past the largest amount of micros");
  EXPECT_FALSE(run(ReserveCommand{kProject, "u1", "h", 1, 10, 1, "", {}}).error);
  EXPECT_EQ(account("u1").held_micros, 10);

  add_account("u2", 100);
  book_.projects.at(kProject).spend.period_spent_micros = INT64_MAX - 20;  // 10 held already
  expect_refused(decide_now(ReserveCommand{kProject, "u2", "h2", 1, 11, 1, "", {}}),
                 ErrorCode::kOverflow);
  // An expiry past the largest time is refused too.
  expect_refused(decide_now(ReserveCommand{kProject, "u2", "h3", 1, 0, INT64_MAX, "", {}}),
                 ErrorCode::kOverflow, "expiry");
}

TEST_F(LedgerHoldsTest, ALimitCountTheStoreCannotReadRollsTheBatchBack) {
  add_account("u1", 100);
  stored_failure_ = fail(ErrorCode::kStoreUnavailable, "gone");
  LedgerDecision decision =
      decide_now(ReserveCommand{kProject, "u1", "h", 1, 0, 1, "f", {{"x", false, 0, 9}}});
  expect_refused(decision, ErrorCode::kStoreUnavailable);
  EXPECT_TRUE(decision.read_error);
}

// ---- Settle, release, expire ------------------------------------------------------------------

TEST_F(LedgerHoldsTest, SettleChargesTheActualCostAndReturnsTheRest) {
  add_account("u1", 70);
  add_hold("hold_1", "u1", 30, 500);
  LedgerOutcome outcome = run(SettleCommand{kProject, "hold_1", 20, 300, 7, 9}, 1);
  ASSERT_FALSE(outcome.error);
  EXPECT_EQ(outcome.amount, 20);
  EXPECT_EQ(account("u1").balance, 80);
  EXPECT_EQ(account("u1").held_micros, 0);
  EXPECT_EQ(account("u1").period_spent_micros, 300);
  EXPECT_EQ(book_.projects.at(kProject).spend.held_micros, 0);
  EXPECT_EQ(book_.projects.at(kProject).spend.period_spent_micros, 300);
  const HoldState& hold = book_.holds.at("hold_1");
  EXPECT_EQ(hold.hold.status, "settled");
  EXPECT_TRUE(hold.dirty);
  EXPECT_EQ(hold.settled_credits, 20);
  EXPECT_EQ(hold.settled_micros, 300);
  EXPECT_EQ(hold.input_tokens, 7);
  EXPECT_EQ(hold.output_tokens, 9);
  ASSERT_EQ(book_.entries.size(), 1u);
  EXPECT_EQ(book_.entries[0].kind, "settle");
  EXPECT_EQ(book_.entries[0].amount, 10);
  EXPECT_EQ(book_.entries[0].command, 1u);
}

TEST_F(LedgerHoldsTest, SettleRefusesMoreThanTheReservation) {
  add_account("u1", 70);
  add_hold("hold_1", "u1", 30, 500);
  LedgerDecision credits = decide_now(SettleCommand{kProject, "hold_1", 31, 0, 0, 0});
  expect_refused(credits, ErrorCode::kInvalidArgument, "between 0 and the 30 reserved");
  EXPECT_EQ(credits.outcome.error->param, "credits");
  LedgerDecision micros = decide_now(SettleCommand{kProject, "hold_1", 0, 501, 0, 0});
  expect_refused(micros, ErrorCode::kInvalidArgument, "between 0 and the 500 reserved");
  EXPECT_EQ(micros.outcome.error->param, "micros");
  expect_refused(decide_now(SettleCommand{kProject, "hold_1", 0, 0, -1, 0}),
                 ErrorCode::kInvalidArgument, "token counts");
}

TEST_F(LedgerHoldsTest, CloseNeedsAnOpenHoldOfTheProject) {
  add_account("u1", 70);
  add_hold("hold_1", "u1", 30, 0);
  expect_refused(decide_now(SettleCommand{kProject, "hold_x", 0, 0, 0, 0}), ErrorCode::kNotFound,
                 "no hold hold_x");
  expect_refused(decide_now(ReleaseCommand{"proj_b", "hold_1"}), ErrorCode::kNotFound);
  EXPECT_FALSE(run(ReleaseCommand{kProject, "hold_1"}).error);
  expect_refused(decide_now(SettleCommand{kProject, "hold_1", 0, 0, 0, 0}), ErrorCode::kConflict,
                 "hold hold_1 is already released");
}

TEST_F(LedgerHoldsTest, ReleaseReturnsTheWholeReservationAndChargesNothing) {
  add_account("u1", 70);
  add_hold("hold_1", "u1", 30, 500);
  LedgerOutcome outcome = run(ReleaseCommand{kProject, "hold_1"});
  ASSERT_FALSE(outcome.error);
  EXPECT_EQ(outcome.amount, 0);
  EXPECT_EQ(account("u1").balance, 100);
  EXPECT_EQ(account("u1").held_micros, 0);
  EXPECT_EQ(account("u1").period_spent_micros, 0);
  EXPECT_EQ(book_.holds.at("hold_1").hold.status, "released");
  EXPECT_EQ(book_.entries.at(0).kind, "release");
  EXPECT_EQ(book_.entries.at(0).amount, 30);
}

TEST_F(LedgerHoldsTest, ExpireChargesEachOpenExpiredHoldAsReserved) {
  add_account("u1", 50);
  add_hold("hold_1", "u1", 30, 500);
  add_hold("hold_2", "u1", 20, 100);
  add_hold("hold_3", "u1", 5, 0).hold.status = "settled";  // closed earlier in the batch
  book_.expired = {"hold_1", "hold_2", "hold_3"};
  LedgerOutcome outcome = run(ExpireHoldsCommand{});
  ASSERT_FALSE(outcome.error);
  EXPECT_EQ(outcome.amount, 2);
  EXPECT_TRUE(book_.expired.empty());
  EXPECT_EQ(account("u1").balance, 50);  // charged all it reserved: nothing comes back
  EXPECT_EQ(account("u1").held_micros, 0);
  EXPECT_EQ(account("u1").period_spent_micros, 600);
  EXPECT_EQ(book_.holds.at("hold_1").hold.status, "expired");
  EXPECT_EQ(book_.holds.at("hold_2").settled_credits, 20);
  ASSERT_EQ(book_.entries.size(), 2u);
  for (const PendingEntry& entry : book_.entries) {
    EXPECT_EQ(entry.kind, "settle");
    EXPECT_EQ(entry.amount, 0);
    EXPECT_EQ(entry.reason, "hold expired: charged as reserved");
  }
}

TEST_F(LedgerHoldsTest, ExpireLeavesAHoldWhoseCloseWouldBreakAnInvariantOpen) {
  add_account("u1", 10);
  add_account("u2", 10);
  add_hold("hold_bad", "u1", 1, 500);
  book_.accounts.at({kProject, "u1"}).account.held_micros = 100;  // less than the hold's 500
  add_hold("hold_good", "u2", 1, 50);
  book_.expired = {"hold_bad", "hold_good"};
  LedgerOutcome outcome = run(ExpireHoldsCommand{});
  ASSERT_FALSE(outcome.error);
  EXPECT_EQ(outcome.amount, 1);
  EXPECT_EQ(book_.holds.at("hold_bad").hold.status, "open");
  EXPECT_EQ(account("u1").held_micros, 100);
  EXPECT_EQ(book_.holds.at("hold_good").hold.status, "expired");
}

}  // namespace
}  // namespace tollgate::server
