// The ledger's rules, checked identically against both stores: SQLite (a file in a temp dir)
// and PostgreSQL (a throwaway cluster started for this process).
//
// After every test the audit must pass: each balance equals the sum of its entries and none is
// negative.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <future>
#include <latch>
#include <limits>
#include <mutex>
#include <thread>
#include <vector>

#include "server/auth/signing_keys.h"
#include "server/ledger/ledger_writer.h"
#include "server/log/logger.h"
#include "server/store/pg_connection.h"
#include "server/store/store.h"
#include "tests/support/log_file.h"
#include "tests/support/pg_cluster.h"

namespace tollgate::server {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kNow = 1'790'000'000'000;  // a fixed "now" in Nov 2026

struct SqliteBackend {
  static constexpr const char* kName = "Sqlite";
  fs::path dir =
      fs::temp_directory_path() / ("tollgate-ledger-" + std::to_string(::getpid()) + "-" +
                                   std::to_string(std::atomic_fetch_add(&counter, 1)));
  static inline std::atomic<int> counter{0};
  ~SqliteBackend() { fs::remove_all(dir); }
  // Every call opens another Store on the same database, as another process would.
  Result<std::unique_ptr<Store>> open() { return open_store({dir.string(), ""}); }
};

struct PostgresBackend {
  static constexpr const char* kName = "Postgres";
  std::string url =
      testing::PgCluster::shared() ? testing::PgCluster::shared()->fresh_database() : std::string();
  Result<std::unique_ptr<Store>> open() {
    if (url.empty()) return fail(ErrorCode::kStoreUnavailable, "no PostgreSQL cluster");
    return open_store({"", url});
  }
};

// PostgreSQL behind pgbouncer in transaction pooling mode: every test again, with each
// transaction free to land on any of a few server connections shared by all the test's stores.
struct PgbouncerBackend {
  static constexpr const char* kName = "Pgbouncer";
  std::string url =
      testing::PgBouncer::shared()
          ? testing::PgBouncer::shared()->through(testing::PgCluster::shared()->fresh_database())
          : std::string();
  Result<std::unique_ptr<Store>> open() {
    if (url.empty()) return fail(ErrorCode::kStoreUnavailable, "no pgbouncer");
    return open_store({"", url});
  }
};

template <typename Backend>
class LedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = backend_.open();
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    store_ = std::move(opened).value();
    project_ = make_project("proj_a", 100);
  }

  void TearDown() override {
    if (!store_) return;
    for (const std::string& id : projects_) {
      auto audit = store_->audit(id);
      ASSERT_TRUE(audit.ok()) << audit.error().message;
      EXPECT_TRUE(audit.value().mismatched.empty())
          << "balance != sum of entries for " << audit.value().mismatched.front();
    }
  }

  std::string make_project(const std::string& id, int64_t starting_credits,
                           std::optional<int64_t> budget_micros = std::nullopt) {
    Project project;
    project.id = id;
    project.name = id;
    project.created_at_ms = kNow;
    project.settings.starting_credits = starting_credits;
    project.settings.budget_micros = budget_micros;
    project.settings.plans = {{"pro", 1000, 19'000'000, "usd", "month"}};
    KeyRecord key{"key_" + id, id, KeyKind::kSecret, "hash_" + id, "abcd", std::nullopt, kNow};
    EXPECT_TRUE(store_->create_project(project, std::span<const KeyRecord>(&key, 1)).ok());
    projects_.push_back(id);
    return id;
  }

  LedgerOutcome run(LedgerCommandBody body, std::optional<Idempotency> idem = std::nullopt,
                    int64_t now = kNow) {
    LedgerCommand command{std::move(body), std::move(idem)};
    auto outcomes = store_->apply(std::span<const LedgerCommand>(&command, 1), now);
    EXPECT_TRUE(outcomes.ok()) << outcomes.error().message;
    if (!outcomes.ok()) return {};
    return outcomes.value().at(0);
  }

  LedgerOutcome meter(const std::string& user, int64_t cost,
                      std::optional<Idempotency> idem = std::nullopt) {
    return run(MeterCommand{project_, user, "gen", cost}, std::move(idem));
  }

  int64_t balance(const std::string& user) {
    return store_->get_account(project_, user, kNow).value().balance;
  }

  // 64 threads meter `cost` at once against a fresh user through `stores` (round robin), each
  // with its own LedgerWriter as separate processes would have; returns how many were allowed.
  int concurrent_meters(std::vector<Store*> stores, const std::string& user, int64_t cost) {
    std::vector<std::unique_ptr<LedgerWriter>> writers;
    for (Store* store : stores) {
      writers.push_back(std::make_unique<LedgerWriter>(*store, ledger_partitions_for(*store)));
    }
    std::atomic<int> allowed{0};
    std::atomic<int> failed{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 64; ++i) {
      threads.emplace_back([&, i] {
        auto outcome = writers[i % writers.size()]->apply(
            LedgerCommand{MeterCommand{project_, user, "gen", cost}, std::nullopt});
        if (!outcome.ok()) {
          ++failed;
        } else if (!outcome.value().error) {
          ++allowed;
        }
      });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(failed.load(), 0);
    return allowed.load();
  }

  Backend backend_;
  std::unique_ptr<Store> store_;
  std::string project_;
  std::vector<std::string> projects_;
};

struct BackendNames {
  template <typename T>
  static std::string GetName(int) {
    return T::kName;
  }
};

using Backends = ::testing::Types<SqliteBackend, PostgresBackend, PgbouncerBackend>;
TYPED_TEST_SUITE(LedgerTest, Backends, BackendNames);

TYPED_TEST(LedgerTest, FirstSightGrantsStartingCreditsAsAnEntry) {
  auto before = this->store_->get_account(this->project_, "u1", kNow);
  ASSERT_TRUE(before.ok());
  EXPECT_FALSE(before.value().exists);
  EXPECT_EQ(before.value().balance, 100);
  auto outcome = this->meter("u1", 1);
  EXPECT_FALSE(outcome.error);
  EXPECT_EQ(outcome.account->balance, 99);
  auto entries = this->store_->list_ledger(this->project_, "u1", Page{});
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries.value().size(), 2u);
  EXPECT_EQ(entries.value()[1].kind, "grant");
  EXPECT_EQ(entries.value()[1].amount, 100);
  EXPECT_EQ(entries.value()[0].kind, "debit");
  EXPECT_EQ(entries.value()[0].amount, -1);
  EXPECT_EQ(entries.value()[0].balance_after, 99);
}

TYPED_TEST(LedgerTest, BlockedMeterDeductsNothing) {
  EXPECT_FALSE(this->meter("u1", 60).error);
  auto blocked = this->meter("u1", 41);
  ASSERT_TRUE(blocked.error);
  EXPECT_EQ(blocked.error->code, ErrorCode::kInsufficientCredits);
  EXPECT_EQ(blocked.account->balance, 40);
  EXPECT_EQ(this->balance("u1"), 40);
  EXPECT_FALSE(this->meter("u1", 40).error);
  EXPECT_EQ(this->balance("u1"), 0);
  EXPECT_TRUE(this->meter("u1", 1).error);
}

TYPED_TEST(LedgerTest, BatchDecidesInArrivalOrder) {
  std::vector<LedgerCommand> commands;
  for (int64_t cost : {30, 50, 40, 20}) {
    commands.push_back({MeterCommand{this->project_, "u1", "gen", cost}, std::nullopt});
  }
  auto outcomes = this->store_->apply(commands, kNow);
  ASSERT_TRUE(outcomes.ok()) << outcomes.error().message;
  EXPECT_FALSE(outcomes.value()[0].error);  // 100 -> 70
  EXPECT_FALSE(outcomes.value()[1].error);  // 70 -> 20
  EXPECT_TRUE(outcomes.value()[2].error);   // 40 > 20
  EXPECT_FALSE(outcomes.value()[3].error);  // 20 -> 0
  EXPECT_EQ(this->balance("u1"), 0);
}

TYPED_TEST(LedgerTest, RaceAllowsExactlyFloorOfBalanceOverCost) {
  for (int64_t cost : {2, 3, 7}) {  // 64 meters ask for more than 100 credits hold
    std::string user = "racer-" + std::to_string(cost);
    int allowed = this->concurrent_meters({this->store_.get()}, user, cost);
    EXPECT_EQ(allowed, 100 / cost) << "cost " << cost;
    EXPECT_EQ(this->balance(user), 100 % cost);
  }
}

