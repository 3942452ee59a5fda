#include "server/store/sql_store.h"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>

#include "server/store/migrations.h"
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

std::string split_sum(std::string_view expression) {
  std::string e(expression);
  return "coalesce(sum((" + e + ") >> 32), 0), coalesce(sum((" + e + ") & 4294967295), 0)";
}

std::pair<std::string, std::string> split_sum_halves(std::string_view expression) {
  std::string e(expression);
  std::string high = "CAST(coalesce(sum((" + e + ") >> 32), 0) AS BIGINT)";
  std::string low = "CAST(coalesce(sum((" + e + ") & 4294967295), 0) AS BIGINT)";
  return {"(" + high + " + (" + low + " >> 32))", "(" + low + " & 4294967295)"};
}

std::string split_sum_order(std::string_view expression, std::string_view direction) {
  auto [high, low] = split_sum_halves(expression);
  return high + " " + std::string(direction) + ", " + low + " " + std::string(direction);
}

Result<Int128> read_split_sum(const SqlRows& rows, size_t r, size_t high_column) {
  auto high = parse_int128(rows.text(r, high_column));
  auto low = parse_int128(rows.text(r, high_column + 1));
  // Each half's sum stays far inside Int128 (it grows by at most 2^32 per row).
  constexpr Int128 kHalfSumMax = Int128(1) << 96;
  if (!high || !low || *high > kHalfSumMax || *high < -kHalfSumMax || *low > kHalfSumMax ||
      *low < 0) {
    return fail(ErrorCode::kStoreUnavailable, "the database returned an unreadable sum");
  }
  return *high * (Int128(1) << 32) + *low;
}

std::string settings_to_json(const ProjectSettings& settings) {
  json plans = json::array();
  for (const Plan& plan : settings.plans) {
    plans.push_back({{"name", plan.name},
                     {"monthlyCredits", plan.monthly_credits},
                     {"priceMicros", plan.price_micros}});
  }
  json out = {{"secureMetering", settings.secure_metering},
              {"plans", plans},
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
                              int64_or(plan, "priceMicros", 0)});
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
  std::unique_ptr<SqlStore> store(new SqlStore(std::move(factory), kind));
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

// ---- Small reads and writes ----------------------------------------------------------------

// Declares `name`, a connection leased for the rest of the enclosing function (or returns the
// lease's error). Callers mark it broken when a statement fails, so it is replaced.
#define TG_LEASE(name)               \
  auto name##_lease = lease();       \
  if (!name##_lease) return name##_lease.error(); \
  Lease& name = name##_lease.value()

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

Result<void> SqlStore::create_project(const Project& project, std::span<const KeyRecord> keys) {
  TG_LEASE(db);
  auto failed = [&](const Error& error) -> Result<void> {
    db->rollback();
    db.mark_broken();
    return error;
  };
  if (auto begun = db->begin_write(); !begun) return failed(begun.error());
  auto inserted = db->query(
      "INSERT INTO projects (id, name, demo, settings, period_start_ms, created_at_ms) "
      "VALUES ($1, $2, $3, $4, $5, $6)",
      {project.id, project.name, int64_t{project.demo ? 1 : 0},
       settings_to_json(project.settings), month_start_ms(project.created_at_ms),
       project.created_at_ms});
  if (!inserted) return failed(inserted.error());
  for (const KeyRecord& key : keys) {
    auto stored = db->query(
        "INSERT INTO api_keys (id, project_id, kind, hash, hint, created_at_ms) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        {key.id, project.id, std::string(key_kind_name(key.kind)), key.hash, key.hint,
         project.created_at_ms});
    if (!stored) return failed(stored.error());
  }
  if (auto committed = db->commit(); !committed) return failed(committed.error());
  return {};
}

Result<std::optional<Project>> SqlStore::get_project(std::string_view id) {
  TG_LEASE(db);
  auto rows = db->query("SELECT " + std::string(kProjectColumns) + " FROM projects WHERE id = $1",
                        {std::string(id)});
  if (!rows) return db.mark_broken(), rows.error();
  if (rows.value().empty()) return std::optional<Project>();
  return std::optional<Project>(read_project(rows.value(), 0));
}

