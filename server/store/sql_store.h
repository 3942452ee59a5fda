// The Store over SqlConnections: one implementation for SQLite and PostgreSQL.
//
// Connections come from a small pool; each call borrows one for its whole transaction. SQLite
// keeps a single connection (one writer, which is what the ledger relies on there); PostgreSQL
// keeps kPostgresPoolSize and serialises writers with row locks taken in a fixed order.
#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "server/store/sql.h"
#include "server/store/store.h"

namespace tollgate::server {

using ConnectionFactory = std::function<Result<std::unique_ptr<SqlConnection>>()>;

class LedgerSql;

class SqlStore final : public Store {
 public:
  // Opens `pool_size` connections and migrates the schema through the first one.
  static Result<std::unique_ptr<SqlStore>> open(ConnectionFactory factory, size_t pool_size);

  std::string_view kind() const override { return kind_; }
  Result<int64_t> schema_version() override;
  Result<void> ping() override;

  Result<std::optional<std::string>> get_setting(std::string_view name) override;
  Result<std::string> put_setting_if_absent(std::string_view name, std::string_view value) override;
  Result<bool> replace_setting(std::string_view name, std::string_view expected,
                               std::string_view value) override;

  Result<void> create_project(const Project& project, std::span<const KeyRecord> keys) override;
  Result<std::optional<Project>> get_project(std::string_view id) override;
  Result<std::optional<Project>> demo_project() override;
  Result<Project> patch_project_settings(std::string_view id, const SettingsPatch& patch) override;
  Result<std::optional<KeyRecord>> find_key(std::string_view hash) override;
  Result<std::vector<KeyRecord>> list_keys(std::string_view project_id, int64_t now_ms) override;
  Result<RolledKeys> roll_key(const KeyRoll& roll) override;
  Result<Project> revoke_project(std::string_view id, int64_t now_ms) override;
  Result<std::optional<IdempotencyRecord>> find_idempotency(std::string_view scope,
                                                            std::string_view key,
                                                            int64_t now_ms) override;

  using Store::apply;
  Result<std::vector<LedgerOutcome>> apply(std::span<const LedgerCommand> commands, int64_t now_ms,
                                           const Decided& decided) override;

  Result<Account> get_account(std::string_view project_id, std::string_view user_id,
                              int64_t now_ms) override;
  Result<std::vector<Account>> list_accounts(std::string_view project_id,
                                             const Page& page) override;
  Result<AccountStats> account_stats(std::string_view project_id) override;
  Result<std::vector<LedgerEntry>> list_ledger(std::string_view project_id,
                                               std::optional<std::string> user_id,
                                               const Page& page) override;
  Result<std::optional<Hold>> get_hold(std::string_view project_id,
                                       std::string_view hold_id) override;
  Result<std::vector<InvocationTotal>> invocation_totals(std::string_view project_id,
                                                         const InvocationQuery& query) override;
  Result<Analytics> analytics(std::string_view project_id, int64_t from_ms, int64_t to_ms,
                              int64_t interval_ms) override;
  Result<LedgerAudit> audit(std::string_view project_id) override;
  Result<void> create_operation(const OperationRecord& operation) override;
  Result<std::optional<OperationRecord>> get_operation(std::string_view project_id,
                                                       std::string_view slug) override;
  Result<std::vector<OperationRecord>> list_operations(std::string_view project_id,
                                                       const Page& page) override;
  Result<OperationRecord> patch_operation(std::string_view project_id, std::string_view slug,
                                          int64_t now_ms, const OperationPatch& patch) override;
  Result<bool> delete_operation(std::string_view project_id, std::string_view slug) override;
  Result<ProviderRecord> put_provider(const ProviderRecord& provider) override;
  Result<std::optional<ProviderRecord>> get_provider(std::string_view project_id,
                                                     std::string_view name) override;
  Result<std::vector<ProviderRecord>> list_providers(std::string_view project_id) override;
  Result<bool> delete_provider(std::string_view project_id, std::string_view name) override;
  Result<void> put_stripe_account(const StripeAccount& account) override;
  Result<std::optional<StripeAccount>> get_stripe_account(std::string_view project_id) override;
  Result<bool> delete_stripe_account(std::string_view project_id) override;
  Result<std::optional<std::string>> find_customer(std::string_view project_id,
                                                   std::string_view user_id) override;
  Result<std::string> put_customer(std::string_view project_id, std::string_view user_id,
                                   std::string_view customer_id, int64_t now_ms) override;
  Result<std::optional<std::string>> user_of_customer(std::string_view project_id,
                                                      std::string_view customer_id) override;
  Result<void> put_checkout(const Checkout& checkout) override;
  Result<std::optional<Checkout>> get_checkout(std::string_view project_id,
                                               std::string_view id) override;
  Result<std::optional<Checkout>> get_checkout_by_id(std::string_view id) override;
  Result<std::optional<Checkout>> checkout_by_payment_intent(
      std::string_view project_id, std::string_view payment_intent) override;
  Result<bool> put_subscription(const Subscription& subscription) override;
  Result<std::optional<Subscription>> get_subscription(std::string_view project_id,
                                                       std::string_view id) override;
  Result<std::optional<Subscription>> latest_subscription(std::string_view project_id,
                                                          std::string_view user_id) override;
  Result<bool> record_stripe_event(const StripeEventRecord& event) override;
  Result<std::optional<StripeEventRecord>> find_stripe_event(std::string_view project_id,
                                                             std::string_view event_id) override;
  Result<std::vector<StripeEventRecord>> list_stripe_events(std::string_view project_id,
                                                            const Page& page) override;
  Result<void> add_revenue(const RevenueRecord& revenue) override;
  Result<std::vector<RevenueTotal>> revenue_totals(std::string_view project_id, int64_t from_ms,
                                                   int64_t to_ms) override;
  Result<int64_t> purge_idempotency(int64_t now_ms) override;
  Result<void> create_user_key(const UserKey& key) override;
  Result<std::optional<UserKey>> get_user_key(std::string_view project_id,
                                              std::string_view id) override;
  Result<std::optional<UserKey>> find_user_key(std::string_view hash) override;
  Result<std::vector<UserKey>> list_user_keys(std::string_view project_id,
                                              const std::optional<std::string>& user_id,
                                              const Page& page) override;
  Result<UserKey> patch_user_key(std::string_view project_id, std::string_view id, int64_t now_ms,
                                 const UserKeyPatch& patch) override;
  Result<UserKey> revoke_user_key(std::string_view project_id, std::string_view id,
                                  int64_t now_ms) override;
  Result<UserKey> roll_user_key(const UserKeyRoll& roll) override;
  Result<std::vector<UsageTotal>> usage_totals(std::string_view project_id,
                                               const UsageQuery& query) override;