TYPED_TEST(LedgerTest, ManyUsersAcrossPartitionsStayExact) {
  // 8 users x 16 meters of 7 against 100 credits each, all at once: 14 allowed per user.
  LedgerWriter writer(*this->store_, ledger_partitions_for(*this->store_));
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 128; ++i) {
    threads.emplace_back([&, i] {
      auto outcome = writer.apply(LedgerCommand{
          MeterCommand{this->project_, "many-" + std::to_string(i % 8), "gen", 7}, std::nullopt});
      if (outcome.ok() && !outcome.value().error) ++allowed;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(allowed.load(), 8 * 14);
  for (int u = 0; u < 8; ++u) EXPECT_EQ(this->balance("many-" + std::to_string(u)), 2);
}

TYPED_TEST(LedgerTest, DecidedComesBeforeTheCommitWithTheSameOutcomes) {
  this->meter("decided", 1);  // the account exists: 99 credits
  LedgerCommand command{MeterCommand{this->project_, "decided", "gen", 5}, std::nullopt};
  int told = 0;
  int64_t seen_by_reader = -1;
  std::vector<LedgerOutcome> tentative;
  auto outcomes = this->store_->apply(
      std::span<const LedgerCommand>(&command, 1), kNow,
      [&](const std::vector<LedgerOutcome>& decided) {
        ++told;
        tentative = decided;
        seen_by_reader = this->balance("decided");  // another connection: not committed yet
      });
  ASSERT_TRUE(outcomes.ok()) << outcomes.error().message;
  EXPECT_EQ(told, 1);
  EXPECT_EQ(seen_by_reader, 99);
  ASSERT_EQ(tentative.size(), 1u);
  ASSERT_TRUE(tentative[0].account.has_value());
  EXPECT_EQ(tentative[0].account->balance, 94);
  EXPECT_EQ(outcomes.value()[0].account->balance, 94);
  EXPECT_EQ(this->balance("decided"), 94);
}

TYPED_TEST(LedgerTest, WriterTellsDecidedBeforeDone) {
  LedgerWriter writer(*this->store_, ledger_partitions_for(*this->store_));
  std::mutex mutex;
  std::vector<std::string> order;
  std::promise<void> finished;
  writer.submit(
      LedgerCommand{MeterCommand{this->project_, "told", "gen", 3}, std::nullopt},
      [&](Result<LedgerOutcome> outcome) {
        std::lock_guard lock(mutex);
        order.push_back("done " + std::to_string(outcome.value().account->balance));
        finished.set_value();
      },
      [&](Result<LedgerOutcome> outcome) {
        std::lock_guard lock(mutex);
        order.push_back("decided " + std::to_string(outcome.value().account->balance));
      });
  finished.get_future().wait();
  EXPECT_EQ(order, (std::vector<std::string>{"decided 97", "done 97"}));
}

TYPED_TEST(LedgerTest, BigBatchesAreAnsweredThroughTheAnswerer) {
  // 200 meters of 1 queued at once: the first batch commits while the rest queue, so later
  // batches hold more than kInlineAnswersMax commands and are answered on other threads. Every
  // command is answered exactly once, with the ledger exact.
  constexpr int kMeters = 200;
  std::mutex mutex;
  std::vector<std::thread> answer_threads;
  int handed_off = 0;
  std::latch answered(kMeters);
  std::atomic<int> allowed{0};
  std::atomic<int> off_writer{0};
  {
    LedgerWriter writer(*this->store_, ledger_partitions_for(*this->store_));
    writer.answer_through([&](std::function<void()> answers) {
      std::lock_guard lock(mutex);
      ++handed_off;
      answer_threads.emplace_back(std::move(answers));
    });
    for (int i = 0; i < kMeters; ++i) {
      writer.submit(LedgerCommand{MeterCommand{this->project_, "answered", "gen", 1}, std::nullopt},
                    [&](Result<LedgerOutcome> outcome) {
                      if (outcome.ok() && !outcome.value().error) ++allowed;
                      std::lock_guard lock(mutex);
                      for (const std::thread& t : answer_threads)
                        if (t.get_id() == std::this_thread::get_id()) ++off_writer;
                      answered.count_down();
                    });
    }
    answered.wait();
  }
  for (std::thread& thread : answer_threads) thread.join();
  EXPECT_GT(handed_off, 0);
  EXPECT_GT(off_writer.load(), static_cast<int>(kInlineAnswersMax));
  EXPECT_EQ(allowed.load(), 100);  // 100 starting credits
  EXPECT_EQ(this->balance("answered"), 0);
}

TYPED_TEST(LedgerTest, TwoStoresOnOneDatabaseStayExact) {
  auto second = this->backend_.open();
  ASSERT_TRUE(second.ok()) << second.error().message;
  int allowed = this->concurrent_meters({this->store_.get(), second.value().get()}, "shared", 3);
  EXPECT_EQ(allowed, 33);
  EXPECT_EQ(this->balance("shared"), 1);
}

TYPED_TEST(LedgerTest, CreditsGrantAndRefund) {
  auto granted = this->run(CreditCommand{this->project_, "u1", "grant", 50, "promo", std::nullopt});
  EXPECT_FALSE(granted.error);
  EXPECT_EQ(granted.account->balance, 150);
  EXPECT_GT(granted.entry_seq, 0);
  auto refunded =
      this->run(CreditCommand{this->project_, "u1", "refund", 5, "bad output", std::nullopt});
  EXPECT_EQ(refunded.account->balance, 155);
  auto overflow =
      this->run(CreditCommand{this->project_, "u1", "grant", INT64_MAX, "too much", std::nullopt});
  ASSERT_TRUE(overflow.error);
  EXPECT_EQ(overflow.error->code, ErrorCode::kOverflow);
  EXPECT_EQ(this->balance("u1"), 155);
}

TYPED_TEST(LedgerTest, PoolsAreKeptApartAndEachEqualsItsEntries) {
  auto reset = this->run(AllowanceCommand{this->project_, "u1", 1000, std::string("pro"),
                                          "first period", std::string("invoice:in_1")});
  ASSERT_FALSE(reset.error);
  EXPECT_EQ(reset.account->allowance, 1000);
  EXPECT_EQ(reset.account->purchased, 100);  // the starting credits
  EXPECT_EQ(reset.account->plan, "pro");
  auto spent = this->meter("u1", 1050);
  ASSERT_FALSE(spent.error);
  Account after = this->store_->get_account(this->project_, "u1", kNow).value();
  EXPECT_EQ(after.allowance, 0);
  EXPECT_EQ(after.purchased, 50);
  EXPECT_EQ(after.balance, 50);
  auto entries = this->store_->list_ledger(this->project_, std::string("u1"), Page{10, {}});
  ASSERT_TRUE(entries.ok());
  ASSERT_GE(entries.value().size(), 2u);
  EXPECT_EQ(entries.value()[0].pool, Pool::kPurchased);  // newest first
  EXPECT_EQ(entries.value()[0].amount, -50);
  EXPECT_EQ(entries.value()[1].pool, Pool::kAllowance);
  EXPECT_EQ(entries.value()[1].amount, -1000);
  // The mark is permanent: the same invoice in a later batch resets nothing.
  auto again = this->run(AllowanceCommand{this->project_, "u1", 1000, std::string("pro"),
                                          "first period", std::string("invoice:in_1")});
  EXPECT_TRUE(again.replayed);
  EXPECT_EQ(this->balance("u1"), 50);
}

TYPED_TEST(LedgerTest, AClawbackKeepsItsProgressAndStopsAtZero) {
  auto first = this->run(ClawbackCommand{this->project_, "u1", "clawback:pi_1", 60, "refund"});
  EXPECT_EQ(first.amount, 60);
  auto rest = this->run(ClawbackCommand{this->project_, "u1", "clawback:pi_1", 150, "dispute"});
  EXPECT_EQ(rest.amount, 40);
  EXPECT_EQ(rest.shortfall, 50);
  EXPECT_EQ(this->balance("u1"), 0);
  auto repeat = this->run(ClawbackCommand{this->project_, "u1", "clawback:pi_1", 150, "dispute"});
  EXPECT_TRUE(repeat.replayed);
}

// Five deliveries of one purchase at once, through two stores as two processes: one grant.
TYPED_TEST(LedgerTest, AMarkedPurchaseRacedFiveTimesGrantsOnce) {
  auto second = this->backend_.open();
  ASSERT_TRUE(second.ok()) << second.error().message;
  std::vector<Store*> stores{this->store_.get(), second.value().get()};
  std::atomic<int> granted{0};
  std::atomic<int> replayed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 5; ++i) {
    threads.emplace_back([&, i] {
      LedgerCommand command{CreditCommand{this->project_, "racer", "purchase", 500, "pack",
                                          std::string("checkout:cs_race")},
                            std::nullopt};
      auto outcomes = stores[i % 2]->apply(std::span<const LedgerCommand>(&command, 1), kNow);
      ASSERT_TRUE(outcomes.ok()) << outcomes.error().message;
      const LedgerOutcome& outcome = outcomes.value().at(0);
      ASSERT_FALSE(outcome.error) << outcome.error->message;
      (outcome.replayed ? replayed : granted)++;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(granted.load(), 1);
  EXPECT_EQ(replayed.load(), 4);
  EXPECT_EQ(this->balance("racer"), 600);
}

TYPED_TEST(LedgerTest, UpdateAccountChecksThePlan) {
  auto bad = this->run(UpdateAccountCommand{this->project_, "u1", "platinum", {}});
  ASSERT_TRUE(bad.error);
  EXPECT_EQ(bad.error->param, "plan");
  auto good = this->run(
      UpdateAccountCommand{this->project_, "u1", "pro", std::optional<int64_t>(5'000'000)});
  EXPECT_FALSE(good.error);
  EXPECT_EQ(good.account->plan, "pro");
  EXPECT_EQ(good.account->spend_cap_micros, 5'000'000);
  auto stats = this->store_->account_stats(this->project_);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats.value().total, 1);
  EXPECT_EQ(stats.value().paid, 0);  // a plan set by hand is not paid for
  EXPECT_TRUE(stats.value().mrr.empty());
  EXPECT_EQ(stats.value().credits_outstanding, 100);
}

// ---- Billing records -----------------------------------------------------------------------

Subscription subscription(const std::string& project, const std::string& id,
                          const std::string& user, const std::string& status, int64_t price,
                          const std::string& interval, int64_t state_at) {
  return {id,    project,  user,     "cus_" + user, "pro",    status, price,
          "usd", interval, kNow + 1, false,         state_at, kNow,   kNow};
}

TYPED_TEST(LedgerTest, MrrComesFromLiveSubscriptionsNormalisedToAMonth) {
  Store& store = *this->store_;
  const std::string& p = this->project_;
  ASSERT_TRUE(
      store.put_subscription(subscription(p, "sub_m", "a", "active", 19'000'000, "month", 1))
          .value());
  ASSERT_TRUE(
      store.put_subscription(subscription(p, "sub_y", "b", "past_due", 120'000'000, "year", 1))
          .value());
  ASSERT_TRUE(
      store.put_subscription(subscription(p, "sub_c", "c", "canceled", 50'000'000, "month", 1))
          .value());
  auto stats = store.account_stats(p);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats.value().paid, 2);
  ASSERT_EQ(stats.value().mrr.size(), 1u);
  EXPECT_EQ(stats.value().mrr[0].currency, "usd");
  EXPECT_EQ(stats.value().mrr[0].micros, 29'000'000);
}

TYPED_TEST(LedgerTest, AnOlderSubscriptionStateNeverOverwritesANewerOne) {
  Store& store = *this->store_;
  const std::string& p = this->project_;
  ASSERT_TRUE(
      store.put_subscription(subscription(p, "sub_1", "a", "past_due", 1, "month", 20)).value());
  EXPECT_FALSE(
      store.put_subscription(subscription(p, "sub_1", "a", "active", 1, "month", 10)).value());
  EXPECT_EQ(store.get_subscription(p, "sub_1").value()->status, "past_due");
  EXPECT_TRUE(
      store.put_subscription(subscription(p, "sub_1", "a", "canceled", 1, "month", 30)).value());
  EXPECT_EQ(store.latest_subscription(p, "a").value()->status, "canceled");
}

TYPED_TEST(LedgerTest, StripeRecordsAreKeptOnceEach) {
  Store& store = *this->store_;
  const std::string& p = this->project_;
  EXPECT_EQ(store.put_customer(p, "u1", "cus_first", kNow).value(), "cus_first");
  EXPECT_EQ(store.put_customer(p, "u1", "cus_second", kNow).value(), "cus_first");
  EXPECT_EQ(store.user_of_customer(p, "cus_first").value(), std::optional<std::string>("u1"));
  StripeEventRecord event{p, "evt_1", "invoice.paid", 100, "allowance reset", kNow};
  EXPECT_TRUE(store.record_stripe_event(event).value());
  event.outcome = "again";
  EXPECT_FALSE(store.record_stripe_event(event).value());
  EXPECT_EQ(store.find_stripe_event(p, "evt_1").value()->outcome, "allowance reset");
  ASSERT_TRUE(store.record_stripe_event({p, "evt_2", "x", 101, "", kNow + 1}).ok());
  auto page = store.list_stripe_events(p, Page{1, {}});
  ASSERT_EQ(page.value().size(), 1u);
  EXPECT_EQ(page.value()[0].event_id, "evt_2");
  auto next = store.list_stripe_events(p, Page{5, std::string("evt_2")});
  ASSERT_EQ(next.value().size(), 1u);
  EXPECT_EQ(next.value()[0].event_id, "evt_1");

  Checkout checkout;
  checkout.id = "cs_1";
  checkout.project_id = p;
  checkout.user_id = "u1";
  checkout.product = "starter";
  checkout.product_kind = "pack";
  checkout.credits = 500;
  checkout.price_micros = 5'000'000;
  checkout.currency = "usd";
  ASSERT_TRUE(store.put_checkout(checkout).ok());
  checkout.status = "complete";
  checkout.payment_intent = "pi_1";
  checkout.fulfilled_at_ms = kNow;
  ASSERT_TRUE(store.put_checkout(checkout).ok());
  auto found = store.checkout_by_payment_intent(p, "pi_1");
  ASSERT_TRUE(found.ok() && found.value());
  EXPECT_EQ(found.value()->status, "complete");
  EXPECT_EQ(found.value()->fulfilled_at_ms, kNow);

  ASSERT_TRUE(store.add_revenue({p, "cs_1", "u1", "starter", 5'000'000, "usd", kNow}).ok());
  ASSERT_TRUE(store.add_revenue({p, "cs_1", "u1", "starter", 5'000'000, "usd", kNow}).ok());
  ASSERT_TRUE(store.add_revenue({p, "in_1", "u2", "pro", 19'000'000, "usd", kNow}).ok());
  auto revenue = store.revenue_totals(p, kNow - 1, kNow + 1);
  ASSERT_EQ(revenue.value().size(), 2u);
  EXPECT_EQ(revenue.value()[0].product, "pro");
  EXPECT_EQ(revenue.value()[1].product, "starter");
  EXPECT_EQ(revenue.value()[1].payments, 1);
  EXPECT_EQ(revenue.value()[1].micros, 5'000'000);
}

// ---- Features (operations) -------------------------------------------------------------------

OperationRecord operation(const std::string& project, const std::string& slug,
                          const std::string& definition = R"({"title":"t"})") {
  return {"op_" + slug, project, slug, definition, kNow, kNow};
}

TYPED_TEST(LedgerTest, OperationsCreateGetListPatchDelete) {
  Store& store = *this->store_;
  const std::string& project = this->project_;
  for (const char* slug : {"summarize", "classify", "translate"}) {
    ASSERT_TRUE(store.create_operation(operation(project, slug)).ok()) << slug;
  }
  auto got = store.get_operation(project, "summarize");
  ASSERT_TRUE(got.ok() && got.value());
  EXPECT_EQ(got.value()->id, "op_summarize");
  EXPECT_EQ(got.value()->definition, R"({"title":"t"})");

  auto first = store.list_operations(project, Page{2, std::nullopt});
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first.value().size(), 2u);
  EXPECT_EQ(first.value()[0].slug, "classify");
  EXPECT_EQ(first.value()[1].slug, "summarize");
  auto rest = store.list_operations(project, Page{2, std::string("summarize")});
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest.value().size(), 1u);
  EXPECT_EQ(rest.value()[0].slug, "translate");

  auto patched = store.patch_operation(project, "summarize", kNow + 5, [](OperationRecord& op) {
    op.definition = R"({"title":"new"})";
    return Result<void>();
  });
  ASSERT_TRUE(patched.ok());
  EXPECT_EQ(patched.value().updated_at_ms, kNow + 5);
  EXPECT_EQ(store.get_operation(project, "summarize").value()->definition, R"({"title":"new"})");

  EXPECT_TRUE(store.delete_operation(project, "summarize").value());
  EXPECT_FALSE(store.delete_operation(project, "summarize").value());
  EXPECT_FALSE(store.get_operation(project, "summarize").value().has_value());
}