Result<std::optional<Project>> SqlStore::demo_project() {
  TG_LEASE(db);
  auto rows = db->query("SELECT " + std::string(kProjectColumns) +
                        " FROM projects WHERE demo = 1 ORDER BY created_at_ms LIMIT 1");
  if (!rows) return db.mark_broken(), rows.error();
  if (rows.value().empty()) return std::optional<Project>();
  return std::optional<Project>(read_project(rows.value(), 0));
}

Result<Project> SqlStore::patch_project_settings(std::string_view id,
                                                 const SettingsPatch& patch) {
  TG_LEASE(db);
  auto failed = [&](const Error& error, bool broken) -> Result<Project> {
    db->rollback();
    if (broken) db.mark_broken();
    return error;
  };
  if (auto begun = db->begin_write(); !begun) return failed(begun.error(), true);
  auto rows = db->query("SELECT " + std::string(kProjectColumns) + " FROM projects WHERE id = $1" +
                            std::string(db->for_no_key_update()),
                        {std::string(id)});
  if (!rows) return failed(rows.error(), true);
  if (rows.value().empty()) {
    return failed(fail(ErrorCode::kNotFound, "no project " + std::string(id)), false);
  }
  Project project = read_project(rows.value(), 0);
  if (auto patched = patch(project.settings); !patched) return failed(patched.error(), false);
  auto updated = db->query("UPDATE projects SET settings = $1 WHERE id = $2",
                           {settings_to_json(project.settings), std::string(id)});
  if (!updated) return failed(updated.error(), true);
  if (auto committed = db->commit(); !committed) return failed(committed.error(), true);
  return project;
}

Result<Account> SqlStore::get_account(std::string_view project_id, std::string_view user_id,
                                      int64_t now_ms) {
  TG_LEASE(db);
  auto rows = db->query("SELECT " + std::string(kAccountColumns) +
                            " FROM accounts WHERE project_id = $1 AND user_id = $2",
                        {std::string(project_id), std::string(user_id)});
  if (!rows) return db.mark_broken(), rows.error();
  if (!rows.value().empty()) {
    Account account = read_account(rows.value(), 0);
    if (account.period_start_ms < month_start_ms(now_ms)) {
      account.period_start_ms = month_start_ms(now_ms);
      account.period_spent_micros = 0;
    }
    return account;
  }
  auto project = db->query("SELECT settings FROM projects WHERE id = $1", {std::string(project_id)});
  if (!project) return db.mark_broken(), project.error();
  Account account;
  account.project_id = project_id;
  account.user_id = user_id;
  account.exists = false;
  account.period_start_ms = month_start_ms(now_ms);
  if (!project.value().empty())
    account.balance = settings_from_json(project.value().text(0, 0)).starting_credits;
  return account;
}

Result<std::vector<Account>> SqlStore::list_accounts(std::string_view project_id,
                                                     const Page& page) {
  TG_LEASE(db);
  auto rows = db->query("SELECT " + std::string(kAccountColumns) +
                            " FROM accounts WHERE project_id = $1 AND user_id > $2"
                            " ORDER BY user_id LIMIT $3",
                        {std::string(project_id), page.starting_after.value_or(""), page.limit});
  if (!rows) return db.mark_broken(), rows.error();
  std::vector<Account> accounts;
  for (size_t r = 0; r < rows.value().size(); ++r) accounts.push_back(read_account(rows.value(), r));
  return accounts;
}

Result<AccountStats> SqlStore::account_stats(std::string_view project_id) {
  TG_LEASE(db);
  auto project = db->query("SELECT settings FROM projects WHERE id = $1", {std::string(project_id)});
  auto rows = db->query("SELECT plan, count(*), " + split_sum("balance") +
                            " FROM accounts WHERE project_id = $1 GROUP BY plan",
                        {std::string(project_id)});
  if (!project || !rows) return db.mark_broken(), (project ? rows.error() : project.error());
  ProjectSettings settings;
  if (!project.value().empty()) settings = settings_from_json(project.value().text(0, 0));
  AccountStats stats;
  for (size_t r = 0; r < rows.value().size(); ++r) {
    std::string plan = rows.value().text(r, 0);
    int64_t count = rows.value().int64(r, 1);
    auto balances = read_split_sum(rows.value(), r, 2);
    if (!balances) return balances.error();
    stats.total += count;
    stats.credits_outstanding += balances.value();
    for (const Plan& known : settings.plans) {
      if (known.name == plan && known.price_micros > 0) {
        stats.paid += count;
        stats.mrr_micros += Int128(count) * known.price_micros;
      }
    }
  }
  return stats;
}

