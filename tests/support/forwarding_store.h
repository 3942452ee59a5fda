// A Store that forwards every call to another one, for tests that change one behaviour of a real
// store (inject a failure, count calls) by overriding that method alone.
#pragma once

#include "server/store/store.h"

namespace tollgate::server {

class ForwardingStore : public Store {
 public:
  explicit ForwardingStore(Store& inner) : inner_(inner) {}

  using Store::apply;
  Result<std::vector<LedgerOutcome>> apply(std::span<const LedgerCommand> commands, int64_t now_ms,
                                           const Decided& decided) override {
    return inner_.apply(commands, now_ms, decided);
  }
  std::string_view kind() const override { return inner_.kind(); }
  Result<int64_t> schema_version() override { return inner_.schema_version(); }
  Result<void> ping() override { return inner_.ping(); }
  Result<std::optional<std::string>> get_setting(std::string_view name) override {
    return inner_.get_setting(name);
  }
  Result<std::string> put_setting_if_absent(std::string_view name,
                                            std::string_view value) override {
    return inner_.put_setting_if_absent(name, value);
  }
  Result<bool> replace_setting(std::string_view name, std::string_view expected,
                               std::string_view value) override {
    return inner_.replace_setting(name, expected, value);
  }
  Result<void> create_project(const Project& project, std::span<const KeyRecord> keys) override {
    return inner_.create_project(project, keys);
  }
  Result<std::optional<Project>> get_project(std::string_view id) override {
    return inner_.get_project(id);
  }
  Result<std::optional<Project>> demo_project() override { return inner_.demo_project(); }
  Result<Project> patch_project_settings(std::string_view id, const SettingsPatch& patch) override {
    return inner_.patch_project_settings(id, patch);
  }
  Result<std::optional<KeyRecord>> find_key(std::string_view hash) override {
    return inner_.find_key(hash);
  }
  Result<std::vector<KeyRecord>> list_keys(std::string_view project_id, int64_t now_ms) override {
    return inner_.list_keys(project_id, now_ms);
  }
  Result<RolledKeys> roll_key(const KeyRoll& roll) override { return inner_.roll_key(roll); }
  Result<Project> revoke_project(std::string_view id, int64_t now_ms) override {
    return inner_.revoke_project(id, now_ms);
  }
  Result<std::optional<IdempotencyRecord>> find_idempotency(std::string_view scope,
                                                            std::string_view key,
                                                            int64_t now_ms) override {
    return inner_.find_idempotency(scope, key, now_ms);
  }
  Result<void> create_operation(const OperationRecord& operation) override {
    return inner_.create_operation(operation);
  }
  Result<std::optional<OperationRecord>> get_operation(std::string_view project_id,
                                                       std::string_view slug) override {
    return inner_.get_operation(project_id, slug);
  }
  Result<std::vector<OperationRecord>> list_operations(std::string_view project_id,
                                                       const Page& page) override {
    return inner_.list_operations(project_id, page);
  }
  Result<OperationRecord> patch_operation(std::string_view project_id, std::string_view slug,
                                          int64_t now_ms, const OperationPatch& patch) override {
    return inner_.patch_operation(project_id, slug, now_ms, patch);
  }
  Result<bool> delete_operation(std::string_view project_id, std::string_view slug) override {
    return inner_.delete_operation(project_id, slug);
  }
  Result<ProviderRecord> put_provider(const ProviderRecord& provider) override {
    return inner_.put_provider(provider);
  }
  Result<std::optional<ProviderRecord>> get_provider(std::string_view project_id,
                                                     std::string_view name) override {
    return inner_.get_provider(project_id, name);
  }
  Result<std::vector<ProviderRecord>> list_providers(std::string_view project_id) override {
    return inner_.list_providers(project_id);
  }
  Result<bool> delete_provider(std::string_view project_id, std::string_view name) override {
    return inner_.delete_provider(project_id, name);
  }
  Result<Account> get_account(std::string_view project_id, std::string_view user_id,
                              int64_t now_ms) override {
    return inner_.get_account(project_id, user_id, now_ms);
  }
  Result<std::vector<Account>> list_accounts(std::string_view project_id,
                                             const Page& page) override {
    return inner_.list_accounts(project_id, page);
  }
  Result<AccountStats> account_stats(std::string_view project_id) override {
    return inner_.account_stats(project_id);
  }
  Result<std::vector<LedgerEntry>> list_ledger(std::string_view project_id,
                                               std::optional<std::string> user_id,
                                               const Page& page) override {
    return inner_.list_ledger(project_id, std::move(user_id), page);
  }
  Result<std::optional<Hold>> get_hold(std::string_view project_id,
                                       std::string_view hold_id) override {
    return inner_.get_hold(project_id, hold_id);
  }
  Result<std::vector<InvocationTotal>> invocation_totals(std::string_view project_id,
                                                         const InvocationQuery& query) override {
    return inner_.invocation_totals(project_id, query);
  }
  Result<Analytics> analytics(std::string_view project_id, int64_t from_ms, int64_t to_ms,
                              int64_t interval_ms) override {
    return inner_.analytics(project_id, from_ms, to_ms, interval_ms);
  }
  Result<LedgerAudit> audit(std::string_view project_id) override {
    return inner_.audit(project_id);
  }
  Result<int64_t> purge_idempotency(int64_t now_ms) override {
    return inner_.purge_idempotency(now_ms);
  }
  Result<void> put_stripe_account(const StripeAccount& account) override {
    return inner_.put_stripe_account(account);
  }
  Result<std::optional<StripeAccount>> get_stripe_account(std::string_view project_id) override {
    return inner_.get_stripe_account(project_id);
  }
  Result<bool> delete_stripe_account(std::string_view project_id) override {
    return inner_.delete_stripe_account(project_id);
  }
  Result<std::optional<std::string>> find_customer(std::string_view project_id,
                                                   std::string_view user_id) override {
    return inner_.find_customer(project_id, user_id);
  }
  Result<std::string> put_customer(std::string_view project_id, std::string_view user_id,
                                   std::string_view customer_id, int64_t now_ms) override {
    return inner_.put_customer(project_id, user_id, customer_id, now_ms);
  }
  Result<std::optional<std::string>> user_of_customer(std::string_view project_id,
                                                      std::string_view customer_id) override {
    return inner_.user_of_customer(project_id, customer_id);
  }
  Result<void> put_checkout(const Checkout& checkout) override {
    return inner_.put_checkout(checkout);
  }
  Result<std::optional<Checkout>> get_checkout(std::string_view project_id,
                                               std::string_view id) override {
    return inner_.get_checkout(project_id, id);
  }
  Result<std::optional<Checkout>> get_checkout_by_id(std::string_view id) override {
    return inner_.get_checkout_by_id(id);
  }
  Result<std::optional<Checkout>> checkout_by_payment_intent(
      std::string_view project_id, std::string_view payment_intent) override {
    return inner_.checkout_by_payment_intent(project_id, payment_intent);
  }
  Result<bool> put_subscription(const Subscription& subscription) override {
    return inner_.put_subscription(subscription);
  }
  Result<std::optional<Subscription>> get_subscription(std::string_view project_id,
                                                       std::string_view id) override {
    return inner_.get_subscription(project_id, id);
  }
  Result<std::optional<Subscription>> latest_subscription(std::string_view project_id,
                                                          std::string_view user_id) override {
    return inner_.latest_subscription(project_id, user_id);
  }
  Result<bool> record_stripe_event(const StripeEventRecord& event) override {
    return inner_.record_stripe_event(event);
  }
  Result<std::optional<StripeEventRecord>> find_stripe_event(std::string_view project_id,
                                                             std::string_view event_id) override {
    return inner_.find_stripe_event(project_id, event_id);
  }
  Result<std::vector<StripeEventRecord>> list_stripe_events(std::string_view project_id,
                                                            const Page& page) override {
    return inner_.list_stripe_events(project_id, page);
  }
  Result<void> add_revenue(const RevenueRecord& revenue) override {
    return inner_.add_revenue(revenue);
  }
  Result<std::vector<RevenueTotal>> revenue_totals(std::string_view project_id, int64_t from_ms,
                                                   int64_t to_ms) override {
    return inner_.revenue_totals(project_id, from_ms, to_ms);
  }
  Result<void> create_user_key(const UserKey& key) override { return inner_.create_user_key(key); }
  Result<std::optional<UserKey>> get_user_key(std::string_view project_id,
                                              std::string_view id) override {
    return inner_.get_user_key(project_id, id);
  }
  Result<std::optional<UserKey>> find_user_key(std::string_view hash) override {
    return inner_.find_user_key(hash);
  }
  Result<std::vector<UserKey>> list_user_keys(std::string_view project_id,
                                              const std::optional<std::string>& user_id,
                                              const Page& page) override {
    return inner_.list_user_keys(project_id, user_id, page);
  }
  Result<UserKey> patch_user_key(std::string_view project_id, std::string_view id, int64_t now_ms,
                                 const UserKeyPatch& patch) override {
    return inner_.patch_user_key(project_id, id, now_ms, patch);
  }
  Result<UserKey> revoke_user_key(std::string_view project_id, std::string_view id,
                                  int64_t now_ms) override {
    return inner_.revoke_user_key(project_id, id, now_ms);
  }
  Result<UserKey> roll_user_key(const UserKeyRoll& roll) override {
    return inner_.roll_user_key(roll);
  }
  Result<std::vector<UsageTotal>> usage_totals(std::string_view project_id,
                                               const UsageQuery& query) override {
    return inner_.usage_totals(project_id, query);
  }

 protected:
  Store& inner_;
};

}  // namespace tollgate::server