TYPED_TEST(LedgerTest, OperationSlugsAreUniquePerProject) {
  Store& store = *this->store_;
  std::string other = this->make_project("proj_b", 0);
  ASSERT_TRUE(store.create_operation(operation(this->project_, "summarize")).ok());
  auto again = store.create_operation(operation(this->project_, "summarize", R"({"title":"x"})"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  EXPECT_EQ(store.get_operation(this->project_, "summarize").value()->definition,
            R"({"title":"t"})");  // the first one is untouched
  OperationRecord elsewhere = operation(other, "summarize");
  elsewhere.id = "op_other";
  EXPECT_TRUE(store.create_operation(elsewhere).ok());
  EXPECT_FALSE(store.get_operation(other, "classify").value().has_value());
  EXPECT_EQ(store.list_operations(other, Page{}).value().size(), 1u);
}

TYPED_TEST(LedgerTest, AFailedOperationPatchWritesNothing) {
  Store& store = *this->store_;
  ASSERT_TRUE(store.create_operation(operation(this->project_, "summarize")).ok());
  auto refused =
      store.patch_operation(this->project_, "summarize", kNow + 1, [](OperationRecord& op) {
        op.definition = "{}";
        return Result<void>(fail(ErrorCode::kInvalidArgument, "no", "title"));
      });
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().param, "title");
  auto kept = store.get_operation(this->project_, "summarize").value();
  EXPECT_EQ(kept->definition, R"({"title":"t"})");
  EXPECT_EQ(kept->updated_at_ms, kNow);
  auto missing = store.patch_operation(this->project_, "nope", kNow,
                                       [](OperationRecord&) { return Result<void>(); });
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

// ---- Runtime signing keys: stored sealed in the settings, rotated by compare-and-set --------

// A SecretBox under a master key of `fill` bytes.
SecretBox master_box(uint8_t fill) {
  SecretBox::Key master;
  master.fill(fill);
  return SecretBox(master);
}

TYPED_TEST(LedgerTest, ReplaceSettingIsCompareAndSet) {
  ASSERT_EQ(this->store_->put_setting_if_absent("cas", "one").value(), "one");
  EXPECT_FALSE(this->store_->replace_setting("cas", "two", "three").value());
  EXPECT_EQ(*this->store_->get_setting("cas").value(), "one");  // nothing written
  EXPECT_TRUE(this->store_->replace_setting("cas", "one", "two").value());
  EXPECT_EQ(*this->store_->get_setting("cas").value(), "two");
  EXPECT_FALSE(this->store_->replace_setting("absent", "", "x").value());
  EXPECT_FALSE(this->store_->get_setting("absent").value().has_value());
}

token::RuntimeClaims session_claims(const std::string& key_id) {
  token::RuntimeClaims claims;
  claims.key_id = key_id;
  claims.session_id = "rts_test";
  claims.project_id = "proj_a";
  claims.end_user_id = "user_1";
  claims.operations = {"summarize"};
  claims.issued_at_ms = kNow;
  claims.expires_at_ms = kNow + 60'000;
  return claims;
}

// Signs a token with `keys`' current key and verifies it through `verifier`.
Result<token::RuntimeClaims> round_trip(SigningKeys& keys, SigningKeys& verifier) {
  SigningKeys::Current current = keys.current();
  auto token = token::encode(session_claims(current.id), current.signer);
  if (!token) return token.error();
  return token::verify_keyed(
      token.value(), [&](std::string_view id) { return verifier.signer_for(id); }, kNow);
}

TYPED_TEST(LedgerTest, SigningKeysRotateWhileOldTokensStayValid) {
  SecretBox secrets = master_box(3);
  auto other_store = this->backend_.open();  // another process on the same database
  ASSERT_TRUE(other_store.ok());
  auto here = SigningKeys::load_or_create(*this->store_, secrets, kNow);
  auto there = SigningKeys::load_or_create(*other_store.value(), secrets, kNow);
  ASSERT_TRUE(here.ok() && there.ok());
  SigningKeys& a = *here.value();
  SigningKeys& b = *there.value();
  EXPECT_EQ(a.current().id, b.current().id);  // both processes agree on the first key

  SigningKeys::Current old_key = a.current();
  auto old_token = token::encode(session_claims(old_key.id), old_key.signer);
  ASSERT_TRUE(old_token.ok());

  auto rotated = a.rotate(kNow + 1000);
  ASSERT_TRUE(rotated.ok()) << rotated.error().message;
  EXPECT_NE(rotated.value().current, old_key.id);
  EXPECT_EQ(a.current().id, rotated.value().current);
  ASSERT_EQ(rotated.value().keys.size(), 2u);
  EXPECT_EQ(rotated.value().keys[0].id, rotated.value().current);
  EXPECT_EQ(rotated.value().keys[1].id, old_key.id);
  EXPECT_EQ(rotated.value().keys[1].retired_at_ms, kNow + 1000);
  EXPECT_TRUE(rotated.value().pruned.empty());
  // The stored set never holds a key's bytes in the clear.
  std::string stored = *this->store_->get_setting(kSigningKeysSetting).value();
  EXPECT_EQ(stored.find("\"raw\""), std::string::npos);

  // The other process has not reread yet: it still signs with the old key, which verifies
  // here; and a token with the new key makes it reread the set at once.
  EXPECT_EQ(b.current().id, old_key.id);
  auto from_b = round_trip(b, a);
  ASSERT_TRUE(from_b.ok()) << from_b.error().message;
  auto from_a = round_trip(a, b);
  ASSERT_TRUE(from_a.ok()) << from_a.error().message;
  EXPECT_EQ(from_a.value().key_id, rotated.value().current);
  // The old token still verifies in both.
  for (SigningKeys* keys : {&a, &b}) {
    auto verified = token::verify_keyed(
        old_token.value(), [&](std::string_view id) { return keys->signer_for(id); }, kNow);
    EXPECT_TRUE(verified.ok()) << verified.error().message;
  }
  // A made-up key id is refused.
  auto unknown = b.signer_for("rtk_made_up");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kTokenSignatureInvalid);

  // A later rotation prunes a retired key once no token it signed can still be valid.
  auto soon = a.rotate(kNow + 2000);
  ASSERT_TRUE(soon.ok());
  EXPECT_TRUE(soon.value().pruned.empty());
  EXPECT_EQ(soon.value().keys.size(), 3u);
  auto later = a.rotate(kNow + 1000 + kRetiredKeyKeep.count());
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(later.value().pruned, std::vector<std::string>{old_key.id});
  EXPECT_EQ(later.value().keys.size(), 3u);  // the new current and the two still kept
  auto gone = a.signer_for(old_key.id);
  EXPECT_FALSE(gone.ok());
}

// A steady clock the test moves by hand.
struct FakeSteady {
  std::shared_ptr<std::atomic<int64_t>> ms = std::make_shared<std::atomic<int64_t>>(1'000'000);
  SigningKeys::SteadyNow now() const {
    return [ms = ms] {
      return std::chrono::steady_clock::time_point(std::chrono::milliseconds(ms->load()));
    };
  }
  void advance(std::chrono::milliseconds by) const { *ms += by.count(); }
};

TYPED_TEST(LedgerTest, SigningKeysRereadOnAMissAtMostOncePerGapAndEveryRefresh) {
  SecretBox secrets = master_box(5);
  auto other_store = this->backend_.open();
  ASSERT_TRUE(other_store.ok());
  FakeSteady clock;
  auto a = SigningKeys::load_or_create(*this->store_, secrets, kNow).value();
  auto b = SigningKeys::load_or_create(*other_store.value(), secrets, kNow, clock.now()).value();
  std::string first = b->current().id;

  ASSERT_TRUE(a->rotate(kNow + 1).ok());
  ASSERT_TRUE(round_trip(*a, *b).ok());  // the miss rereads
  ASSERT_TRUE(a->rotate(kNow + 2).ok());
  auto within_gap = round_trip(*a, *b);  // a second miss inside the gap does not reread
  ASSERT_FALSE(within_gap.ok());
  EXPECT_EQ(within_gap.error().code, ErrorCode::kTokenSignatureInvalid);
  clock.advance(kSigningKeysMissReloadGap);
  EXPECT_TRUE(round_trip(*a, *b).ok());

  // Signing follows another process's rotation once the set is older than the refresh.
  ASSERT_TRUE(a->rotate(kNow + 3).ok());
  std::string newest = a->current().id;
  EXPECT_NE(b->current().id, newest);
  clock.advance(kSigningKeysRefresh);
  EXPECT_EQ(b->current().id, newest);
  EXPECT_NE(first, newest);

  // A token b remembers stops once another process revokes its key and b's set is a refresh old.
  SigningKeys::Current signer = a->current();
  std::string token = token::encode(session_claims(signer.id), signer.signer).value();
  ASSERT_TRUE(b->verify(token, kNow).ok());
  ASSERT_TRUE(a->rotate(kNow + 4, /*revoke_previous=*/true).ok());
  EXPECT_TRUE(b->verify(token, kNow).ok());  // b has not reread yet
  clock.advance(kSigningKeysRefresh);
  auto revoked = b->verify(token, kNow);
  ASSERT_FALSE(revoked.ok());
  EXPECT_EQ(revoked.error().code, ErrorCode::kTokenSignatureInvalid);
}

TYPED_TEST(LedgerTest, ConcurrentMissesAllWaitForTheOneReread) {
  SecretBox secrets = master_box(6);
  auto other_store = this->backend_.open();
  ASSERT_TRUE(other_store.ok());
  auto a = SigningKeys::load_or_create(*this->store_, secrets, kNow).value();
  auto b = SigningKeys::load_or_create(*other_store.value(), secrets, kNow).value();
  ASSERT_TRUE(a->rotate(kNow + 1).ok());
  SigningKeys::Current current = a->current();
  std::string token = token::encode(session_claims(current.id), current.signer).value();
  std::atomic<int> verified{0};
  std::latch start(16);
  std::vector<std::thread> threads;
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      auto claims = token::verify_keyed(
          token, [&](std::string_view id) { return b->signer_for(id); }, kNow);
      if (claims) ++verified;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(verified.load(), 16);
}

TYPED_TEST(LedgerTest, RetiredKeysSignNothingNewAndRevokingDropsThemAtOnce) {
  SecretBox secrets = master_box(7);
  auto keys = SigningKeys::load_or_create(*this->store_, secrets, kNow).value();
  SigningKeys::Current old_key = keys->current();
  // Lifetimes over a day are refused whoever signed them.
  token::RuntimeClaims long_lived = session_claims(old_key.id);
  long_lived.expires_at_ms =
      long_lived.issued_at_ms + std::chrono::milliseconds(kSessionTtlMax).count() + 1;
  EXPECT_FALSE(keys->check_issued(long_lived).ok());
  long_lived.expires_at_ms -= 1;
  EXPECT_TRUE(keys->check_issued(long_lived).ok());

  int64_t retired_at = kNow + 10'000;
  ASSERT_TRUE(keys->rotate(retired_at).ok());
  token::RuntimeClaims before = session_claims(old_key.id);
  before.issued_at_ms = retired_at - 1;
  EXPECT_TRUE(keys->check_issued(before).ok());
  token::RuntimeClaims in_grace = session_claims(old_key.id);
  in_grace.issued_at_ms = retired_at + kRetiredKeyGrace.count();
  EXPECT_TRUE(keys->check_issued(in_grace).ok());  // another process may not have reread yet
  token::RuntimeClaims after = in_grace;
  after.issued_at_ms += 1;
  auto refused = keys->check_issued(after);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kTokenSignatureInvalid);

  std::string second = keys->current().id;
  auto revoked = keys->rotate(retired_at + 1, /*revoke_previous=*/true);
  ASSERT_TRUE(revoked.ok());
  EXPECT_EQ(revoked.value().keys.size(), 1u);
  std::vector<std::string> pruned = revoked.value().pruned;
  std::sort(pruned.begin(), pruned.end());
  std::vector<std::string> expected{old_key.id, second};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(pruned, expected);
  EXPECT_FALSE(keys->signer_for(old_key.id).ok());
  EXPECT_FALSE(keys->signer_for(second).ok());
  EXPECT_TRUE(keys->signer_for(revoked.value().current).ok());
}

TYPED_TEST(LedgerTest, MalformedStoredSigningKeysAreRefusedByName) {
  SecretBox secrets = master_box(8);
  for (const char* stored :
       {"not json", "[]", R"({"current":"rtk_a","keys":{}})",
        R"({"current":"rtk_a","keys":[{"id":"rtk_a"}]})",
        R"({"current":"rtk_a","generation":"2","keys":[]})",
        R"({"current":"rtk_a","keys":[{"id":"rtk_a","sealed":"x","createdAtMs":"0"}]})"}) {
    ASSERT_TRUE(this->store_
                    ->replace_setting(
                        kSigningKeysSetting,
                        this->store_->get_setting(kSigningKeysSetting).value().value_or(""), stored)
                    .ok());
    if (!this->store_->get_setting(kSigningKeysSetting).value()) {
      ASSERT_EQ(this->store_->put_setting_if_absent(kSigningKeysSetting, stored).value(), stored);
    }
    auto loaded = SigningKeys::load_or_create(*this->store_, secrets, kNow);
    ASSERT_FALSE(loaded.ok()) << stored;
    EXPECT_EQ(loaded.error().code, ErrorCode::kInternal) << stored;
  }
}

TYPED_TEST(LedgerTest, VerifyRemembersATokenButChecksExpiryAndKeyEveryTime) {
  SecretBox secrets = master_box(9);
  auto keys = SigningKeys::load_or_create(*this->store_, secrets, kNow).value();
  SigningKeys::Current current = keys->current();
  token::RuntimeClaims claims = session_claims(current.id);
  std::string token = token::encode(claims, current.signer).value();
  for (int i = 0; i < 2; ++i) {  // the second is answered from this thread's cache
    auto verified = keys->verify(token, kNow);
    ASSERT_TRUE(verified.ok()) << verified.error().message;
    EXPECT_EQ(verified.value().session_id, "rts_test");
    EXPECT_EQ(verified.value().operations, std::vector<std::string>{"summarize"});
  }
  // A token one character off is not the remembered one: its signature is checked. The
  // change is inside the signature, not its last character, whose low bits must stay zero
  // for canonical base64url (changing those would be refused as malformed instead).
  std::string tampered = token;
  char& inside = tampered[tampered.size() - 10];
  inside = inside == 'A' ? 'B' : 'A';
  auto forged = keys->verify(tampered, kNow);
  ASSERT_FALSE(forged.ok());
  EXPECT_EQ(forged.error().code, ErrorCode::kTokenSignatureInvalid);
  EXPECT_EQ(forged.error().param, "token");
  // Remembered or not, it expires.
  auto expired = keys->verify(token, claims.expires_at_ms);
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.error().code, ErrorCode::kTokenExpired);
  EXPECT_NE(expired.error().message.find("mint a new session"), std::string::npos);
  // Another instance does not take this one's word for it, and verifies on its own.
  auto other_store = this->backend_.open();
  ASSERT_TRUE(other_store.ok());
  auto other = SigningKeys::load_or_create(*other_store.value(), secrets, kNow).value();
  EXPECT_TRUE(other->verify(token, kNow).ok());
  // A revoked key's tokens stop at once, remembered or not.
  ASSERT_TRUE(keys->rotate(kNow + 1, /*revoke_previous=*/true).ok());
  auto revoked = keys->verify(token, kNow + 2);
  ASSERT_FALSE(revoked.ok());
  EXPECT_EQ(revoked.error().code, ErrorCode::kTokenSignatureInvalid);
}

TYPED_TEST(LedgerTest, ConcurrentRotationsKeepEveryKey) {
  SecretBox secrets = master_box(4);
  std::vector<std::unique_ptr<Store>> stores;
  std::vector<std::unique_ptr<SigningKeys>> rings;
  for (int i = 0; i < 4; ++i) {
    auto store = this->backend_.open();
    ASSERT_TRUE(store.ok());
    auto keys = SigningKeys::load_or_create(*store.value(), secrets, kNow);
    ASSERT_TRUE(keys.ok());
    stores.push_back(std::move(store).value());
    rings.push_back(std::move(keys).value());
  }
  std::vector<std::string> made(rings.size());
  std::latch start(static_cast<ptrdiff_t>(rings.size()));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < rings.size(); ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      auto rotated = rings[i]->rotate(kNow + 1);
      if (rotated) made[i] = rotated.value().current;
    });
  }
  for (auto& thread : threads) thread.join();
  auto final_keys = SigningKeys::load_or_create(*this->store_, secrets, kNow);
  ASSERT_TRUE(final_keys.ok());
  std::vector<SigningKeyInfo> kept = final_keys.value()->list().value();
  EXPECT_EQ(kept.size(), rings.size() + 1);  // the first key and one per rotation
  for (const std::string& id : made) {
    ASSERT_FALSE(id.empty()) << "a rotation failed";
    EXPECT_TRUE(final_keys.value()->signer_for(id).ok()) << id << " was lost";
  }
}