Result<std::vector<LedgerEntry>> SqlStore::list_ledger(std::string_view project_id,
                                                       std::optional<std::string> user_id,
                                                       const Page& page) {
  TG_LEASE(db);
  int64_t before = INT64_MAX;
  if (page.starting_after) before = parse_entry_id(*page.starting_after).value_or(0);
  std::string sql =
      "SELECT seq, project_id, user_id, kind, amount, balance_after, event, reason, hold_id, "
      "created_at_ms FROM ledger WHERE project_id = $1 AND seq < $2";
  SqlParams params{std::string(project_id), before, page.limit};
  if (user_id) {
    sql += " AND user_id = $4";
    params.emplace_back(*user_id);
  }
  sql += " ORDER BY seq DESC LIMIT $3";
  auto rows = db->query(sql, params);
  if (!rows) return db.mark_broken(), rows.error();
  std::vector<LedgerEntry> entries;
  const SqlRows& r = rows.value();
  for (size_t i = 0; i < r.size(); ++i) {
    entries.push_back({r.int64(i, 0), r.text(i, 1), r.text(i, 2), r.text(i, 3), r.int64(i, 4),
                       r.int64(i, 5), r.text(i, 6), r.text(i, 7), r.text(i, 8), r.int64(i, 9)});
  }
  return entries;
}

Result<std::optional<Hold>> SqlStore::get_hold(std::string_view project_id,
                                               std::string_view hold_id) {
  TG_LEASE(db);
  auto rows = db->query(
      "SELECT id, project_id, user_id, credits, micros, status, expires_at_ms, "
      "coalesce(operation, '') FROM holds WHERE project_id = $1 AND id = $2",
      {std::string(project_id), std::string(hold_id)});
  if (!rows) return db.mark_broken(), rows.error();
  if (rows.value().empty()) return std::optional<Hold>();
  const SqlRows& r = rows.value();
  return std::optional<Hold>(Hold{r.text(0, 0), r.text(0, 1), r.text(0, 2), r.int64(0, 3),
                                  r.int64(0, 4), r.text(0, 5), r.int64(0, 6), r.text(0, 7)});
}

Result<std::vector<InvocationTotal>> SqlStore::invocation_totals(std::string_view project_id,
                                                                 const InvocationQuery& query) {
  // Only these fixed column names ever reach the SQL text; every value is a parameter.
  std::string_view key = query.group == InvocationGroup::kOperation ? "operation"
                         : query.group == InvocationGroup::kUser    ? "user_id"
                                                                    : "''";
  constexpr std::string_view kCharged =
      "CASE WHEN status <> 'open' THEN settled_credits ELSE 0 END";
  constexpr std::string_view kChargedMicros =
      "CASE WHEN status <> 'open' THEN settled_micros ELSE 0 END";
  std::string sql = "SELECT " + std::string(key) + " AS k, count(*), " + split_sum("input_tokens") +
                    ", " + split_sum("output_tokens") + ", " + split_sum(kCharged) + ", " +
                    split_sum(kChargedMicros) +
                    " FROM holds WHERE project_id = $1 AND operation IS NOT NULL AND "
                    "status <> 'released' AND created_at_ms >= $2 AND created_at_ms < $3";
  SqlParams params{std::string(project_id), query.from_ms, query.to_ms};
  auto next_param = [&params](SqlValue value) {
    params.push_back(std::move(value));
    return "$" + std::to_string(params.size());
  };
  if (query.user_id) sql += " AND user_id = " + next_param(*query.user_id);
  if (query.group != InvocationGroup::kNone) {
    sql += " GROUP BY k ORDER BY " + split_sum_order(kCharged, "DESC") + ", k LIMIT " +
           next_param(query.limit);
  }
  TG_LEASE(db);
  auto rows = db->query(sql, params);
  if (!rows) return db.mark_broken(), rows.error();
  std::vector<InvocationTotal> totals;
  const SqlRows& r = rows.value();
  for (size_t i = 0; i < r.size(); ++i) {
    InvocationTotal total{r.text(i, 0), r.int64(i, 1)};
    Int128* sums[] = {&total.input_tokens, &total.output_tokens, &total.credits, &total.micros};
    for (size_t s = 0; s < std::size(sums); ++s) {
      auto sum = read_split_sum(r, i, 2 + 2 * s);
      if (!sum) return sum.error();
      *sums[s] = sum.value();
    }
    totals.push_back(std::move(total));
  }
  return totals;
}