 private:
  // A borrowed connection, returned to the pool when it goes out of scope. A connection whose
  // last call failed is replaced, so a dropped PostgreSQL session heals on the next call; one
  // left by an exception is rolled back first.
  class Lease {
   public:
    Lease(SqlStore& store, std::unique_ptr<SqlConnection> connection)
        : store_(store),
          connection_(std::move(connection)),
          exceptions_(std::uncaught_exceptions()) {}
    Lease(Lease&&) = default;
    ~Lease();
    SqlConnection& operator*() const { return *connection_; }
    SqlConnection* operator->() const { return connection_.get(); }
    void mark_broken() { broken_ = true; }

   private:
    SqlStore& store_;
    std::unique_ptr<SqlConnection> connection_;
    int exceptions_;  // in flight when leased: more at destruction means it is unwinding
    bool broken_ = false;
  };

  SqlStore(ConnectionFactory factory, std::string_view kind, const LedgerSql& ledger_sql)
      : factory_(std::move(factory)), kind_(kind), ledger_sql_(ledger_sql) {}
  Result<Lease> lease();
  void give_back(std::unique_ptr<SqlConnection> connection, bool broken);

  ConnectionFactory factory_;
  std::string_view kind_;
  const LedgerSql& ledger_sql_;  // the ledger batch's SQL for the connections' dialect
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<SqlConnection>> idle_;
  size_t missing_ = 0;  // connections to reopen on the next lease
};

// The accounts columns every account query selects, in the order read_account() reads them.
inline constexpr std::string_view kAccountColumns =
    "project_id, user_id, plan, balance, spend_cap_micros, period_start_ms, "
    "period_spent_micros, held_micros, created_at_ms, updated_at_ms, allowance, purchased";
Account read_account(const SqlRows& rows, size_t r);

// The holds columns every hold query selects, in the order read_hold() reads them.
inline constexpr std::string_view kHoldColumns =
    "id, project_id, user_id, credits, allowance_credits, micros, status, expires_at_ms, "
    "coalesce(operation, ''), coalesce(key_id, ''), coalesce(model, '')";
Hold read_hold(const SqlRows& rows, size_t r);

// The user_keys columns every key query selects, in the order read_user_key() reads them.
inline constexpr std::string_view kUserKeyColumns =
    "id, project_id, user_id, name, hash, start, coalesce(previous_hash, ''), "
    "previous_expires_at_ms, spend_cap_micros, cap_period, models, metadata, expires_at_ms, "
    "revoked_at_ms, period_start_ms, period_spent_micros, period_credit_micros, held_micros, "
    "lifetime_micros, created_at_ms, updated_at_ms";
UserKey read_user_key(const SqlRows& rows, size_t r);

// The projects columns every project query selects, in the order read_project() reads them.
inline constexpr std::string_view kProjectColumns =
    "id, name, demo, settings, created_at_ms, revoked_at_ms";
Project read_project(const SqlRows& rows, size_t r);

// A key kind as stored: "publishable" or "secret".
std::string_view key_kind_name(KeyKind kind);

// SQL for two columns that read_split_sum() combines into the exact sum of `expression` (a fixed
// SQL expression, never user text) over a group: the sums of its high (signed) and low
// (unsigned) 32-bit halves. sum() of the whole value would leave int64 with two values near
// INT64_MAX (SQLite then fails; PostgreSQL's numeric sum no longer fits what is read back);
// neither half's sum can before 2^31 rows.
std::string split_sum(std::string_view expression);
Result<Int128> read_split_sum(const SqlRows& rows, size_t r, size_t high_column);
// The same exact sum as SQL for two int64 values, high and low: sum = high * 2^32 + low with low
// in [0, 2^32). For comparing in SQL (the audit) and for ranking (split_sum_order: ORDER BY terms,
// `direction` ASC or DESC).
std::pair<std::string, std::string> split_sum_halves(std::string_view expression);
std::string split_sum_order(std::string_view expression, std::string_view direction);

// Project settings as stored (JSON text).
std::string settings_to_json(const ProjectSettings& settings);
ProjectSettings settings_from_json(std::string_view text);

// The start of the calendar month (UTC) holding `now_ms`, in Unix ms.
int64_t month_start_ms(int64_t now_ms);

}  // namespace tollgate::server