TYPED_TEST(LedgerTest, ProvidersPutReplaceListDelete) {
  Store& store = *this->store_;
  const std::string& project = this->project_;
  ProviderRecord openai{project, "openai", "tgsb1.sealed-1", "abcd", "", kNow, kNow};
  auto stored = store.put_provider(openai);
  ASSERT_TRUE(stored.ok()) << stored.error().message;
  EXPECT_EQ(stored.value().sealed_key, "tgsb1.sealed-1");
  ProviderRecord replaced{
      project,  "openai", "tgsb1.sealed-2", "wxyz", "https://api.example.com/v1",
      kNow + 9, kNow + 9};
  auto again = store.put_provider(replaced);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.value().created_at_ms, kNow);  // kept from the first put
  EXPECT_EQ(again.value().updated_at_ms, kNow + 9);
  EXPECT_EQ(again.value().base_url, "https://api.example.com/v1");
  ASSERT_TRUE(store.put_provider({project, "anthropic", "tgsb1.s", "1234", "", kNow, kNow}).ok());
  auto listed = store.list_providers(project);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed.value().size(), 2u);
  EXPECT_EQ(listed.value()[0].name, "anthropic");
  EXPECT_EQ(listed.value()[1].sealed_key, "tgsb1.sealed-2");
  EXPECT_EQ(store.get_provider(project, "openai").value()->key_hint, "wxyz");
  EXPECT_FALSE(store.get_provider(this->make_project("proj_b", 0), "openai").value().has_value());
  EXPECT_TRUE(store.delete_provider(project, "openai").value());
  EXPECT_FALSE(store.delete_provider(project, "openai").value());
  EXPECT_EQ(store.list_providers(project).value().size(), 1u);
}

TYPED_TEST(LedgerTest, IdempotencyReplaysAndRefusesADifferentBody) {
  Idempotency idem{"key_a", "k1", "hash-1"};
  auto first = this->meter("u1", 10, idem);
  EXPECT_FALSE(first.replayed);
  auto again = this->meter("u1", 10, idem);
  EXPECT_TRUE(again.replayed);
  EXPECT_EQ(again.account->balance, 90);
  EXPECT_EQ(this->balance("u1"), 90);
  auto different = this->meter("u1", 11, Idempotency{"key_a", "k1", "hash-2"});
  ASSERT_TRUE(different.error);
  EXPECT_EQ(different.error->code, ErrorCode::kConflict);
  // Another API key's "k1" is a different request.
  EXPECT_FALSE(this->meter("u1", 10, Idempotency{"key_b", "k1", "hash-1"}).replayed);
  EXPECT_EQ(this->balance("u1"), 80);
  // A duplicate inside one batch is answered from the first.
  std::vector<LedgerCommand> batch(2, LedgerCommand{MeterCommand{this->project_, "u1", "gen", 5},
                                                    Idempotency{"key_a", "k2", "h"}});
  auto outcomes = this->store_->apply(batch, kNow);
  ASSERT_TRUE(outcomes.ok());
  EXPECT_FALSE(outcomes.value()[0].replayed);
  EXPECT_TRUE(outcomes.value()[1].replayed);
  EXPECT_EQ(outcomes.value()[1].account->balance, 75);
  EXPECT_EQ(this->balance("u1"), 75);
  // After 24 h the key is free again.
  auto later = this->run(MeterCommand{this->project_, "u1", "gen", 10}, idem,
                         kNow + kIdempotencyRetentionMs + 1);
  EXPECT_FALSE(later.replayed);
  EXPECT_EQ(later.account->balance, 65);
}