Result<Analytics> SqlStore::analytics(std::string_view project_id, int64_t from_ms,
                                      int64_t to_ms, int64_t interval_ms) {
  Analytics analytics;
  {
    TG_LEASE(db);
    // Debits are negative amounts: their sums are negated here, exactly, rather than in SQL
    // (where -amount of the smallest int64 would not fit).
    auto series = db->query(
        "SELECT (created_at_ms / $4) * $4 AS bucket, count(*), " + split_sum("amount") +
            " FROM ledger WHERE project_id = $1 AND kind = 'debit' AND created_at_ms >= $2 "
            "AND created_at_ms < $3 GROUP BY bucket ORDER BY bucket",
        {std::string(project_id), from_ms, to_ms, interval_ms});
    // The most credits first: the smallest (most negative) sum of amounts, high half first.
    auto events = db->query(
        "SELECT event, count(*) AS calls, " + split_sum("amount") +
            " FROM ledger WHERE project_id = $1 AND kind = 'debit' AND created_at_ms >= $2 "
            "AND created_at_ms < $3 GROUP BY event ORDER BY " +
            split_sum_order("amount", "ASC") + ", calls DESC, event LIMIT 10",
        {std::string(project_id), from_ms, to_ms});
    if (!series || !events) return db.mark_broken(), (series ? events.error() : series.error());
    for (size_t r = 0; r < series.value().size(); ++r) {
      auto credits = read_split_sum(series.value(), r, 2);
      if (!credits) return credits.error();
      analytics.series.push_back(
          {series.value().int64(r, 0), series.value().int64(r, 1), -credits.value()});
    }
    for (size_t r = 0; r < events.value().size(); ++r) {
      auto credits = read_split_sum(events.value(), r, 2);
      if (!credits) return credits.error();
      analytics.top_events.push_back(
          {events.value().text(r, 0), events.value().int64(r, 1), -credits.value()});
    }
  }
  InvocationQuery calls{std::nullopt, from_ms, to_ms, InvocationGroup::kOperation, 10};
  auto features = invocation_totals(project_id, calls);
  if (!features) return features.error();
  analytics.top_features = std::move(features.value());
  calls.group = InvocationGroup::kUser;
  auto users = invocation_totals(project_id, calls);
  if (!users) return users.error();
  analytics.top_end_users = std::move(users.value());
  auto stats = account_stats(project_id);
  if (!stats) return stats.error();
  analytics.stats = stats.value();
  return analytics;
}

Result<LedgerAudit> SqlStore::audit(std::string_view project_id) {
  TG_LEASE(db);
  SqlParams project{std::string(project_id)};
  // balance = sum(amount), compared in the two int64 halves of the exact sum, so that no sum
  // leaves int64 in SQL.
  auto [high, low] = split_sum_halves("l.amount");
  auto mismatched = db->query(
      "SELECT a.user_id FROM accounts a LEFT JOIN ledger l "
      "ON l.project_id = a.project_id AND l.user_id = a.user_id WHERE a.project_id = $1 "
      "GROUP BY a.user_id, a.balance HAVING a.balance < 0 OR (a.balance >> 32) <> " +
          high + " OR (a.balance & 4294967295) <> " + low + " ORDER BY a.user_id",
      project);
  auto counts = db->query(
      "SELECT (SELECT count(*) FROM accounts WHERE project_id = $1), "
      "(SELECT count(*) FROM ledger WHERE project_id = $1), "
      "(SELECT count(*) FROM holds WHERE project_id = $1 AND status = 'open')",
      project);
  if (!mismatched || !counts) return db.mark_broken(), (counts ? mismatched.error() : counts.error());
  LedgerAudit audit{counts.value().int64(0, 0), counts.value().int64(0, 1),
                    counts.value().int64(0, 2), {}};
  for (size_t r = 0; r < mismatched.value().size(); ++r)
    audit.mismatched.push_back(mismatched.value().text(r, 0));
  return audit;
}

