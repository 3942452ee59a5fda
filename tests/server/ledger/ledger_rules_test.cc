// The ledger's rules without a database: the account commands (meter, credit, update), the
// invariant checks firing on a book or a change that breaks them, and the small rules. Amounts
// near INT64_MAX are refused, never wrapped. The conformance suite runs the same rules against
// real SQLite and PostgreSQL; ledger_holds_test.cc covers the hold commands.
#include "server/ledger/ledger_rules.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "tests/server/ledger/ledger_book_fixture.h"

namespace tollgate::server {
namespace {

class LedgerRulesTest : public LedgerBookTest {};

// ---- Meter ------------------------------------------------------------------------------------

TEST_F(LedgerRulesTest, MeterDebitsTheBalanceWithOneEntry) {
  add_account("u1", 100);
  LedgerDecision decision = decide_now(MeterCommand{kProject, "u1", "gen", 30}, 4);
  ASSERT_FALSE(decision.outcome.error);
  EXPECT_EQ(decision.outcome.amount, 30);
  EXPECT_EQ(decision.outcome.account->balance, 70);
  EXPECT_EQ(decision.outcome.account->updated_at_ms, kNow);
  ASSERT_EQ(decision.change.entries.size(), 1u);
  const PendingEntry& entry = decision.change.entries[0];
  EXPECT_EQ(entry.kind, "debit");
  EXPECT_EQ(entry.amount, -30);
  EXPECT_EQ(entry.balance_after, 70);
  EXPECT_EQ(entry.event, "gen");
  EXPECT_EQ(entry.command, 4u);
  // Deciding changed nothing yet; applying does, and marks the account to be written.
  EXPECT_EQ(account("u1").balance, 100);
  EXPECT_FALSE(book_.accounts.at({kProject, "u1"}).dirty);
  apply(book_, std::move(decision.change));
  EXPECT_EQ(account("u1").balance, 70);
  EXPECT_TRUE(book_.accounts.at({kProject, "u1"}).dirty);
  EXPECT_EQ(book_.entries.size(), 1u);
  EXPECT_EQ(stored_reads_, 0);  // a meter reads nothing beyond the book
}

TEST_F(LedgerRulesTest, MeterMayTakeTheWholeBalanceButNoMore) {
  add_account("u1", 10);
  LedgerDecision over = decide_now(MeterCommand{kProject, "u1", "gen", 11});
  expect_refused(over, ErrorCode::kInsufficientCredits,
                 "insufficient credits: gen costs 11, balance is 10");
  ASSERT_TRUE(over.outcome.account);
  EXPECT_EQ(over.outcome.account->balance, 10);
  EXPECT_EQ(run(MeterCommand{kProject, "u1", "gen", 10}).account->balance, 0);
}

TEST_F(LedgerRulesTest, CommandsOnAnAccountTheBatchDoesNotHoldAreNotFound) {
  expect_refused(decide_now(MeterCommand{kProject, "ghost", "gen", 1}), ErrorCode::kNotFound,
                 "no project proj_a");
  expect_refused(decide_now(CreditCommand{kProject, "ghost", "grant", 1, "", std::nullopt}),
                 ErrorCode::kNotFound);
  expect_refused(decide_now(ReserveCommand{kProject, "ghost", "hold_1", 1, 1, 1, "", {}}),
                 ErrorCode::kNotFound);
}

TEST_F(LedgerRulesTest, MeterCostsWithoutAnInt64DebitAreRefusedNotWrapped) {
  add_account("u1", 0);
  expect_broken(decide_now(MeterCommand{kProject, "u1", "gen", INT64_MIN}), "no debit");
  add_account("full", INT64_MAX);
  expect_broken(decide_now(MeterCommand{kProject, "full", "gen", -1}), "no debit");
  EXPECT_EQ(account("full").balance, INT64_MAX);
}

// ---- Credit -----------------------------------------------------------------------------------

TEST_F(LedgerRulesTest, CreditAddsAnEntryOfItsKind) {
  add_account("u1", 5);
  LedgerOutcome outcome = run(CreditCommand{kProject, "u1", "refund", 10, "sorry", std::nullopt});
  ASSERT_FALSE(outcome.error);
  EXPECT_EQ(outcome.amount, 10);
  EXPECT_EQ(account("u1").balance, 15);
  ASSERT_EQ(book_.entries.size(), 1u);
  EXPECT_EQ(book_.entries[0].kind, "refund");
  EXPECT_EQ(book_.entries[0].reason, "sorry");
  EXPECT_EQ(book_.entries[0].balance_after, 15);
}

TEST_F(LedgerRulesTest, CreditOfNothingIsRefusedBeforeAnyRead) {
  add_account("u1", 5);
  LedgerDecision decision = decide_now(CreditCommand{kProject, "u1", "grant", 0, "", std::nullopt});
  expect_refused(decision, ErrorCode::kInvalidArgument, "positive amount");
  EXPECT_EQ(decision.outcome.error->param, "amount");
  EXPECT_EQ(stored_reads_, 0);
}

TEST_F(LedgerRulesTest, CreditPastInt64MaxIsRefusedCountingOpenHolds) {
  add_account("u1", INT64_MAX - 100);
  stored_open_credits_ = 50;  // credits the open holds will give back
  LedgerDecision refused = decide_now(CreditCommand{kProject, "u1", "grant", 51, "", std::nullopt});
  expect_refused(refused, ErrorCode::kOverflow, "counting the 50 credits held");
  EXPECT_EQ(refused.outcome.error->param, "amount");
  LedgerOutcome fits = run(CreditCommand{kProject, "u1", "grant", 50, "", std::nullopt});
  ASSERT_FALSE(fits.error);
  EXPECT_EQ(account("u1").balance, INT64_MAX - 50);
}

TEST_F(LedgerRulesTest, CreditCountsTheBatchsOwnNewAndClosedHolds) {
  add_account("u1", INT64_MAX - 100);
  HoldState& fresh = add_hold("hold_new", "u1", 40, 0);
  fresh.is_new = true;  // reserved earlier in this batch: not stored yet
  HoldState& closed = add_hold("hold_done", "u1", 30, 0);
  closed.hold.status = "settled";  // stored open, settled earlier in this batch
  closed.dirty = true;
  stored_open_credits_ = 30;  // the stored one, still open in the database
  // Held: 30 stored + 40 new - 30 closed = 40.
  expect_refused(decide_now(CreditCommand{kProject, "u1", "grant", 61, "", std::nullopt}), ErrorCode::kOverflow,
                 "counting the 40 credits");
  EXPECT_FALSE(run(CreditCommand{kProject, "u1", "grant", 60, "", std::nullopt}).error);
}

TEST_F(LedgerRulesTest, ACountTheStoreCannotReadRefusesAndRollsTheBatchBack) {
  add_account("u1", 5);
  stored_failure_ = fail(ErrorCode::kStoreUnavailable, "the database went away");
  LedgerDecision decision = decide_now(CreditCommand{kProject, "u1", "grant", 1, "", std::nullopt});
  expect_refused(decision, ErrorCode::kStoreUnavailable, "went away");
  ASSERT_TRUE(decision.read_error);
  EXPECT_EQ(decision.read_error->code, ErrorCode::kStoreUnavailable);

  StoredHolds none;  // a driver that gives no counts at all: refused, not a crash
  LedgerDecision blind =
      decide(book_, CreditCommand{kProject, "u1", "grant", 1, "", std::nullopt}, {kNow, 0, none});
  ASSERT_TRUE(blind.read_error);
  EXPECT_EQ(blind.read_error->code, ErrorCode::kInternal);
}

// ---- Update -----------------------------------------------------------------------------------

TEST_F(LedgerRulesTest, UpdateSetsAKnownPlanAndTheCap) {
  add_account("u1", 5);
  LedgerOutcome pro = run(UpdateAccountCommand{kProject, "u1", "pro", int64_t{5'000}});
  ASSERT_FALSE(pro.error);
  EXPECT_EQ(account("u1").plan, "pro");
  EXPECT_EQ(account("u1").spend_cap_micros, 5'000);
  EXPECT_TRUE(book_.accounts.at({kProject, "u1"}).dirty);
  EXPECT_TRUE(book_.entries.empty());  // no credit changed
  // "free" is always a plan; a cap can be cleared.
  LedgerOutcome free =
      run(UpdateAccountCommand{kProject, "u1", "free", std::optional<int64_t>()});
  ASSERT_FALSE(free.error);
  EXPECT_EQ(account("u1").plan, "free");
  EXPECT_FALSE(account("u1").spend_cap_micros);
}

TEST_F(LedgerRulesTest, UpdateRefusesAPlanTheProjectDoesNotHave) {
  add_account("u1", 5);
  LedgerDecision decision = decide_now(UpdateAccountCommand{kProject, "u1", "gold", {}});
  expect_refused(decision, ErrorCode::kInvalidArgument, "no plan named 'gold'");
  EXPECT_EQ(decision.outcome.error->param, "plan");
}

// ---- Invariants on the state a decision reads -------------------------------------------------

TEST_F(LedgerRulesTest, AnAccountWithANegativeBalanceRefusesEveryCommand) {
  add_account("u1", -1);
  add_hold("hold_1", "u1", 1, 0);
  for (const LedgerCommandBody& command :
       {LedgerCommandBody{MeterCommand{kProject, "u1", "gen", 0}},
        LedgerCommandBody{CreditCommand{kProject, "u1", "grant", 1, "", std::nullopt}},
        LedgerCommandBody{UpdateAccountCommand{kProject, "u1", "free", {}}},
        LedgerCommandBody{ReserveCommand{kProject, "u1", "h", 0, 0, 1, "", {}}},
        LedgerCommandBody{ReleaseCommand{kProject, "hold_1"}}}) {
    expect_broken(decide_now(command), "has a negative balance, -1");
  }
}

TEST_F(LedgerRulesTest, NegativeCountersAndHoldsAreBrokenInvariants) {
  add_account("u1", 100).held_micros = -5;
  expect_broken(decide_now(ReserveCommand{kProject, "u1", "h", 0, 0, 1, "", {}}),
                "negative held micros");
  book_.accounts.at({kProject, "u1"}).account.held_micros = 0;
  book_.projects.at(kProject).spend.period_spent_micros = -1;
  expect_broken(decide_now(ReserveCommand{kProject, "u1", "h", 0, 0, 1, "", {}}),
                "project proj_a has a negative spend");
  book_.projects.at(kProject).spend.period_spent_micros = 0;
  add_hold("hold_1", "u1", -3, 0);
  expect_broken(decide_now(SettleCommand{kProject, "hold_1", 0, 0, 0, 0}), "negative amount");
}

TEST_F(LedgerRulesTest, AReleasePastInt64MaxIsRefusedNotWrapped) {
  add_account("u1", INT64_MAX - 5);
  add_hold("hold_1", "u1", 10, 0);
  expect_broken(decide_now(ReleaseCommand{kProject, "hold_1"}), "would leave int64");
  EXPECT_EQ(account("u1").balance, INT64_MAX - 5);
  EXPECT_EQ(book_.holds.at("hold_1").hold.status, "open");
}

TEST_F(LedgerRulesTest, ACloseThatWouldTakeHeldMicrosNegativeIsRefused) {
  add_account("u1", 10);
  add_hold("hold_1", "u1", 1, 500);
  book_.projects.at(kProject).spend.held_micros = 499;
  expect_broken(decide_now(SettleCommand{kProject, "hold_1", 1, 500, 0, 0}),
                "project proj_a has a negative held micros");
}

// ---- Invariants on the change a decision makes ------------------------------------------------

TEST_F(LedgerRulesTest, CheckChangePassesWhatTheRulesDecide) {
  add_account("u1", 100);
  LedgerDecision decision = decide_now(MeterCommand{kProject, "u1", "gen", 1});
  EXPECT_TRUE(check_change(book_, decision.change).ok());
}

TEST_F(LedgerRulesTest, CheckChangeRefusesABalanceThatIsNotThePreviousPlusItsEntries) {
  Account before = add_account("u1", 100);
  LedgerChange unexplained;
  Account after = before;
  after.balance = 101;
  after.purchased = 101;
  unexplained.accounts[{kProject, "u1"}] = after;
  auto checked = check_change(book_, unexplained);
  ASSERT_FALSE(checked.ok());
  EXPECT_EQ(checked.error().code, ErrorCode::kInternal);
  EXPECT_NE(checked.error().message.find("not the one before plus its entries"),
            std::string::npos);

  LedgerChange wrong_chain = unexplained;
  wrong_chain.entries.push_back({{kProject, "u1"}, "grant", Pool::kPurchased, 1, 100, "", "", "", 0});
  EXPECT_FALSE(check_change(book_, wrong_chain).ok());  // balance_after should be 101
  wrong_chain.entries[0].balance_after = 101;
  EXPECT_TRUE(check_change(book_, wrong_chain).ok());
}

TEST_F(LedgerRulesTest, CheckChangeRefusesANegativeBalanceAndStrayRows) {
  Account before = add_account("u1", 100);
  LedgerChange overdrawn;
  Account after = before;
  after.balance = -1;
  after.purchased = -1;
  overdrawn.accounts[{kProject, "u1"}] = after;
  overdrawn.entries.push_back({{kProject, "u1"}, "debit", Pool::kPurchased, -101, -1, "gen", "", "", 0});
  EXPECT_FALSE(check_change(book_, overdrawn).ok());

  LedgerChange entry_alone;  // an entry with no balance changed
  entry_alone.entries.push_back({{kProject, "u1"}, "grant", Pool::kPurchased, 1, 101, "", "", "", 0});
  EXPECT_FALSE(check_change(book_, entry_alone).ok());

  LedgerChange stranger;  // an account the batch never locked
  Account other = before;
  other.user_id = "u9";
  stranger.accounts[{kProject, "u9"}] = other;
  EXPECT_FALSE(check_change(book_, stranger).ok());

  LedgerChange overcharged;
  HoldState hold;
  hold.hold = Hold{"hold_1", kProject, "u1", 10, 0, 0, "settled", kNow, ""};
  hold.settled_credits = 11;
  overcharged.holds["hold_1"] = hold;
  EXPECT_FALSE(check_change(book_, overcharged).ok());
}

// ---- Small rules ------------------------------------------------------------------------------

TEST(LedgerSmallRules, APeriodRollsOverAtTheMonthStart) {
  int64_t start_ms = 100, spent = 7;
  EXPECT_FALSE(roll_period(start_ms, spent, 100));
  EXPECT_EQ(spent, 7);
  EXPECT_TRUE(roll_period(start_ms, spent, 200));
  EXPECT_EQ(start_ms, 200);
  EXPECT_EQ(spent, 0);
}

TEST(LedgerSmallRules, ANewAccountIsGrantedItsStartingCredits) {
  EXPECT_FALSE(starting_grant({kProject, "u1"}, 0));
  auto grant = starting_grant({kProject, "u1"}, 25);
  ASSERT_TRUE(grant);
  EXPECT_EQ(grant->kind, "grant");
  EXPECT_EQ(grant->amount, 25);
  EXPECT_EQ(grant->balance_after, 25);
  EXPECT_EQ(grant->reason, "starting credits");
  EXPECT_EQ(grant->command, kNoCommand);
}

TEST(LedgerSmallRules, AnIdempotencyKeyReusedForAnotherRequestIsAConflict) {
  Idempotency key{"key_a", "k1", "hash_1"};
  EXPECT_FALSE(idempotency_mismatch("hash_1", key));
  auto mismatch = idempotency_mismatch("hash_2", key);
  ASSERT_TRUE(mismatch);
  EXPECT_EQ(mismatch->code, ErrorCode::kConflict);
  EXPECT_EQ(mismatch->param, "Idempotency-Key");
  EXPECT_EQ(mismatch->message,
            "Idempotency-Key 'k1' was already used with a different request; use a new key");
}

}  // namespace
}  // namespace tollgate::server
