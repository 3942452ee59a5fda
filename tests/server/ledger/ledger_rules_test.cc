// The ledger's rules without a database: each command's allowed and refused paths, holds at
// every budget level, amounts near INT64_MAX refused rather than wrapped, and the invariant
// checks firing on a book that breaks them. The stored counts a decision may ask for are plain
// numbers here; the conformance suite runs the same rules against real SQLite and PostgreSQL.
#include "server/ledger/ledger_rules.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

namespace tollgate::server {
namespace {

constexpr int64_t kNow = 1'790'000'000'000;
constexpr const char* kProject = "proj_a";

class LedgerRulesTest : public ::testing::Test {
 protected:
  LedgerRulesTest() { add_project(kProject); }

  Account& add_account(const std::string& user, int64_t balance) {
    Account account;
    account.project_id = kProject;
    account.user_id = user;
    account.balance = balance;
    account.period_start_ms = kNow - 1'000;
    return book_.accounts[{kProject, user}].account = account;
  }

  ProjectState& add_project(const std::string& id) {
    ProjectState& project = book_.projects[id];
    project.settings.plans = {{"pro", 1000, 19'000'000}};
    project.spend.period_start_ms = kNow - 1'000;
    project.locked = true;
    return project;
  }

  // An open hold as stored, with its reservation taken from the account and the project.
  HoldState& add_hold(const std::string& id, const std::string& user, int64_t credits,
                      int64_t micros, const std::string& operation = "") {
    HoldState& state = book_.holds[id];
    state.hold = Hold{id, kProject, user, credits, micros, "open", kNow - 1, operation};
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
      }};
};

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
  expect_refused(decide_now(CreditCommand{kProject, "ghost", "grant", 1, ""}),
                 ErrorCode::kNotFound);
  expect_refused(decide_now(ReserveCommand{kProject, "ghost", "hold_1", 1, 1, 1, "", {}}),
                 ErrorCode::kNotFound);
}

TEST_F(LedgerRulesTest, MeterCostsWithoutAnInt64DebitAreRefusedNotWrapped) {
  add_account("u1", 0);
  expect_broken(decide_now(MeterCommand{kProject, "u1", "gen", INT64_MIN}), "no debit");
  add_account("full", INT64_MAX);
  expect_broken(decide_now(MeterCommand{kProject, "full", "gen", -1}), "would leave int64");
  EXPECT_EQ(account("full").balance, INT64_MAX);
}

// ---- Credit -----------------------------------------------------------------------------------

TEST_F(LedgerRulesTest, CreditAddsAnEntryOfItsKind) {
  add_account("u1", 5);
  LedgerOutcome outcome = run(CreditCommand{kProject, "u1", "refund", 10, "sorry"});
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
  LedgerDecision decision = decide_now(CreditCommand{kProject, "u1", "grant", 0, ""});
  expect_refused(decision, ErrorCode::kInvalidArgument, "positive amount");
  EXPECT_EQ(decision.outcome.error->param, "amount");
  EXPECT_EQ(stored_reads_, 0);
}

TEST_F(LedgerRulesTest, CreditPastInt64MaxIsRefusedCountingOpenHolds) {
  add_account("u1", INT64_MAX - 100);
  stored_open_credits_ = 50;  // credits the open holds will give back
  LedgerDecision refused = decide_now(CreditCommand{kProject, "u1", "grant", 51, ""});
  expect_refused(refused, ErrorCode::kOverflow, "counting the 50 credits held");
  EXPECT_EQ(refused.outcome.error->param, "amount");
  LedgerOutcome fits = run(CreditCommand{kProject, "u1", "grant", 50, ""});
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
  expect_refused(decide_now(CreditCommand{kProject, "u1", "grant", 61, ""}), ErrorCode::kOverflow,
                 "counting the 40 credits");
  EXPECT_FALSE(run(CreditCommand{kProject, "u1", "grant", 60, ""}).error);
}