Result<int64_t> SqlStore::purge_idempotency(int64_t now_ms) {
  TG_LEASE(db);
  auto rows = db->query("DELETE FROM idempotency WHERE created_at_ms < $1 RETURNING key",
                        {now_ms - kIdempotencyRetentionMs});
  if (!rows) return db.mark_broken(), rows.error();
  return static_cast<int64_t>(rows.value().size());
}

// ---- Features ------------------------------------------------------------------------------

namespace {

constexpr std::string_view kOperationColumns =
    "id, project_id, slug, definition, created_at_ms, updated_at_ms";

OperationRecord read_operation(const SqlRows& rows, size_t r) {
  return {rows.text(r, 0), rows.text(r, 1),    rows.text(r, 2),
          rows.text(r, 3), rows.int64(r, 4), rows.int64(r, 5)};
}

}  // namespace

Result<void> SqlStore::create_operation(const OperationRecord& operation) {
  TG_LEASE(db);
  // RETURNING shows whether the row went in; an existing slug leaves nothing written.
  auto rows = db->query(
      "INSERT INTO operations (" + std::string(kOperationColumns) +
          ") VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (project_id, slug) DO NOTHING "
          "RETURNING id",
      {operation.id, operation.project_id, operation.slug, operation.definition,
       operation.created_at_ms, operation.updated_at_ms});
  if (!rows) return db.mark_broken(), rows.error();
  if (rows.value().empty()) {
    return fail(ErrorCode::kConflict, "a feature with slug '" + operation.slug + "' already exists",
                "slug");
  }
  return {};
}

Result<std::optional<OperationRecord>> SqlStore::get_operation(std::string_view project_id,
                                                               std::string_view slug) {
  TG_LEASE(db);
  auto rows = db->query("SELECT " + std::string(kOperationColumns) +
                            " FROM operations WHERE project_id = $1 AND slug = $2",
                        {std::string(project_id), std::string(slug)});
  if (!rows) return db.mark_broken(), rows.error();
  if (rows.value().empty()) return std::optional<OperationRecord>();
  return std::optional<OperationRecord>(read_operation(rows.value(), 0));
}

Result<std::vector<OperationRecord>> SqlStore::list_operations(std::string_view project_id,
                                                               const Page& page) {
  TG_LEASE(db);
  auto rows = db->query("SELECT " + std::string(kOperationColumns) +
                            " FROM operations WHERE project_id = $1 AND slug > $2"
                            " ORDER BY slug LIMIT $3",
                        {std::string(project_id), page.starting_after.value_or(""), page.limit});
  if (!rows) return db.mark_broken(), rows.error();
  std::vector<OperationRecord> operations;
  for (size_t r = 0; r < rows.value().size(); ++r) {
    operations.push_back(read_operation(rows.value(), r));
  }
  return operations;
}