TYPED_TEST(LedgerTest, HoldReserveSettleRelease) {
  auto reserved =
      this->run(ReserveCommand{this->project_, "u1", "hold_1", 30, 1000, 60'000, "", {}});
  ASSERT_FALSE(reserved.error);
  EXPECT_EQ(reserved.account->balance, 70);
  EXPECT_EQ(reserved.account->held_micros, 1000);
  auto over = this->run(SettleCommand{this->project_, "hold_1", 31, 0, 0, 0});
  ASSERT_TRUE(over.error);
  EXPECT_EQ(over.error->param, "credits");
  auto settled = this->run(SettleCommand{this->project_, "hold_1", 12, 400, 0, 0});
  ASSERT_FALSE(settled.error);
  EXPECT_EQ(settled.account->balance, 88);
  EXPECT_EQ(settled.account->held_micros, 0);
  EXPECT_EQ(settled.account->period_spent_micros, 400);
  auto twice = this->run(SettleCommand{this->project_, "hold_1", 1, 0, 0, 0});
  ASSERT_TRUE(twice.error);
  EXPECT_EQ(twice.error->code, ErrorCode::kConflict);
  EXPECT_FALSE(
      this->run(ReserveCommand{this->project_, "u1", "hold_2", 50, 0, 60'000, "", {}}).error);
  auto released = this->run(ReleaseCommand{this->project_, "hold_2"});
  EXPECT_EQ(released.account->balance, 88);
  auto reused = this->run(ReserveCommand{this->project_, "u1", "hold_2", 1, 0, 60'000, "", {}});
  ASSERT_TRUE(reused.error);
  EXPECT_EQ(reused.error->code, ErrorCode::kConflict);
  auto missing = this->run(ReleaseCommand{this->project_, "hold_nope"});
  ASSERT_TRUE(missing.error);
  EXPECT_EQ(missing.error->code, ErrorCode::kNotFound);
}

TYPED_TEST(LedgerTest, HoldsNeverOvershootAnyBudgetLevel) {
  // The balance: 100 credits, so only three holds of 30.
  int granted = 0;
  for (int i = 0; i < 5; ++i) {
    auto outcome = this->run(
        ReserveCommand{this->project_, "u1", "hold_b" + std::to_string(i), 30, 0, 60'000, "", {}});
    granted += outcome.error ? 0 : 1;
  }
  EXPECT_EQ(granted, 3);
  // The user's spend cap: $0.01 = 10,000 micros.
  this->run(UpdateAccountCommand{this->project_, "u2", {}, std::optional<int64_t>(10'000)});
  EXPECT_FALSE(
      this->run(ReserveCommand{this->project_, "u2", "hold_c1", 1, 6'000, 60'000, "", {}}).error);
  auto capped =
      this->run(ReserveCommand{this->project_, "u2", "hold_c2", 1, 6'000, 60'000, "", {}});
  ASSERT_TRUE(capped.error);
  EXPECT_NE(capped.error->message.find("spend cap"), std::string::npos);
  EXPECT_EQ(this->balance("u2"), 99);  // the refused hold took nothing
  // The project's budget: $0.02 across all its users.
  std::string budgeted = this->make_project("proj_budget", 100, 20'000);
  EXPECT_FALSE(
      this->run(ReserveCommand{budgeted, "x", "hold_p1", 1, 15'000, 60'000, "", {}}).error);
  auto over = this->run(ReserveCommand{budgeted, "y", "hold_p2", 1, 15'000, 60'000, "", {}});
  ASSERT_TRUE(over.error);
  EXPECT_NE(over.error->message.find("budget"), std::string::npos);
  EXPECT_FALSE(this->run(SettleCommand{budgeted, "hold_p1", 1, 5'000, 0, 0}).error);
  EXPECT_FALSE(
      this->run(ReserveCommand{budgeted, "y", "hold_p3", 1, 15'000, 60'000, "", {}}).error);
}

TYPED_TEST(LedgerTest, InvocationLimitsCountAFeaturesHoldsExactly) {
  const InvocationLimit per_user{"perUserDailyLimit", true, kNow - 1'000, 2};
  const InvocationLimit feature{"monthlyInvocationLimit", false, kNow - 1'000, 3};
  auto reserve = [&](std::string user, std::string id, std::vector<InvocationLimit> limits) {
    return this->run(ReserveCommand{this->project_, user, id, 1, 0, 60'000, "summarize", limits});
  };
  // Two calls in one batch both count: the third by the same user is refused.
  std::vector<LedgerCommand> batch{
      {ReserveCommand{this->project_, "u1", "hold_l1", 1, 0, 60'000, "summarize", {per_user}}, {}},
      {ReserveCommand{this->project_, "u1", "hold_l2", 1, 0, 60'000, "summarize", {per_user}}, {}},
      {ReserveCommand{this->project_, "u1", "hold_l3", 1, 0, 60'000, "summarize", {per_user}}, {}}};
  auto outcomes = this->store_->apply(batch, kNow);
  ASSERT_TRUE(outcomes.ok());
  EXPECT_FALSE(outcomes.value()[0].error);
  EXPECT_FALSE(outcomes.value()[1].error);
  ASSERT_TRUE(outcomes.value()[2].error);
  EXPECT_EQ(outcomes.value()[2].error->code, ErrorCode::kRateLimited);
  EXPECT_EQ(outcomes.value()[2].error->param, "perUserDailyLimit");
  EXPECT_EQ(this->balance("u1"), 98);  // the refused call reserved nothing
  // A released call ran nothing and does not count; a settled one does.
  EXPECT_FALSE(this->run(ReleaseCommand{this->project_, "hold_l1"}).error);
  EXPECT_FALSE(reserve("u1", "hold_l4", {per_user}).error);
  EXPECT_FALSE(this->run(SettleCommand{this->project_, "hold_l2", 1, 0, 120, 30}).error);
  EXPECT_TRUE(reserve("u1", "hold_l5", {per_user}).error);
  // Another feature, or a window that starts later, counts none of these.
  EXPECT_FALSE(this->run(ReserveCommand{
                             this->project_, "u1", "hold_l6", 1, 0, 60'000, "classify", {per_user}})
                   .error);
  InvocationLimit later = per_user;
  later.since_ms = kNow + 1;
  EXPECT_FALSE(reserve("u1", "hold_l7", {later}).error);
  // The feature-wide limit counts every user: u1 has 3 calls (l2, l4, l7) of "summarize".
  EXPECT_TRUE(reserve("u2", "hold_l8", {feature}).error);
  // Totals: calls not released, tokens and the settled spend.
  auto totals = this->store_->invocation_totals(
      this->project_,
      InvocationQuery{std::string("u1"), 0, kNow + 1, InvocationGroup::kOperation, 10});
  ASSERT_TRUE(totals.ok()) << totals.error().message;
  ASSERT_EQ(totals.value().size(), 2u);
  EXPECT_EQ(totals.value()[0].key, "summarize");  // 1 credit settled beats 0
  EXPECT_EQ(totals.value()[0].calls, 3);
  EXPECT_EQ(totals.value()[0].input_tokens, 120);
  EXPECT_EQ(totals.value()[0].output_tokens, 30);
  EXPECT_EQ(totals.value()[0].credits, 1);
  EXPECT_EQ(totals.value()[1].key, "classify");
  EXPECT_EQ(totals.value()[1].calls, 1);
  auto hold = this->store_->get_hold(this->project_, "hold_l6");
  ASSERT_TRUE(hold.ok() && hold.value());
  EXPECT_EQ(hold.value()->operation, "classify");
}

TYPED_TEST(LedgerTest, ExpiredHoldsSettleAtTheReservedAmount) {
  EXPECT_FALSE(
      this->run(ReserveCommand{this->project_, "u1", "hold_e", 25, 700, 1'000, "", {}}).error);
  auto early = this->run(ExpireHoldsCommand{}, std::nullopt, kNow + 999);
  EXPECT_EQ(early.amount, 0);
  auto swept = this->run(ExpireHoldsCommand{}, std::nullopt, kNow + 1'000);
  EXPECT_EQ(swept.amount, 1);
  auto hold = this->store_->get_hold(this->project_, "hold_e");
  ASSERT_TRUE(hold.ok() && hold.value());
  EXPECT_EQ(hold.value()->status, "expired");
  auto account = this->store_->get_account(this->project_, "u1", kNow);
  EXPECT_EQ(account.value().balance, 75);
  EXPECT_EQ(account.value().held_micros, 0);
  EXPECT_EQ(account.value().period_spent_micros, 700);
  auto audit = this->store_->audit(this->project_);
  EXPECT_EQ(audit.value().open_holds, 0);
}

TYPED_TEST(LedgerTest, LedgerAndAccountsPaginate) {
  for (int i = 0; i < 5; ++i) this->meter("user-" + std::to_string(i), 1);
  auto first = this->store_->list_accounts(this->project_, Page{2, std::nullopt});
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first.value().size(), 2u);
  auto next = this->store_->list_accounts(this->project_, Page{10, first.value()[1].user_id});
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next.value().size(), 3u);
  EXPECT_EQ(next.value()[0].user_id, "user-2");
  auto entries = this->store_->list_ledger(this->project_, std::nullopt, Page{3, std::nullopt});
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries.value().size(), 3u);
  auto older = this->store_->list_ledger(this->project_, std::nullopt,
                                         Page{100, "le_" + std::to_string(entries.value()[2].seq)});
  ASSERT_TRUE(older.ok());
  EXPECT_EQ(older.value().size(), 7u);  // 10 entries in all: 5 grants, 5 debits
}

TYPED_TEST(LedgerTest, AnalyticsBucketsDebitsAndRanksEvents) {
  this->run(MeterCommand{this->project_, "u1", "image", 5});
  this->run(MeterCommand{this->project_, "u1", "chat", 1}, std::nullopt, kNow + 3'600'000);
  this->run(MeterCommand{this->project_, "u2", "image", 5}, std::nullopt, kNow + 3'600'000);
  auto analytics =
      this->store_->analytics(this->project_, kNow - 3'600'000, kNow + 7'200'000, 3'600'000);
  ASSERT_TRUE(analytics.ok()) << analytics.error().message;
  ASSERT_EQ(analytics.value().series.size(), 2u);
  EXPECT_EQ(analytics.value().series[0].calls, 1);
  EXPECT_EQ(analytics.value().series[1].calls, 2);
  EXPECT_EQ(analytics.value().series[1].credits, 6);
  ASSERT_EQ(analytics.value().top_events.size(), 2u);
  EXPECT_EQ(analytics.value().top_events[0].event, "image");
  EXPECT_EQ(analytics.value().top_events[0].credits, 10);
  EXPECT_EQ(analytics.value().stats.total, 2);
}

TYPED_TEST(LedgerTest, UnknownProjectIsNotFoundAndWritesNothing) {
  auto outcome = this->run(MeterCommand{"proj_missing", "u1", "gen", 1});
  ASSERT_TRUE(outcome.error);
  EXPECT_EQ(outcome.error->code, ErrorCode::kNotFound);
  auto audit = this->store_->audit("proj_missing");
  ASSERT_TRUE(audit.ok());
  EXPECT_EQ(audit.value().entries, 0);
}

// ---- Keys: rolling, grace periods, revoking a project ----------------------------------------

KeyRecord new_key(const std::string& name, KeyKind kind = KeyKind::kSecret) {
  return {"key_" + name, "proj_a", kind, "hash_" + name, name.substr(0, 4), std::nullopt, 0};
}

KeyRoll roll_of(KeyKind kind, const std::string& rolled_by, const std::string& name, int64_t now,
                int64_t grace_ms) {
  return {"proj_a", kind, rolled_by, new_key(name, kind), now, now + grace_ms, std::nullopt, ""};
}

std::vector<std::string> ids_of(const std::vector<KeyRecord>& keys) {
  std::vector<std::string> ids;
  for (const KeyRecord& key : keys) ids.push_back(key.id);
  return ids;
}

TYPED_TEST(LedgerTest, RollingAKeyStopsTheOldOneAfterItsGraceAndNeverLater) {
  Store& store = *this->store_;
  // The old key keeps working for a second.
  auto first = store.roll_key(roll_of(KeyKind::kSecret, "key_proj_a", "one", kNow, 1'000));
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_FALSE(first.value().replayed);
  ASSERT_EQ(ids_of(first.value().changed), std::vector<std::string>{"key_proj_a"});
  EXPECT_EQ(first.value().changed[0].hash, "hash_proj_a");
  EXPECT_EQ(*store.find_key("hash_proj_a").value()->expires_at_ms, kNow + 1'000);
  auto added = store.find_key("hash_one").value();
  ASSERT_TRUE(added.has_value());
  EXPECT_FALSE(added->expires_at_ms.has_value());
  EXPECT_EQ(added->created_at_ms, kNow);
  EXPECT_EQ(added->kind, KeyKind::kSecret);
  // Another process on the same database sees the same.
  auto other = this->backend_.open();
  ASSERT_TRUE(other.ok()) << other.error().message;
  EXPECT_EQ(*other.value()->find_key("hash_proj_a").value()->expires_at_ms, kNow + 1'000);
  EXPECT_EQ(ids_of(store.list_keys("proj_a", kNow).value()),
            (std::vector<std::string>{"key_one", "key_proj_a"}));
  EXPECT_EQ(ids_of(store.list_keys("proj_a", kNow + 1'000).value()),
            std::vector<std::string>{"key_one"});

  // A key in its grace period may not roll: it may be the one that leaked.
  auto by_old = store.roll_key(roll_of(KeyKind::kSecret, "key_proj_a", "two", kNow + 1, 0));
  ASSERT_FALSE(by_old.ok());
  EXPECT_EQ(by_old.error().code, ErrorCode::kForbidden);
  EXPECT_FALSE(store.find_key("hash_two").value().has_value());

  // A longer grace on the next roll does not lengthen the older key's.
  auto second = store.roll_key(roll_of(KeyKind::kSecret, "key_one", "two", kNow + 10, 5'000));
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(ids_of(second.value().changed), std::vector<std::string>{"key_one"});
  EXPECT_EQ(*store.find_key("hash_proj_a").value()->expires_at_ms, kNow + 1'000);
  EXPECT_EQ(*store.find_key("hash_one").value()->expires_at_ms, kNow + 5'010);

  // No grace stops every older key of the kind at once.
  auto third = store.roll_key(roll_of(KeyKind::kSecret, "key_two", "three", kNow + 20, 0));
  ASSERT_TRUE(third.ok()) << third.error().message;
  EXPECT_EQ(third.value().changed.size(), 3u);
  for (const char* hash : {"hash_proj_a", "hash_one", "hash_two"})
    EXPECT_EQ(*store.find_key(hash).value()->expires_at_ms, kNow + 20) << hash;
  EXPECT_EQ(ids_of(store.list_keys("proj_a", kNow + 20).value()),
            std::vector<std::string>{"key_three"});
}

TYPED_TEST(LedgerTest, RollingThePublishableKeyLeavesTheSecretKeyAlone) {
  Store& store = *this->store_;
  auto rolled = store.roll_key(roll_of(KeyKind::kPublishable, "key_proj_a", "pk1", kNow, 0));
  ASSERT_TRUE(rolled.ok()) << rolled.error().message;
  EXPECT_TRUE(rolled.value().changed.empty());  // proj_a had no publishable key
  EXPECT_EQ(store.find_key("hash_pk1").value()->kind, KeyKind::kPublishable);
  auto again = store.roll_key(roll_of(KeyKind::kPublishable, "key_proj_a", "pk2", kNow + 5, 0));
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(ids_of(again.value().changed), std::vector<std::string>{"key_pk1"});
  EXPECT_FALSE(store.find_key("hash_proj_a").value()->expires_at_ms.has_value());
  // The publishable key never rolls anything.
  auto by_pk = store.roll_key(roll_of(KeyKind::kPublishable, "key_pk2", "pk3", kNow + 6, 0));
  ASSERT_FALSE(by_pk.ok());
  EXPECT_EQ(by_pk.error().code, ErrorCode::kForbidden);
}

TYPED_TEST(LedgerTest, AnIdempotentRollReplaysItsAnswerAndRefusesAnotherRequest) {
  Store& store = *this->store_;
  KeyRoll roll = roll_of(KeyKind::kSecret, "key_proj_a", "one", kNow, 0);
  roll.idempotency = Idempotency{"key_proj_a", "roll-1", "digest-a"};
  roll.answer = "sealed answer";
  ASSERT_TRUE(store.roll_key(roll).ok());
  // The retry comes from the key the roll stopped, with a new key it must not store.
  KeyRoll retry = roll_of(KeyKind::kSecret, "key_proj_a", "retry", kNow + 100, 0);
  retry.idempotency = roll.idempotency;
  retry.answer = "another answer";
  auto replayed = store.roll_key(retry);
  ASSERT_TRUE(replayed.ok()) << replayed.error().message;
  EXPECT_TRUE(replayed.value().replayed);
  EXPECT_EQ(replayed.value().answer, "sealed answer");
  EXPECT_TRUE(replayed.value().changed.empty());
  EXPECT_FALSE(store.find_key("hash_retry").value().has_value());
  EXPECT_FALSE(store.find_key("hash_one").value()->expires_at_ms.has_value());

  retry.idempotency->request_hash = "digest-b";
  auto mismatch = store.roll_key(retry);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.error().code, ErrorCode::kConflict);
  EXPECT_EQ(mismatch.error().param, "Idempotency-Key");
  EXPECT_FALSE(store.find_key("hash_retry").value().has_value());

  auto record = store.find_idempotency("key_proj_a", "roll-1", kNow + 1).value();
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->request_hash, "digest-a");
  EXPECT_EQ(record->outcome, "sealed answer");
  EXPECT_EQ(record->created_at_ms, kNow);
  EXPECT_FALSE(store.find_idempotency("key_proj_a", "roll-2", kNow).value().has_value());
  EXPECT_FALSE(store.find_idempotency("key_proj_a", "roll-1", kNow + kIdempotencyRetentionMs + 1)
                   .value()
                   .has_value());
}

TYPED_TEST(LedgerTest, AtMostKeysInGraceMaxKeysOfAKindAreInTheirGrace) {
  Store& store = *this->store_;
  std::string current = "key_proj_a";
  for (int64_t i = 0; i < kKeysInGraceMax; ++i) {
    std::string name(1, static_cast<char>('a' + i));  // GCC 12 warns falsely on "k" + to_string
    auto rolled = store.roll_key(roll_of(KeyKind::kSecret, current, name, kNow + i, 60'000));
    ASSERT_TRUE(rolled.ok()) << rolled.error().message;
    current = "key_" + name;
  }
  auto refused = store.roll_key(roll_of(KeyKind::kSecret, current, "over", kNow + 10, 60'000));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kConflict);
  EXPECT_EQ(refused.error().param, "graceMs");
  // Nothing was written: the current key is still current, the refused one absent.
  EXPECT_FALSE(store.find_key("hash_over").value().has_value());
  std::string current_hash = current;
  current_hash.replace(0, 4, "hash_");  // key_x -> hash_x
  EXPECT_FALSE(store.find_key(current_hash).value()->expires_at_ms.has_value());
  // Without grace the roll goes through and every older key stops.
  auto now = store.roll_key(roll_of(KeyKind::kSecret, current, "over", kNow + 10, 0));
  ASSERT_TRUE(now.ok()) << now.error().message;
  EXPECT_EQ(ids_of(store.list_keys("proj_a", kNow + 10).value()),
            std::vector<std::string>{"key_over"});
}

TYPED_TEST(LedgerTest, ConcurrentRollsOfOneKeyLetExactlyOneThrough) {
  auto second = this->backend_.open();
  ASSERT_TRUE(second.ok()) << second.error().message;
  std::vector<Store*> stores{this->store_.get(), second.value().get()};
  constexpr int kRollers = 8;
  std::latch start(kRollers);
  std::vector<Result<RolledKeys>> results(kRollers, fail(ErrorCode::kInternal, "not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kRollers; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      results[i] = stores[i % 2]->roll_key(roll_of(
          KeyKind::kSecret, "key_proj_a", std::string(1, static_cast<char>('a' + i)), kNow, 0));
    });
  }
  for (auto& thread : threads) thread.join();
  int rolled = 0;
  for (const auto& result : results) {
    if (result.ok()) {
      ++rolled;
    } else {
      EXPECT_EQ(result.error().code, ErrorCode::kForbidden) << result.error().message;
    }
  }
  EXPECT_EQ(rolled, 1);
  EXPECT_EQ(this->store_->list_keys("proj_a", kNow).value().size(), 1u);
}

TYPED_TEST(LedgerTest, RevokingAProjectKeepsItsDataAndStopsRolls) {
  Store& store = *this->store_;
  ASSERT_FALSE(this->meter("alice", 3).error.has_value());
  EXPECT_FALSE(store.get_project("proj_a").value()->revoked_at_ms.has_value());
  auto revoked = store.revoke_project("proj_a", kNow + 5);
  ASSERT_TRUE(revoked.ok()) << revoked.error().message;
  EXPECT_EQ(*revoked.value().revoked_at_ms, kNow + 5);
  EXPECT_EQ(revoked.value().name, "proj_a");
  // Revoking again keeps the first time; another process reads it too.
  EXPECT_EQ(*store.revoke_project("proj_a", kNow + 50).value().revoked_at_ms, kNow + 5);
  auto other = this->backend_.open();
  ASSERT_TRUE(other.ok()) << other.error().message;
  EXPECT_EQ(*other.value()->get_project("proj_a").value()->revoked_at_ms, kNow + 5);
  // Its keys and ledger stay for audit.
  EXPECT_TRUE(store.find_key("hash_proj_a").value().has_value());
  EXPECT_EQ(this->balance("alice"), 97);
  auto roll = store.roll_key(roll_of(KeyKind::kSecret, "key_proj_a", "late", kNow + 6, 0));
  ASSERT_FALSE(roll.ok());
  EXPECT_EQ(roll.error().code, ErrorCode::kUnauthenticated);
  EXPECT_FALSE(store.find_key("hash_late").value().has_value());
  auto missing = store.revoke_project("proj_missing", kNow);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  // Other projects are untouched.
  this->make_project("proj_b", 10);
  EXPECT_FALSE(store.get_project("proj_b").value()->revoked_at_ms.has_value());
}

// ---- Totals near INT64_MAX -------------------------------------------------------------------

constexpr Int128 kTwiceMax = Int128(INT64_MAX) * 2;
constexpr int64_t kDayMs = 86'400'000;

// Sums of balances, debits, charged credits, micros and tokens past int64 are exact, on both
// stores: never an overflow error, never a wrapped or rounded number.
TYPED_TEST(LedgerTest, TotalsPastInt64AreExact) {
  for (const char* user : {"rich-a", "rich-b"}) {
    auto granted = this->run(
        CreditCommand{this->project_, user, "grant", INT64_MAX - 100, "seed", std::nullopt});
    ASSERT_FALSE(granted.error) << granted.error->message;
    EXPECT_EQ(granted.account->balance, INT64_MAX);
  }
  auto stats = this->store_->account_stats(this->project_);
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_EQ(stats.value().total, 2);
  EXPECT_TRUE(stats.value().credits_outstanding == kTwiceMax);

  // Debits of INT64_MAX each (the store takes any cost; the API caps it).
  for (const char* user : {"rich-a", "rich-b"}) {
    auto metered = this->run(MeterCommand{this->project_, user, "big", INT64_MAX});
    ASSERT_FALSE(metered.error) << metered.error->message;
  }
  auto analytics =
      this->store_->analytics(this->project_, kNow - kDayMs, kNow + 50 * kDayMs, kDayMs);
  ASSERT_TRUE(analytics.ok()) << analytics.error().message;
  ASSERT_EQ(analytics.value().top_events.size(), 1u);
  EXPECT_EQ(analytics.value().top_events[0].calls, 2);
  EXPECT_TRUE(analytics.value().top_events[0].credits == kTwiceMax);
  ASSERT_EQ(analytics.value().series.size(), 1u);
  EXPECT_TRUE(analytics.value().series[0].credits == kTwiceMax);

  // Two AI calls charging INT64_MAX credits, micros and tokens each, a month apart (a month's
  // spend stays inside int64).
  const int64_t starts[] = {kNow, kNow + 40 * kDayMs};
  for (int i = 0; i < 2; ++i) {
    std::string user = i == 0 ? "rich-a" : "rich-b";
    std::string hold = "hold_big_" + std::to_string(i);
    ASSERT_FALSE(
        this->run(CreditCommand{this->project_, user, "grant", INT64_MAX, "again", std::nullopt},
                  std::nullopt, starts[i])
            .error);
    auto reserved = this->run(
        ReserveCommand{this->project_, user, hold, INT64_MAX, INT64_MAX, 60'000, "summarize", {}},
        std::nullopt, starts[i]);
    ASSERT_FALSE(reserved.error) << reserved.error->message;
    auto settled =
        this->run(SettleCommand{this->project_, hold, INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX},
                  std::nullopt, starts[i]);
    ASSERT_FALSE(settled.error) << settled.error->message;
  }
  InvocationQuery query{std::nullopt, kNow - kDayMs, kNow + 50 * kDayMs,
                        InvocationGroup::kOperation, 10};
  auto totals = this->store_->invocation_totals(this->project_, query);
  ASSERT_TRUE(totals.ok()) << totals.error().message;
  ASSERT_EQ(totals.value().size(), 1u);
  const InvocationTotal& total = totals.value()[0];
  EXPECT_EQ(total.key, "summarize");
  EXPECT_EQ(total.calls, 2);
  EXPECT_TRUE(total.credits == kTwiceMax);
  EXPECT_TRUE(total.micros == kTwiceMax);
  EXPECT_TRUE(total.input_tokens == kTwiceMax);
  EXPECT_TRUE(total.output_tokens == kTwiceMax);
  analytics = this->store_->analytics(this->project_, kNow - kDayMs, kNow + 50 * kDayMs, kDayMs);
  ASSERT_TRUE(analytics.ok()) << analytics.error().message;
  ASSERT_EQ(analytics.value().top_features.size(), 1u);
  EXPECT_TRUE(analytics.value().top_features[0].credits == kTwiceMax);
  EXPECT_EQ(analytics.value().top_end_users.size(), 2u);
  auto audit = this->store_->audit(this->project_);
  ASSERT_TRUE(audit.ok()) << audit.error().message;
  EXPECT_TRUE(audit.value().mismatched.empty());
}

// Groups rank by their exact totals, also where the low halves' sums carry: a debit of 1 is
// -2^32 + (2^32 - 1) in halves, so three of them look like three times 2^32 by their high halves
// alone, while their total is 3.
TYPED_TEST(LedgerTest, TotalsRankExactly) {
  constexpr int64_t kHalf = int64_t{1} << 32;
  this->run(CreditCommand{this->project_, "r", "grant", 2 * kHalf, "seed", std::nullopt});
  for (int i = 0; i < 3; ++i) this->run(MeterCommand{this->project_, "r", "carried", 1});
  this->run(MeterCommand{this->project_, "r", "plain", kHalf});
  auto analytics = this->store_->analytics(this->project_, kNow - kDayMs, kNow + kDayMs, kDayMs);
  ASSERT_TRUE(analytics.ok()) << analytics.error().message;
  ASSERT_EQ(analytics.value().top_events.size(), 2u);
  EXPECT_EQ(analytics.value().top_events[0].event, "plain");
  EXPECT_TRUE(analytics.value().top_events[0].credits == kHalf);
  EXPECT_EQ(analytics.value().top_events[1].event, "carried");
  EXPECT_TRUE(analytics.value().top_events[1].credits == 3);
  ASSERT_EQ(analytics.value().series.size(), 1u);
  EXPECT_TRUE(analytics.value().series[0].credits == kHalf + 3);
}

// No grant takes a balance past INT64_MAX, counting the credits open holds will return: the
// grant is refused (kOverflow, HTTP 400) and nothing is written, and releasing a hold on a full
// balance stays inside int64.
TYPED_TEST(LedgerTest, GrantsNeverPushABalancePastInt64) {
  auto full = this->run(
      CreditCommand{this->project_, "full", "grant", INT64_MAX - 100, "seed", std::nullopt});
  ASSERT_FALSE(full.error);
  auto over =
      this->run(CreditCommand{this->project_, "full", "grant", 1, "one more", std::nullopt});
  ASSERT_TRUE(over.error);
  EXPECT_EQ(over.error->code, ErrorCode::kOverflow);
  EXPECT_EQ(over.error->param, "amount");
  EXPECT_EQ(this->balance("full"), INT64_MAX);

  // 100 credits, 60 held: a grant counts the 60 the hold may give back.
  auto held = this->run(ReserveCommand{this->project_, "held", "hold_h", 60, 0, 60'000, "", {}});
  ASSERT_FALSE(held.error) << held.error->message;
  EXPECT_EQ(this->balance("held"), 40);
  auto refused =
      this->run(CreditCommand{this->project_, "held", "grant", INT64_MAX - 40, "x", std::nullopt});
  ASSERT_TRUE(refused.error);
  EXPECT_EQ(refused.error->code, ErrorCode::kOverflow);
  EXPECT_EQ(this->balance("held"), 40);
  auto fits =
      this->run(CreditCommand{this->project_, "held", "grant", INT64_MAX - 100, "x", std::nullopt});
  ASSERT_FALSE(fits.error) << fits.error->message;
  auto released = this->run(ReleaseCommand{this->project_, "hold_h"});
  ASSERT_FALSE(released.error) << released.error->message;
  EXPECT_EQ(this->balance("held"), INT64_MAX);

  // A hold reserved in the same batch as the grant counts too.
  std::vector<LedgerCommand> batch = {
      {ReserveCommand{this->project_, "same", "hold_s", 50, 0, 60'000, "", {}}, std::nullopt},
      {CreditCommand{this->project_, "same", "grant", INT64_MAX - 60, "x", std::nullopt},
       std::nullopt}};
  auto outcomes = this->store_->apply(batch, kNow);
  ASSERT_TRUE(outcomes.ok()) << outcomes.error().message;
  EXPECT_FALSE(outcomes.value()[0].error);
  ASSERT_TRUE(outcomes.value()[1].error);
  EXPECT_EQ(outcomes.value()[1].error->code, ErrorCode::kOverflow);
}

// A month's spent plus held micros never leave int64: a reservation that would take them past
// it is refused (kOverflow) before it reserves anything.
TYPED_TEST(LedgerTest, ReservationsKeepSpendInsideInt64) {
  auto first =
      this->run(ReserveCommand{this->project_, "m1", "hold_m1", 1, INT64_MAX, 60'000, "", {}});
  ASSERT_FALSE(first.error) << first.error->message;
  auto second = this->run(ReserveCommand{this->project_, "m2", "hold_m2", 1, 1, 60'000, "", {}});
  ASSERT_TRUE(second.error);
  EXPECT_EQ(second.error->code, ErrorCode::kOverflow);  // the project's spend would overflow
  EXPECT_EQ(this->balance("m2"), 100);
  ASSERT_FALSE(this->run(SettleCommand{this->project_, "hold_m1", 1, INT64_MAX, 0, 0}).error);
}

// User ids are only ever values: quotes, backslashes, braces, commas and SQL stay text, also in
// the batch's list of accounts to lock.
TYPED_TEST(LedgerTest, HostileUserIdsAreJustText) {
  const std::vector<std::string> users = {"'); DROP TABLE accounts; --",
                                          "a\"b\\c{d,e}",
                                          "NULL",
                                          "\"",
                                          "$1",
                                          "ü 日本 🙂",
                                          " spaced "};
  std::vector<LedgerCommand> batch;
  for (const std::string& user : users)
    batch.push_back({MeterCommand{this->project_, user, "gen", 7}, std::nullopt});
  auto outcomes = this->store_->apply(batch, kNow);
  ASSERT_TRUE(outcomes.ok()) << outcomes.error().message;
  for (size_t i = 0; i < users.size(); ++i) {
    ASSERT_FALSE(outcomes.value()[i].error) << users[i];
    EXPECT_EQ(outcomes.value()[i].account->user_id, users[i]);
    EXPECT_EQ(this->balance(users[i]), 93) << users[i];
  }
  auto accounts = this->store_->list_accounts(this->project_, Page{100, std::nullopt});
  ASSERT_TRUE(accounts.ok());
  EXPECT_EQ(accounts.value().size(), users.size());
}

// ---- The ledger writer never dies ------------------------------------------------------------

// An exception inside a batch (here from the injected clock) fails that batch closed with 503,
// is logged at error, and the writer goes on. A caller's `decided` that throws is logged and
// changes nothing for its batch.
TYPED_TEST(LedgerTest, WriterSurvivesExceptionsInABatch) {
  CapturedLog captured;
  std::atomic<bool> throw_now{false};
  LedgerWriter writer(*this->store_, ledger_partitions_for(*this->store_), captured.log.get(),
                      [&throw_now]() -> int64_t {
                        if (throw_now.exchange(false)) throw std::bad_alloc();
                        return kNow;
                      });
  auto meter = [&] {
    return writer.apply(LedgerCommand{MeterCommand{this->project_, "w", "gen", 10}, std::nullopt});
  };
  ASSERT_TRUE(meter().ok());  // 90
  throw_now = true;
  auto failed = meter();
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, ErrorCode::kStoreUnavailable);
  ASSERT_TRUE(meter().ok());  // 80: the writer lives on
  EXPECT_EQ(this->balance("w"), 80);

  std::promise<Result<LedgerOutcome>> answered;
  writer.submit(
      LedgerCommand{MeterCommand{this->project_, "w", "gen", 10}, std::nullopt},
      [&answered](Result<LedgerOutcome> outcome) { answered.set_value(std::move(outcome)); },
      [](Result<LedgerOutcome>) { throw std::runtime_error("a bug in a caller"); });
  auto told = answered.get_future().get();
  ASSERT_TRUE(told.ok()) << told.error().message;
  EXPECT_EQ(told.value().account->balance, 70);

  std::string log = captured.text();
  EXPECT_NE(log.find("\"level\":\"error\",\"event\":\"ledger_batch_failed\""), std::string::npos)
      << log;
  EXPECT_NE(log.find("std::bad_alloc"), std::string::npos) << log;
  EXPECT_NE(log.find("a bug in a caller"), std::string::npos) << log;
}

// An exception thrown out of the store's transaction (from `decided`, which runs inside it) rolls
// that transaction back: nothing of the batch is written, and the connection it held works for
// the next batch instead of finding the transaction still open.
TYPED_TEST(LedgerTest, AnExceptionMidTransactionRollsItBack) {
  this->meter("x", 10);  // 90
  LedgerCommand command{MeterCommand{this->project_, "x", "gen", 10}, std::nullopt};
  for (int i = 0; i < 3; ++i) {  // more than the pool's connections, so each is hit
    EXPECT_THROW((void)this->store_->apply({&command, 1}, kNow,
                                           [](const std::vector<LedgerOutcome>&) {
                                             throw std::runtime_error("mid-transaction");
                                           }),
                 std::runtime_error);
  }
  EXPECT_EQ(this->balance("x"), 90);
  auto next = this->meter("x", 10);
  ASSERT_TRUE(next.account);
  EXPECT_EQ(next.account->balance, 80);
}

// A caller's `done` that throws is logged, and neither the other callers of its batch nor the
// writer are affected.
TYPED_TEST(LedgerTest, WriterSurvivesAThrowingAnswer) {
  CapturedLog captured;
  LedgerWriter writer(*this->store_, ledger_partitions_for(*this->store_), captured.log.get());
  writer.submit(LedgerCommand{MeterCommand{this->project_, "t", "gen", 1}, std::nullopt},
                [](Result<LedgerOutcome>) { throw std::runtime_error("answer failed"); });
  auto next =
      writer.apply(LedgerCommand{MeterCommand{this->project_, "t", "gen", 1}, std::nullopt});
  ASSERT_TRUE(next.ok()) << next.error().message;
  EXPECT_EQ(next.value().account->balance, 98);
  std::string log = captured.text();
  EXPECT_NE(log.find("ledger_answer_failed"), std::string::npos) << log;
  EXPECT_NE(log.find("answer failed"), std::string::npos) << log;
}

// A batch chosen as a deadlock victim is retried whole and succeeds, instead of failing every
// caller in it with 503.
TEST(PostgresOnly, DeadlockedBatchIsRetried) {
  ASSERT_NE(testing::PgCluster::shared(), nullptr);
  std::string url = testing::PgCluster::shared()->fresh_database();
  auto store = open_store({"", url});
  ASSERT_TRUE(store.ok()) << store.error().message;
  Project project;
  project.id = "proj_dl";
  project.name = "deadlock";
  project.created_at_ms = kNow;
  project.settings.starting_credits = 10;
  ASSERT_TRUE(store.value()->create_project(project, {}).ok());
  auto meters = [&] {
    std::vector<LedgerCommand> commands;
    for (const char* user : {"a", "b"})
      commands.push_back({MeterCommand{"proj_dl", user, "gen", 1}, std::nullopt});
    return commands;
  };
  ASSERT_TRUE(store.value()->apply(meters(), kNow).ok());  // both accounts exist
  auto other = PgConnection::open(url);
  ASSERT_TRUE(other.ok());
  SqlConnection& rival = *other.value();
  ASSERT_TRUE(rival.query("BEGIN").ok());
  ASSERT_TRUE(rival.query("SET LOCAL deadlock_timeout = '5s'").ok());  // the batch is the victim
  ASSERT_TRUE(rival.query("SELECT 1 FROM accounts WHERE user_id = 'b' FOR UPDATE").ok());
  auto batch = std::async(std::launch::async, [&] { return store.value()->apply(meters(), kNow); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the batch holds a, waits for b
  auto locked = rival.query("SELECT 1 FROM accounts WHERE user_id = 'a' FOR UPDATE");
  ASSERT_TRUE(locked.ok()) << locked.error().message;  // granted once the batch was aborted
  ASSERT_TRUE(rival.query("COMMIT").ok());
  auto result = batch.get();
  ASSERT_TRUE(result.ok()) << "batch failed instead of being retried: " << result.error().message;
  EXPECT_FALSE(result.value()[0].error);
  EXPECT_EQ(result.value()[1].account->balance, 8);
  EXPECT_TRUE(store.value()->audit("proj_dl").value().mismatched.empty());
}

// query_after() sends its statements in one round trip, each with bound parameters: every value
// arrives exactly, $1 is never read as the start of $10, and a text that looks like SQL or like a
// placeholder stays text.
TEST(PostgresOnly, QueryAfterBindsParametersExactly) {
  ASSERT_NE(testing::PgCluster::shared(), nullptr);
  auto opened = PgConnection::open(testing::PgCluster::shared()->fresh_database());
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  SqlConnection& db = *opened.value();
  const std::vector<std::string> texts = {"it's",           "back\\slash \\' and ''",
                                          "$1 $2 $10",      "'); DROP TABLE echo; --",
                                          "ü 日本 🙂", ""};
  ASSERT_TRUE(db.exec_script("CREATE TABLE echo (i int, t text, n bigint)").ok());
  std::vector<SqlStatement> before;
  for (size_t i = 0; i < texts.size(); ++i) {
    before.push_back({"INSERT INTO echo VALUES ($1, $2, $3)",
                      {static_cast<int64_t>(i), texts[i], static_cast<int64_t>(i) - 3}});
  }
  before.push_back({"INSERT INTO echo VALUES ($1, $2, $3)",
                    {int64_t{100}, nullptr, std::numeric_limits<int64_t>::min()}});
  before.push_back({"INSERT INTO echo VALUES ($1, $2, $3)",
                    {int64_t{101}, "max", std::numeric_limits<int64_t>::max()}});
  auto rows = db.query_after(before, "SELECT t, n FROM echo ORDER BY i");
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  ASSERT_EQ(rows.value().size(), texts.size() + 2);
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(rows.value().text(i, 0), texts[i]);
    EXPECT_EQ(rows.value().int64(i, 1), static_cast<int64_t>(i) - 3);
  }
  EXPECT_TRUE(rows.value().is_null(texts.size(), 0));
  EXPECT_EQ(rows.value().int64(texts.size(), 1), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(rows.value().int64(texts.size() + 1, 1), std::numeric_limits<int64_t>::max());

  SqlParams eleven;
  for (int64_t i = 1; i <= 11; ++i) eleven.push_back(std::string("p").append(std::to_string(i)));
  auto picked = db.query_after(
      {},
      "SELECT $11::text, $10::text, $1::text, $2::text || $3 || $4 || $5 || $6 || $7 || $8 || $9",
      eleven);
  ASSERT_TRUE(picked.ok()) << picked.error().message;
  EXPECT_EQ(picked.value().text(0, 0), "p11");
  EXPECT_EQ(picked.value().text(0, 1), "p10");
  EXPECT_EQ(picked.value().text(0, 2), "p1");
  EXPECT_EQ(picked.value().text(0, 3), "p2p3p4p5p6p7p8p9");
}

// Nothing is prepared by name, however often a statement runs: a pooler in transaction mode
// would hand a named statement to the next client of that server connection, or lose it.
TEST(PostgresOnly, NoStatementIsPreparedByName) {
  ASSERT_NE(testing::PgCluster::shared(), nullptr);
  auto opened = PgConnection::open(testing::PgCluster::shared()->fresh_database());
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  SqlConnection& db = *opened.value();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(db.query("SELECT $1::bigint + 1", {int64_t{i}}).ok());
    std::vector<SqlStatement> before = {{"BEGIN", {}}, {"SELECT $1::text", {std::string("x")}}};
    ASSERT_TRUE(db.query_after(before, "SELECT 2").ok());
    ASSERT_TRUE(db.commit().ok());
  }
  auto named = db.query("SELECT count(*) FROM pg_prepared_statements");
  ASSERT_TRUE(named.ok()) << named.error().message;
  EXPECT_EQ(named.value().int64(0, 0), 0);
}

// A text holding a NUL byte would arrive cut short through libpq; it is refused instead, with
// nothing sent, and the connection stays usable.
TEST(PostgresOnly, ATextWithANulByteIsRefused) {
  ASSERT_NE(testing::PgCluster::shared(), nullptr);
  auto opened = PgConnection::open(testing::PgCluster::shared()->fresh_database());
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  SqlConnection& db = *opened.value();
  auto refused = db.query("SELECT $1::text", {std::string("a\0b", 3)});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("NUL"), std::string::npos);
  auto fine = db.query("SELECT $1::text", {std::string("ab")});
  ASSERT_TRUE(fine.ok()) << fine.error().message;
  EXPECT_EQ(fine.value().text(0, 0), "ab");
}

// libpq quotes a URL it cannot parse, password included; every message that reaches a log or a
// caller has the password masked, spelled as in the URL or decoded.
TEST(PostgresOnly, ThePasswordNeverAppearsInAnError) {
  for (const std::string& url :
       {std::string("postgresql://tollgate:s3cr%zzet@127.0.0.1:1/tollgate"),
        std::string("postgresql://tollgate:s3cr%41et@127.0.0.1:1/tollgate?connect_timeout=1"),
        std::string("host=127.0.0.1 port=1 user=tollgate password=s3cr%zzet connect_timeout=1"),
        std::string("postgresql://127.0.0.1:1/tollgate?password=s3cr%zzet&sslmode=bogus")}) {
    auto opened = PgConnection::open(url);
    ASSERT_FALSE(opened.ok()) << url;
    const std::string& message = opened.error().message;
    EXPECT_EQ(opened.error().param, "DATABASE_URL");
    EXPECT_EQ(message.find("s3cr"), std::string::npos) << message;
    EXPECT_NE(message.find("cannot connect to PostgreSQL"), std::string::npos) << message;
  }
  EXPECT_EQ(
      mask_password("bad token \"pa%zzss\" and paAss", "postgres://u:pa%zzss@h/d?password=paAss"),
      "bad token \"[password]\" and [password]");
}

// Through one server connection shared by every client (pgbouncer with a pool of one): the
// statement timeout holds in every transaction tollgate runs, and the next client of the
// connection finds none of it, nor any other session state.
TEST(PgbouncerOnly, StatementTimeoutHoldsInEveryTransactionAndNeverLeaks) {
  ASSERT_NE(testing::PgCluster::shared(), nullptr);
  auto bouncer = testing::PgBouncer::start(*testing::PgCluster::shared(), 1);
  ASSERT_NE(bouncer, nullptr);
  std::string url = bouncer->through(testing::PgCluster::shared()->fresh_database());
  auto opened = PgConnection::open(url);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  SqlConnection& db = *opened.value();
  const std::string kTimeout = std::to_string(kStatementTimeoutMs / 1000) + "s";
  auto implicit = db.query("SHOW statement_timeout");
  ASSERT_TRUE(implicit.ok()) << implicit.error().message;
  EXPECT_EQ(implicit.value().text(0, 0), kTimeout);
  ASSERT_TRUE(db.query("BEGIN").ok());
  auto explicit_begin = db.query("SHOW statement_timeout");
  ASSERT_TRUE(explicit_begin.ok());
  EXPECT_EQ(explicit_begin.value().text(0, 0), kTimeout);
  ASSERT_TRUE(db.commit().ok());
  std::vector<SqlStatement> batch_begin = {{"BEGIN", {}}, {"SET LOCAL enable_seqscan = off", {}}};
  auto deferred = db.query_after(batch_begin, "SHOW statement_timeout");
  ASSERT_TRUE(deferred.ok()) << deferred.error().message;
  EXPECT_EQ(deferred.value().text(0, 0), kTimeout);
  auto still = db.query("SHOW statement_timeout");  // the next round trip of that transaction
  ASSERT_TRUE(still.ok());
  EXPECT_EQ(still.value().text(0, 0), kTimeout);
  ASSERT_TRUE(db.commit().ok());
  ASSERT_TRUE(db.exec_script("CREATE TABLE t (x int); INSERT INTO t VALUES (1)").ok());

  // Another client on the same single server connection, through libpq alone (a PgConnection
  // would set its own timeout): it finds the server's defaults.
  PGconn* raw = PQconnectdb(url.c_str());
  ASSERT_EQ(PQstatus(raw), CONNECTION_OK) << PQerrorMessage(raw);
  PGresult* result =
      PQexec(raw,
             "SELECT current_setting('statement_timeout'), current_setting('enable_seqscan'), "
             "(SELECT count(*) FROM pg_prepared_statements), "
             "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory')");
  ASSERT_EQ(PQresultStatus(result), PGRES_TUPLES_OK) << PQerrorMessage(raw);
  EXPECT_STREQ(PQgetvalue(result, 0, 0), "0");
  EXPECT_STREQ(PQgetvalue(result, 0, 1), "on");
  EXPECT_STREQ(PQgetvalue(result, 0, 2), "0");
  EXPECT_STREQ(PQgetvalue(result, 0, 3), "0");
  PQclear(result);
  PQfinish(raw);
}

// The store itself through one shared server connection: two stores race, migrations and all.
TEST(PgbouncerOnly, TwoStoresShareOneServerConnection) {
  ASSERT_NE(testing::PgCluster::shared(), nullptr);
  auto bouncer = testing::PgBouncer::start(*testing::PgCluster::shared(), 1);
  ASSERT_NE(bouncer, nullptr);
  std::string url = bouncer->through(testing::PgCluster::shared()->fresh_database());
  auto first = std::async(std::launch::async, [&] { return open_store({"", url}); });
  auto second = open_store({"", url});
  auto one = first.get();
  ASSERT_TRUE(one.ok()) << one.error().message;
  ASSERT_TRUE(second.ok()) << second.error().message;
  Project project;
  project.id = "proj_one";
  project.name = "one";
  project.created_at_ms = kNow;
  project.settings.starting_credits = 50;
  ASSERT_TRUE(one.value()->create_project(project, {}).ok());
  std::vector<std::thread> threads;
  std::atomic<int> allowed{0};
  std::atomic<int> failed{0};
  LedgerWriter writer_a(*one.value(), ledger_partitions_for(*one.value()));
  LedgerWriter writer_b(*second.value(), ledger_partitions_for(*second.value()));
  for (int i = 0; i < 32; ++i) {
    threads.emplace_back([&, i] {
      auto outcome =
          (i % 2 ? writer_a : writer_b)
              .apply(LedgerCommand{MeterCommand{"proj_one", "u", "gen", 3}, std::nullopt});
      if (!outcome.ok()) {
        ++failed;
      } else if (!outcome.value().error) {
        ++allowed;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(allowed.load(), 16);
  auto audit = second.value()->audit("proj_one");
  ASSERT_TRUE(audit.ok()) << audit.error().message;
  EXPECT_TRUE(audit.value().mismatched.empty());
}

// The first failing statement of a script stops the rest, fails the call, and leaves the
// connection usable once the transaction is rolled back.
TEST(PostgresOnly, QueryAfterStopsAtTheFirstFailure) {
  ASSERT_NE(testing::PgCluster::shared(), nullptr);
  auto opened = PgConnection::open(testing::PgCluster::shared()->fresh_database());
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  SqlConnection& db = *opened.value();
  ASSERT_TRUE(db.exec_script("CREATE TABLE kept (x bigint)").ok());
  std::vector<SqlStatement> before = {{"BEGIN", {}},
                                      {"INSERT INTO kept VALUES ($1)", {int64_t{1}}},
                                      {"INSERT INTO kept VALUES ($1)", {"not a number"}}};
  auto failed = db.query_after(before, "INSERT INTO kept VALUES (3)");
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, ErrorCode::kStoreUnavailable);
  EXPECT_FALSE(db.last_error_retryable());
  db.rollback();
  auto count = db.query("SELECT count(*) FROM kept");
  ASSERT_TRUE(count.ok()) << count.error().message;
  EXPECT_EQ(count.value().int64(0, 0), 0);
}

// ---- User keys -----------------------------------------------------------------------------

UserKey user_key(const std::string& project, const std::string& id, const std::string& user,
                 std::optional<int64_t> cap) {
  UserKey key;
  key.id = id;
  key.project_id = project;
  key.user_id = user;
  key.name = "laptop";
  key.hash = "hash_" + id;
  key.start = "tgk_abcd";
  key.spend_cap_micros = cap;
  key.cap_period = CapPeriod::kMonth;
  key.models = {"openai/*"};
  key.metadata = R"({"team":"a"})";
  key.spend.period_start_ms = kNow - 1000;
  key.created_at_ms = kNow;
  key.updated_at_ms = kNow;
  return key;
}

ReserveCommand keyed_reserve(const std::string& project, const std::string& user,
                             const std::string& hold, int64_t micros, const std::string& key,
                             int64_t period_start = kNow - 1000) {
  ReserveCommand reserve{project, user, hold, 0, micros, 60'000, "", {}};
  reserve.key = KeyBudget{key, period_start};
  reserve.model = "openai/gpt-4o-mini";
  return reserve;
}

TYPED_TEST(LedgerTest, UserKeyRecordsRoundTripAndOnlyTheirHashesFindThem) {
  Store& store = *this->store_;
  const std::string& p = this->project_;
  ASSERT_TRUE(store.create_user_key(user_key(p, "key_1", "ada", 500)).ok());
  ASSERT_TRUE(store.create_user_key(user_key(p, "key_2", "bob", std::nullopt)).ok());
  UserKey same_hash = user_key(p, "key_3", "ada", 1);
  same_hash.hash = "hash_key_1";
  EXPECT_EQ(store.create_user_key(same_hash).error().code, ErrorCode::kConflict);
  auto found = store.find_user_key("hash_key_1");
  ASSERT_TRUE(found.ok() && found.value());
  EXPECT_EQ(found.value()->id, "key_1");
  EXPECT_EQ(found.value()->models, std::vector<std::string>{"openai/*"});
  EXPECT_EQ(found.value()->metadata, R"({"team":"a"})");
  EXPECT_EQ(found.value()->spend_cap_micros, std::optional<int64_t>(500));
  EXPECT_FALSE(store.find_user_key("hash_nope").value());
  EXPECT_FALSE(store.get_user_key("proj_other", "key_1").value());
  auto ada = store.list_user_keys(p, std::string("ada"), Page{10, {}});
  ASSERT_EQ(ada.value().size(), 1u);
  auto all = store.list_user_keys(p, std::nullopt, Page{1, std::string("key_1")});
  ASSERT_EQ(all.value().size(), 1u);
  EXPECT_EQ(all.value()[0].id, "key_2");

  auto patched = store.patch_user_key(p, "key_1", kNow + 1, [](UserKey& key) -> Result<void> {
    key.spend_cap_micros = 900;
    key.cap_period = CapPeriod::kDay;
    return {};
  });
  ASSERT_TRUE(patched.ok());
  EXPECT_EQ(store.get_user_key(p, "key_1").value()->cap_period, CapPeriod::kDay);
  auto refused = store.patch_user_key(p, "key_1", kNow, [](UserKey& key) -> Result<void> {
    key.name = "never stored";
    return fail(ErrorCode::kConflict, "no");
  });
  EXPECT_EQ(refused.error().code, ErrorCode::kConflict);
  EXPECT_EQ(store.get_user_key(p, "key_1").value()->name, "laptop");

  auto rolled = store.roll_user_key({p, "key_1", "hash_new", "tgk_efgh", kNow + 5000, kNow});
  ASSERT_TRUE(rolled.ok());
  EXPECT_EQ(rolled.value().previous_hash, "hash_key_1");
  EXPECT_EQ(store.find_user_key("hash_key_1").value()->id, "key_1");  // in its grace period
  EXPECT_EQ(store.find_user_key("hash_new").value()->id, "key_1");
  EXPECT_EQ(store.get_user_key(p, "key_1").value()->spend_cap_micros, std::optional<int64_t>(900));

  EXPECT_EQ(store.revoke_user_key(p, "key_2", kNow).value().revoked_at_ms,
            std::optional<int64_t>(kNow));
  EXPECT_EQ(store.revoke_user_key(p, "key_2", kNow + 9).value().revoked_at_ms,
            std::optional<int64_t>(kNow));
  EXPECT_EQ(store.roll_user_key({p, "key_2", "h", "s", kNow, kNow}).error().code,
            ErrorCode::kConflict);
  EXPECT_EQ(store.roll_user_key({p, "key_9", "h", "s", kNow, kNow}).error().code,
            ErrorCode::kNotFound);
  EXPECT_EQ(store.revoke_user_key(p, "key_9", kNow).error().code, ErrorCode::kNotFound);
}

TYPED_TEST(LedgerTest, AKeysCapBoundsItsHoldsAndEachCloseMovesHeldToSpent) {
  Store& store = *this->store_;
  const std::string& p = this->project_;
  ASSERT_TRUE(store.create_user_key(user_key(p, "key_c", "ada", 1000)).ok());
  LedgerOutcome first = this->run(keyed_reserve(p, "ada", "hold_1", 600, "key_c"));
  ASSERT_FALSE(first.error) << first.error->message;
  EXPECT_EQ(first.key_spend->held_micros, 600);
  LedgerOutcome over = this->run(keyed_reserve(p, "ada", "hold_2", 401, "key_c"));
  ASSERT_TRUE(over.error);
  EXPECT_EQ(over.error->code, ErrorCode::kInsufficientCredits);
  EXPECT_EQ(over.error->param, "key");
  EXPECT_FALSE(store.get_hold(p, "hold_2").value());
  EXPECT_FALSE(this->run(keyed_reserve(p, "ada", "hold_2", 400, "key_c")).error);
  LedgerOutcome settled = this->run(SettleCommand{p, "hold_1", 0, 250, 10, 20});
  ASSERT_FALSE(settled.error);
  EXPECT_EQ(settled.key_spend->held_micros, 400);
  EXPECT_EQ(settled.key_spend->period_spent_micros, 250);
  EXPECT_FALSE(this->run(ReleaseCommand{p, "hold_2"}).error);
  UserKey key = *store.get_user_key(p, "key_c").value();
  EXPECT_EQ(key.spend.held_micros, 0);
  EXPECT_EQ(key.spend.period_spent_micros, 250);
  EXPECT_EQ(key.spend.lifetime_micros, 250);
  EXPECT_EQ(key_remaining_micros(key), std::optional<int64_t>(750));
  Hold hold = *store.get_hold(p, "hold_1").value();
  EXPECT_EQ(hold.key_id, "key_c");
  EXPECT_EQ(hold.model, "openai/gpt-4o-mini");
  // A hold left to expire is charged to the key as reserved.
  EXPECT_FALSE(this->run(keyed_reserve(p, "ada", "hold_3", 700, "key_c")).error);
  EXPECT_FALSE(this->run(ExpireHoldsCommand{}, std::nullopt, kNow + 120'000).error);
  key = *store.get_user_key(p, "key_c").value();
  EXPECT_EQ(key.spend.held_micros, 0);
  EXPECT_EQ(key.spend.period_spent_micros, 950);
}

TYPED_TEST(LedgerTest, AKeyOfAnotherUserARevokedOrAnExpiredKeyReservesNothing) {
  Store& store = *this->store_;
  const std::string& p = this->project_;
  ASSERT_TRUE(store.create_user_key(user_key(p, "key_u", "ada", std::nullopt)).ok());
  UserKey expiring = user_key(p, "key_e", "ada", std::nullopt);
  expiring.expires_at_ms = kNow;
  ASSERT_TRUE(store.create_user_key(expiring).ok());
  ASSERT_TRUE(store.create_user_key(user_key(p, "key_r", "ada", std::nullopt)).ok());
  ASSERT_TRUE(store.revoke_user_key(p, "key_r", kNow).ok());
  for (auto [user, key] : {std::pair{"bob", "key_u"}, std::pair{"ada", "key_e"},
                           std::pair{"ada", "key_r"}, std::pair{"ada", "key_none"}}) {
    LedgerOutcome refused = this->run(keyed_reserve(p, user, std::string("hold_") + key, 1, key));
    ASSERT_TRUE(refused.error) << key;
    EXPECT_EQ(refused.error->code, ErrorCode::kUnauthenticated) << key;
  }
  EXPECT_FALSE(this->run(keyed_reserve(p, "ada", "hold_ok", 1, "key_u")).error);
}

TYPED_TEST(LedgerTest, ANewPeriodStartsTheKeysSpendAndCreditAfreshButKeepsWhatIsHeld) {
  Store& store = *this->store_;
  const std::string& p = this->project_;
  ASSERT_TRUE(store.create_user_key(user_key(p, "key_p", "ada", 100)).ok());
  EXPECT_FALSE(this->run(KeyCreditCommand{p, "key_p", 50, "goodwill", kNow - 1000}).error);
  EXPECT_FALSE(this->run(keyed_reserve(p, "ada", "hold_a", 150, "key_p")).error);
  EXPECT_FALSE(this->run(SettleCommand{p, "hold_a", 0, 150, 1, 1}).error);
  EXPECT_TRUE(this->run(keyed_reserve(p, "ada", "hold_b", 1, "key_p")).error);  // spent
  EXPECT_FALSE(
      this->run(keyed_reserve(p, "ada", "hold_c", 60, "key_p", kNow)).error);  // new period
  UserKey key = *store.get_user_key(p, "key_p").value();
  EXPECT_EQ(key.spend.period_start_ms, kNow);
  EXPECT_EQ(key.spend.period_spent_micros, 0);
  EXPECT_EQ(key.spend.period_credit_micros, 0);
  EXPECT_EQ(key.spend.held_micros, 60);
  EXPECT_EQ(key.spend.lifetime_micros, 150);
  // A reservation still naming the old period changes nothing back.
  EXPECT_TRUE(this->run(keyed_reserve(p, "ada", "hold_d", 41, "key_p", kNow - 1000)).error);
}

TYPED_TEST(LedgerTest, AKeyCreditRaisesThisPeriodsCapOnceUnderItsIdempotencyKey) {
  Store& store = *this->store_;
  const std::string& p = this->project_;
  ASSERT_TRUE(store.create_user_key(user_key(p, "key_k", "ada", 10)).ok());
  Idempotency idem{"key_proj_a", "credit-1", "h1"};
  LedgerOutcome credited =
      this->run(KeyCreditCommand{p, "key_k", 90, "support", kNow - 1000}, idem);
  ASSERT_FALSE(credited.error);
  EXPECT_EQ(credited.key_spend->period_credit_micros, 90);
  LedgerOutcome replayed =
      this->run(KeyCreditCommand{p, "key_k", 90, "support", kNow - 1000}, idem);
  EXPECT_TRUE(replayed.replayed);
  EXPECT_EQ(replayed.key_spend->period_credit_micros, 90);
  EXPECT_EQ(store.get_user_key(p, "key_k").value()->spend.period_credit_micros, 90);
  EXPECT_EQ(this->run(KeyCreditCommand{p, "key_k", 0, "x", kNow}).error->code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(this->run(KeyCreditCommand{p, "key_nope", 5, "x", kNow}).error->code,
            ErrorCode::kNotFound);
  EXPECT_EQ(this->run(KeyCreditCommand{"proj_other", "key_k", 5, "x", kNow}).error->code,
            ErrorCode::kNotFound);
  EXPECT_FALSE(this->run(keyed_reserve(p, "ada", "hold_k", 100, "key_k")).error);
  EXPECT_TRUE(this->run(keyed_reserve(p, "ada", "hold_l", 1, "key_k")).error);
}

TYPED_TEST(LedgerTest, ConcurrentReservationsOnOneKeyFromTwoStoresNeverPassItsCap) {
  auto second = this->backend_.open();
  ASSERT_TRUE(second.ok());
  Store& store = *this->store_;
  const std::string& p = this->project_;
  ASSERT_TRUE(store.create_user_key(user_key(p, "key_x", "ada", 1000)).ok());
  std::vector<Store*> stores{&store, second.value().get()};
  std::vector<std::unique_ptr<LedgerWriter>> writers;
  for (Store* each : stores)
    writers.push_back(std::make_unique<LedgerWriter>(*each, ledger_partitions_for(*each)));
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 64; ++i) {
    threads.emplace_back([&, i] {
      auto outcome = writers[i % writers.size()]->apply(LedgerCommand{
          keyed_reserve(p, "ada", "hold_x" + std::to_string(i), 90, "key_x"), std::nullopt});
      if (outcome.ok() && !outcome.value().error) ++allowed;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(allowed.load(), 11);  // floor(1000 / 90)
  EXPECT_EQ(store.get_user_key(p, "key_x").value()->spend.held_micros, 990);
}

TYPED_TEST(LedgerTest, UsageTotalsSumKeyedHoldsByGroupAndFilter) {
  Store& store = *this->store_;
  const std::string& p = this->project_;
  ASSERT_TRUE(store.create_user_key(user_key(p, "key_a", "ada", std::nullopt)).ok());
  ASSERT_TRUE(store.create_user_key(user_key(p, "key_b", "bob", std::nullopt)).ok());
  EXPECT_FALSE(this->run(keyed_reserve(p, "ada", "hold_1", 100, "key_a")).error);
  EXPECT_FALSE(this->run(SettleCommand{p, "hold_1", 0, 70, 5, 7}).error);
  EXPECT_FALSE(this->run(keyed_reserve(p, "ada", "hold_2", 100, "key_a")).error);
  EXPECT_FALSE(this->run(SettleCommand{p, "hold_2", 0, 30, 1, 2, "openai/gpt-4o"}).error);
  EXPECT_FALSE(this->run(keyed_reserve(p, "bob", "hold_3", 100, "key_b")).error);
  EXPECT_FALSE(this->run(ReleaseCommand{p, "hold_3"}).error);  // ran nothing: not usage
  EXPECT_FALSE(this->run(ReserveCommand{p, "bob", "hold_4", 1, 9, 60'000, "feature", {}}).error);
  UsageQuery all{kNow - 1, kNow + 1, {}, {}, {}, {}};
  auto total = store.usage_totals(p, all);
  ASSERT_TRUE(total.ok());
  ASSERT_EQ(total.value().size(), 1u);
  EXPECT_EQ(total.value()[0].requests, 2);
  EXPECT_EQ(total.value()[0].micros, 100);
  EXPECT_EQ(total.value()[0].input_tokens, 6);
  EXPECT_EQ(total.value()[0].output_tokens, 9);
  UsageQuery by_model = all;
  by_model.group_by = {UsageGroup::kUser, UsageGroup::kModel};
  auto models = store.usage_totals(p, by_model);
  ASSERT_EQ(models.value().size(), 2u);
  EXPECT_EQ(models.value()[0].model, "openai/gpt-4o-mini");  // the larger spend first
  EXPECT_EQ(models.value()[0].micros, 70);
  EXPECT_EQ(models.value()[1].model, "openai/gpt-4o");
  EXPECT_EQ(models.value()[1].user_id, "ada");
  UsageQuery one_key = all;
  one_key.key_id = "key_b";
  EXPECT_EQ(store.usage_totals(p, one_key).value()[0].requests, 0);
  UsageQuery outside = all;
  outside.from_ms = kNow + 1;
  outside.to_ms = kNow + 2;
  EXPECT_EQ(store.usage_totals(p, outside).value()[0].requests, 0);
}

}  // namespace
}  // namespace tollgate::server