TEST_F(LedgerRulesTest, ACountTheStoreCannotReadRefusesAndRollsTheBatchBack) {
  add_account("u1", 5);
  stored_failure_ = fail(ErrorCode::kStoreUnavailable, "the database went away");
  LedgerDecision decision = decide_now(CreditCommand{kProject, "u1", "grant", 1, ""});
  expect_refused(decision, ErrorCode::kStoreUnavailable, "went away");
  ASSERT_TRUE(decision.read_error);
  EXPECT_EQ(decision.read_error->code, ErrorCode::kStoreUnavailable);

  StoredHolds none;  // a driver that gives no counts at all: refused, not a crash
  LedgerDecision blind =
      decide(book_, CreditCommand{kProject, "u1", "grant", 1, ""}, {kNow, 0, none});
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

// ---- Reserve: every budget level ----------------------------------------------------------------

TEST_F(LedgerRulesTest, ReserveTakesCreditsAndHoldsMicrosAtEveryLevel) {
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

TEST_F(LedgerRulesTest, ReserveIsRefusedByTheBalance) {
  add_account("u1", 100);
  LedgerDecision decision = decide_now(ReserveCommand{kProject, "u1", "h", 101, 0, 1, "", {}});
  expect_refused(decision, ErrorCode::kInsufficientCredits,
                 "the call may cost 101, balance is 100");
  EXPECT_EQ(decision.outcome.account->balance, 100);
}

TEST_F(LedgerRulesTest, ReserveIsRefusedByTheSpendCapCountingHeldMicros) {
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

TEST_F(LedgerRulesTest, ReserveIsRefusedByTheProjectBudget) {
  add_account("u1", 100);
  ProjectState& project = book_.projects.at(kProject);
  project.settings.budget_micros = 1'000;
  project.spend.period_spent_micros = 900;
  expect_refused(decide_now(ReserveCommand{kProject, "u1", "h", 1, 101, 1, "", {}}),
                 ErrorCode::kInsufficientCredits, "the project's monthly budget is reached");
  EXPECT_FALSE(run(ReserveCommand{kProject, "u1", "h", 1, 100, 1, "", {}}).error);
}

TEST_F(LedgerRulesTest, ReserveIsRefusedByAnInvocationLimitCountingTheBatchsHolds) {
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

TEST_F(LedgerRulesTest, ReserveChecksLimitsBeforeTheBalance) {
  add_account("u1", 0);
  stored_invocations_ = 5;
  expect_refused(decide_now(ReserveCommand{kProject, "u1", "h", 10, 0, 1, "f",
                                           {{"perUserDailyLimit", true, 0, 5}}}),
                 ErrorCode::kRateLimited);
}

TEST_F(LedgerRulesTest, ReserveRefusesBadArgumentsAndAReusedHoldId) {
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

TEST_F(LedgerRulesTest, ReserveMicrosPastInt64MaxAreRefusedNotWrapped) {
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

TEST_F(LedgerRulesTest, ALimitCountTheStoreCannotReadRollsTheBatchBack) {
  add_account("u1", 100);
  stored_failure_ = fail(ErrorCode::kStoreUnavailable, "gone");
  LedgerDecision decision =
      decide_now(ReserveCommand{kProject, "u1", "h", 1, 0, 1, "f", {{"x", false, 0, 9}}});
  expect_refused(decision, ErrorCode::kStoreUnavailable);
  EXPECT_TRUE(decision.read_error);
}

// ---- Settle, release, expire ------------------------------------------------------------------

TEST_F(LedgerRulesTest, SettleChargesTheActualCostAndReturnsTheRest) {
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

TEST_F(LedgerRulesTest, SettleRefusesMoreThanTheReservation) {
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

TEST_F(LedgerRulesTest, CloseNeedsAnOpenHoldOfTheProject) {
  add_account("u1", 70);
  add_hold("hold_1", "u1", 30, 0);
  expect_refused(decide_now(SettleCommand{kProject, "hold_x", 0, 0, 0, 0}), ErrorCode::kNotFound,
                 "no hold hold_x");
  expect_refused(decide_now(ReleaseCommand{"proj_b", "hold_1"}), ErrorCode::kNotFound);
  EXPECT_FALSE(run(ReleaseCommand{kProject, "hold_1"}).error);
  expect_refused(decide_now(SettleCommand{kProject, "hold_1", 0, 0, 0, 0}), ErrorCode::kConflict,
                 "hold hold_1 is already released");
}

TEST_F(LedgerRulesTest, ReleaseReturnsTheWholeReservationAndChargesNothing) {
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

TEST_F(LedgerRulesTest, ExpireChargesEachOpenExpiredHoldAsReserved) {
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

TEST_F(LedgerRulesTest, ExpireLeavesAHoldWhoseCloseWouldBreakAnInvariantOpen) {
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

// ---- Invariants on the state a decision reads -------------------------------------------------

TEST_F(LedgerRulesTest, AnAccountWithANegativeBalanceRefusesEveryCommand) {
  add_account("u1", -1);
  add_hold("hold_1", "u1", 1, 0);
  for (const LedgerCommandBody& command :
       {LedgerCommandBody{MeterCommand{kProject, "u1", "gen", 0}},
        LedgerCommandBody{CreditCommand{kProject, "u1", "grant", 1, ""}},
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
  unexplained.accounts[{kProject, "u1"}] = after;
  auto checked = check_change(book_, unexplained);
  ASSERT_FALSE(checked.ok());
  EXPECT_EQ(checked.error().code, ErrorCode::kInternal);
  EXPECT_NE(checked.error().message.find("not the one before plus its entries"),
            std::string::npos);

  LedgerChange wrong_chain = unexplained;
  wrong_chain.entries.push_back({{kProject, "u1"}, "grant", 1, 100, "", "", "", 0});
  EXPECT_FALSE(check_change(book_, wrong_chain).ok());  // balance_after should be 101
  wrong_chain.entries[0].balance_after = 101;
  EXPECT_TRUE(check_change(book_, wrong_chain).ok());
}

TEST_F(LedgerRulesTest, CheckChangeRefusesANegativeBalanceAndStrayRows) {
  Account before = add_account("u1", 100);
  LedgerChange overdrawn;
  Account after = before;
  after.balance = -1;
  overdrawn.accounts[{kProject, "u1"}] = after;
  overdrawn.entries.push_back({{kProject, "u1"}, "debit", -101, -1, "gen", "", "", 0});
  EXPECT_FALSE(check_change(book_, overdrawn).ok());

  LedgerChange entry_alone;  // an entry with no balance changed
  entry_alone.entries.push_back({{kProject, "u1"}, "grant", 1, 101, "", "", "", 0});
  EXPECT_FALSE(check_change(book_, entry_alone).ok());

  LedgerChange stranger;  // an account the batch never locked
  Account other = before;
  other.user_id = "u9";
  stranger.accounts[{kProject, "u9"}] = other;
  EXPECT_FALSE(check_change(book_, stranger).ok());

  LedgerChange overcharged;
  HoldState hold;
  hold.hold = Hold{"hold_1", kProject, "u1", 10, 0, "settled", kNow, ""};
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
