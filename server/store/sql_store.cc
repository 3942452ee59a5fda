// SqlStore: the connection pool, the instance's own settings, and the row helpers every
// SqlStore file shares. The rest of the store is split by what it serves: sql_store_projects.cc
// (projects, their features and provider credentials), sql_store_keys.cc (API keys),
// sql_store_accounts.cc (reading accounts, the ledger and holds), sql_store_analytics.cc (totals),
// ledger_batch.cc (every ledger write).
#include "server/store/sql_store.h"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>

#include "server/store/ledger_sql.h"
#include "server/store/migrations.h"
#include "server/store/sql_store_lease.h"
#include "tollgate/calendar/calendar.h"
#include "tollgate/core/json_read.h"

namespace tollgate::server {
namespace {

using json = nlohmann::json;

// How long a call waits for a free connection before answering kStoreUnavailable.
constexpr std::chrono::milliseconds kPoolWait{5'000};

}  // namespace

Project read_project(const SqlRows& rows, size_t r) {
  Project project;
  project.id = rows.text(r, 0);
  project.name = rows.text(r, 1);
  project.demo = rows.int64(r, 2) != 0;
  project.settings = settings_from_json(rows.text(r, 3));
  project.created_at_ms = rows.int64(r, 4);
  project.revoked_at_ms = rows.optional_int64(r, 5);
  return project;
}

std::string_view key_kind_name(KeyKind kind) {
  return kind == KeyKind::kPublishable ? "publishable" : "secret";
}

std::string settings_to_json(const ProjectSettings& settings) {
  json plans = json::array();
  for (const Plan& plan : settings.plans) {
    plans.push_back({{"name", plan.name},
                     {"monthlyCredits", plan.monthly_credits},
                     {"priceMicros", plan.price_micros},
                     {"currency", plan.currency},
                     {"interval", plan.interval}});
  }
  json packs = json::array();
  for (const CreditPack& pack : settings.credit_packs) {
    packs.push_back({{"id", pack.id},
                     {"name", pack.name},
                     {"credits", pack.credits},
                     {"priceMicros", pack.price_micros},
                     {"currency", pack.currency}});
  }
  json out = {{"secureMetering", settings.secure_metering},
              {"plans", plans},
              {"creditPacks", packs},
              {"startingCredits", settings.starting_credits},
              {"lowBalanceThreshold", settings.low_balance_threshold},
              {"budgetMicros", nullptr},
              {"allowBrowserMinting", settings.allow_browser_minting},
              {"allowedOrigins", settings.allowed_origins}};
  if (settings.budget_micros) out["budgetMicros"] = *settings.budget_micros;
  return out.dump();
}

ProjectSettings settings_from_json(std::string_view text) {
  using namespace json_read;
  ProjectSettings settings;
  json in = json::parse(text, nullptr, false);
  if (!in.is_object()) return settings;
  settings.secure_metering = bool_or(in, "secureMetering", false);
  settings.starting_credits = int64_or(in, "startingCredits", 0);
  settings.low_balance_threshold = int64_or(in, "lowBalanceThreshold", 0);
  settings.budget_micros = int64_if(in, "budgetMicros");
  settings.allow_browser_minting = bool_or(in, "allowBrowserMinting", false);
  for (const json& origin : array_or_empty(in, "allowedOrigins")) {
    if (origin.is_string()) settings.allowed_origins.push_back(origin.get<std::string>());
  }
  for (const json& plan : array_or_empty(in, "plans")) {
    settings.plans.push_back({string_or(plan, "name", ""), int64_or(plan, "monthlyCredits", 0),
                              int64_or(plan, "priceMicros", 0), string_or(plan, "currency", "usd"),
                              string_or(plan, "interval", "month")});
  }
  for (const json& pack : array_or_empty(in, "creditPacks")) {
    settings.credit_packs.push_back({string_or(pack, "id", ""), string_or(pack, "name", ""),
                                     int64_or(pack, "credits", 0), int64_or(pack, "priceMicros", 0),
                                     string_or(pack, "currency", "usd")});
  }
  return settings;
}

int64_t month_start_ms(int64_t now_ms) {
  // sdk-core's calendar; the clock is always inside its range, so clamping never changes it.
  return calendar::month_start_ms(std::clamp<int64_t>(now_ms, 0, calendar::kCalendarMsMax))
      .value();
}

// ---- The pool ------------------------------------------------------------------------------

Result<std::unique_ptr<SqlStore>> SqlStore::open(ConnectionFactory factory, size_t pool_size) {
  auto first = factory();
  if (!first) return first.error();
  std::string_view kind =
      first.value()->dialect() == SqlDialect::kSqlite ? "sqlite" : "postgres";
  std::unique_ptr<SqlStore> store(
      new SqlStore(std::move(factory), kind, LedgerSql::of(first.value()->dialect())));
  auto& connection = *first.value();
  if (auto migrated = migrate(connection, migrations_for(connection.dialect())); !migrated)
    return migrated.error();
  store->idle_.push_back(std::move(first).value());
  store->missing_ = pool_size > 1 ? pool_size - 1 : 0;  // opened on demand
  return store;
}

SqlStore::Lease::~Lease() {
  if (!connection_) return;
  if (std::uncaught_exceptions() > exceptions_) {
    // Thrown out of mid-transaction (a bug, bad_alloc): end the transaction here, or the next
    // caller's BEGIN would find it still open. PostgreSQL also gets a fresh connection.
    try {
      connection_->rollback();
    } catch (...) {
    }
    broken_ = true;
  }
  store_.give_back(std::move(connection_), broken_);
}

Result<SqlStore::Lease> SqlStore::lease() {
  std::unique_lock lock(mutex_);
  if (!available_.wait_for(lock, kPoolWait, [this] { return !idle_.empty() || missing_ > 0; })) {
    return fail(ErrorCode::kStoreUnavailable, "no database connection became free in time");
  }
  if (!idle_.empty()) {
    auto connection = std::move(idle_.back());
    idle_.pop_back();
    return Lease(*this, std::move(connection));
  }
  --missing_;
  lock.unlock();
  auto opened = factory_();
  if (!opened) {
    lock.lock();
    ++missing_;
    available_.notify_one();
    return opened.error();
  }
  return Lease(*this, std::move(opened).value());
}

void SqlStore::give_back(std::unique_ptr<SqlConnection> connection, bool broken) {
  std::lock_guard lock(mutex_);
  // Only PostgreSQL connections are replaced: reopening an in-memory SQLite database would
  // lose it, and a SQLite error is never a broken connection.
  if (broken && connection->dialect() == SqlDialect::kPostgres) {
    connection.reset();
    ++missing_;
  } else {
    idle_.push_back(std::move(connection));
  }
  available_.notify_one();
}

// ---- Instance ------------------------------------------------------------------------------

Result<int64_t> SqlStore::schema_version() {
  TG_LEASE(db);
  auto version = applied_version(*db);
  if (!version) db.mark_broken();
  return version;
}

Result<void> SqlStore::ping() {
  TG_LEASE(db);
  auto one = db->query("SELECT 1");
  if (!one) {
    db.mark_broken();
    return one.error();
  }
  return {};
}

Result<std::optional<std::string>> SqlStore::get_setting(std::string_view name) {
  TG_LEASE(db);
  auto rows = db->query("SELECT value FROM settings WHERE name = $1", {std::string(name)});
  if (!rows) return db.mark_broken(), rows.error();
  if (rows.value().empty()) return std::optional<std::string>();
  return std::optional<std::string>(rows.value().text(0, 0));
}

Result<std::string> SqlStore::put_setting_if_absent(std::string_view name,
                                                    std::string_view value) {
  TG_LEASE(db);
  auto inserted = db->query(
      "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
      {std::string(name), std::string(value)});
  if (!inserted) return db.mark_broken(), inserted.error();
  auto rows = db->query("SELECT value FROM settings WHERE name = $1", {std::string(name)});
  if (!rows || rows.value().empty()) {
    db.mark_broken();
    return fail(ErrorCode::kStoreUnavailable, "setting " + std::string(name) + " was not stored");
  }
  return rows.value().text(0, 0);
}

Result<bool> SqlStore::replace_setting(std::string_view name, std::string_view expected,
                                       std::string_view value) {
  TG_LEASE(db);
  auto replaced = db->query(
      "UPDATE settings SET value = $3 WHERE name = $1 AND value = $2 RETURNING name",
      {std::string(name), std::string(expected), std::string(value)});
  if (!replaced) return db.mark_broken(), replaced.error();
  return !replaced.value().empty();
}


}  // namespace tollgate::server