Result<OperationRecord> SqlStore::patch_operation(std::string_view project_id,
                                                  std::string_view slug, int64_t now_ms,
                                                  const OperationPatch& patch) {
  TG_LEASE(db);
  auto failed = [&](const Error& error, bool broken) -> Result<OperationRecord> {
    db->rollback();
    if (broken) db.mark_broken();
    return error;
  };
  if (auto begun = db->begin_write(); !begun) return failed(begun.error(), true);
  auto rows = db->query("SELECT " + std::string(kOperationColumns) +
                            " FROM operations WHERE project_id = $1 AND slug = $2" +
                            std::string(db->for_no_key_update()),
                        {std::string(project_id), std::string(slug)});
  if (!rows) return failed(rows.error(), true);
  if (rows.value().empty()) {
    return failed(fail(ErrorCode::kNotFound, "no feature with slug '" + std::string(slug) + "'",
                       "slug"),
                  false);
  }
  OperationRecord operation = read_operation(rows.value(), 0);
  if (auto patched = patch(operation); !patched) return failed(patched.error(), false);
  operation.updated_at_ms = now_ms;
  auto updated = db->query(
      "UPDATE operations SET definition = $1, updated_at_ms = $2 WHERE id = $3",
      {operation.definition, operation.updated_at_ms, operation.id});
  if (!updated) return failed(updated.error(), true);
  if (auto committed = db->commit(); !committed) return failed(committed.error(), true);
  return operation;
}

Result<bool> SqlStore::delete_operation(std::string_view project_id, std::string_view slug) {
  TG_LEASE(db);
  auto rows = db->query("DELETE FROM operations WHERE project_id = $1 AND slug = $2 RETURNING id",
                        {std::string(project_id), std::string(slug)});
  if (!rows) return db.mark_broken(), rows.error();
  return !rows.value().empty();
}

// ---- Provider credentials --------------------------------------------------------------------

namespace {

constexpr std::string_view kProviderColumns =
    "project_id, name, sealed_key, key_hint, base_url, created_at_ms, updated_at_ms";

ProviderRecord read_provider(const SqlRows& rows, size_t r) {
  return {rows.text(r, 0), rows.text(r, 1),  rows.text(r, 2), rows.text(r, 3),
          rows.text(r, 4), rows.int64(r, 5), rows.int64(r, 6)};
}

}  // namespace

Result<ProviderRecord> SqlStore::put_provider(const ProviderRecord& provider) {
  TG_LEASE(db);
  auto rows = db->query(
      "INSERT INTO providers (" + std::string(kProviderColumns) +
          ") VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (project_id, name) DO UPDATE SET "
          "sealed_key = excluded.sealed_key, key_hint = excluded.key_hint, "
          "base_url = excluded.base_url, updated_at_ms = excluded.updated_at_ms RETURNING " +
          std::string(kProviderColumns),
      {provider.project_id, provider.name, provider.sealed_key, provider.key_hint,
       provider.base_url, provider.created_at_ms, provider.updated_at_ms});
  if (!rows) return db.mark_broken(), rows.error();
  if (rows.value().empty()) {
    return fail(ErrorCode::kStoreUnavailable, "provider " + provider.name + " was not stored");
  }
  return read_provider(rows.value(), 0);
}

Result<std::optional<ProviderRecord>> SqlStore::get_provider(std::string_view project_id,
                                                             std::string_view name) {
  TG_LEASE(db);
  auto rows = db->query("SELECT " + std::string(kProviderColumns) +
                            " FROM providers WHERE project_id = $1 AND name = $2",
                        {std::string(project_id), std::string(name)});
  if (!rows) return db.mark_broken(), rows.error();
  if (rows.value().empty()) return std::optional<ProviderRecord>();
  return std::optional<ProviderRecord>(read_provider(rows.value(), 0));
}

Result<std::vector<ProviderRecord>> SqlStore::list_providers(std::string_view project_id) {
  TG_LEASE(db);
  auto rows = db->query("SELECT " + std::string(kProviderColumns) +
                            " FROM providers WHERE project_id = $1 ORDER BY name",
                        {std::string(project_id)});
  if (!rows) return db.mark_broken(), rows.error();
  std::vector<ProviderRecord> providers;
  for (size_t r = 0; r < rows.value().size(); ++r) providers.push_back(read_provider(rows.value(), r));
  return providers;
}

Result<bool> SqlStore::delete_provider(std::string_view project_id, std::string_view name) {
  TG_LEASE(db);
  auto rows = db->query("DELETE FROM providers WHERE project_id = $1 AND name = $2 RETURNING name",
                        {std::string(project_id), std::string(name)});
  if (!rows) return db.mark_broken(), rows.error();
  return !rows.value().empty();
}

#undef TG_LEASE

}  // namespace tollgate::server
