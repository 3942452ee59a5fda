#include "server/store/migrations.h"

#include <string>

namespace tollgate::server {
namespace {

// The current time as Unix milliseconds, in each dialect.
constexpr std::string_view kSqliteNowMs =
    "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";
constexpr std::string_view kPostgresNowMs =
    "CAST(extract(epoch from clock_timestamp()) * 1000 AS BIGINT)";

// PostgreSQL: one advisory lock id serialises migrations across processes. It is taken inside
// each migration's transaction and ends with it: a session lock would stay with the server
// connection behind a transaction-pooling proxy (pgbouncer), held for whichever client gets it
// next, and its unlock could land on another connection.
constexpr std::string_view kPostgresMigrationLock = "SELECT pg_advisory_xact_lock(7470115110)";

constexpr std::string_view kSchemaVersionSql = "SELECT max(version) FROM schema_migrations";

// Shared by both dialects except for the integer and sequence spellings, which are substituted:
// INT64 is SQLite INTEGER / PostgreSQL BIGINT, SEQ_PK an auto-increasing 64-bit primary key.
constexpr std::string_view kLedgerSchema = R"sql(
  CREATE TABLE instance (
    id            TEXT PRIMARY KEY,
    created_at_ms INT64 NOT NULL
  ) STRICT_TABLE;

  -- Instance-wide settings, e.g. the admin token's SHA-256.
  CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) STRICT_TABLE;

  CREATE TABLE projects (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    demo                INT64 NOT NULL DEFAULT 0,
    settings            TEXT NOT NULL,           -- JSON: ProjectSettings
    period_start_ms     INT64 NOT NULL DEFAULT 0,
    period_spent_micros INT64 NOT NULL DEFAULT 0,
    held_micros         INT64 NOT NULL DEFAULT 0,
    created_at_ms       INT64 NOT NULL
  ) STRICT_TABLE;

  -- At most one demo project, even when several processes start with --demo at once.
  CREATE UNIQUE INDEX one_demo_project ON projects (demo) WHERE demo = 1;

  -- API keys: only the SHA-256 of the secret is stored.
  CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL REFERENCES projects (id),
    kind          TEXT NOT NULL CHECK (kind IN ('publishable', 'secret')),
    hash          TEXT NOT NULL UNIQUE,
    hint          TEXT NOT NULL,
    created_at_ms INT64 NOT NULL,
    revoked_at_ms INT64
  ) STRICT_TABLE;

  -- One row per end user of a project. The balance is a cache of the sum of the user's ledger
  -- entries, kept in the same transaction; it can never go below zero.
  CREATE TABLE accounts (
    project_id          TEXT NOT NULL REFERENCES projects (id),
    user_id             TEXT NOT NULL,
    plan                TEXT NOT NULL DEFAULT 'free',
    balance             INT64 NOT NULL CHECK (balance >= 0),
    spend_cap_micros    INT64,
    period_start_ms     INT64 NOT NULL,
    period_spent_micros INT64 NOT NULL DEFAULT 0,
    held_micros         INT64 NOT NULL DEFAULT 0 CHECK (held_micros >= 0),
    created_at_ms       INT64 NOT NULL,
    updated_at_ms       INT64 NOT NULL,
    PRIMARY KEY (project_id, user_id)
  ) STRICT_TABLE;

  -- Append-only: every change to a balance.
  CREATE TABLE ledger (
    seq           SEQ_PK,
    project_id    TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    kind          TEXT NOT NULL,
    amount        INT64 NOT NULL,
    balance_after INT64 NOT NULL CHECK (balance_after >= 0),
    event         TEXT,
    reason        TEXT,
    hold_id       TEXT,
    created_at_ms INT64 NOT NULL,
    FOREIGN KEY (project_id, user_id) REFERENCES accounts (project_id, user_id)
  ) STRICT_TABLE;
  CREATE INDEX ledger_by_user ON ledger (project_id, user_id, seq);
  CREATE INDEX ledger_by_time ON ledger (project_id, created_at_ms);

  CREATE TABLE holds (
    id              TEXT PRIMARY KEY,
    project_id      TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    credits         INT64 NOT NULL,
    micros          INT64 NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('open', 'settled', 'released', 'expired')),
    settled_credits INT64 NOT NULL DEFAULT 0,
    settled_micros  INT64 NOT NULL DEFAULT 0,
    expires_at_ms   INT64 NOT NULL,
    created_at_ms   INT64 NOT NULL,
    FOREIGN KEY (project_id, user_id) REFERENCES accounts (project_id, user_id)
  ) STRICT_TABLE;
  CREATE INDEX holds_open_by_expiry ON holds (status, expires_at_ms);

  -- Idempotency-Key records, scoped to the API key that sent them, kept 24 h.
  CREATE TABLE idempotency (
    scope         TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    created_at_ms INT64 NOT NULL,
    PRIMARY KEY (scope, key)
  ) STRICT_TABLE;
  CREATE INDEX idempotency_by_age ON idempotency (created_at_ms);

  -- A stable random id for this installation, for logs and support.
  INSERT INTO instance (id, created_at_ms) VALUES ('inst_' || RANDOM_HEX, NOW_MS);
)sql";

// Version 2: AI features. The definition is JSON text owned by server/features/.
constexpr std::string_view kOperationsSchema = R"sql(
  CREATE TABLE operations (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL REFERENCES projects (id),
    slug          TEXT NOT NULL,
    definition    TEXT NOT NULL,
    created_at_ms INT64 NOT NULL,
    updated_at_ms INT64 NOT NULL,
    UNIQUE (project_id, slug)
  ) STRICT_TABLE;
)sql";

// Version 3: provider credentials, the key sealed by the server (AES-256-GCM).
constexpr std::string_view kProvidersSchema = R"sql(
  CREATE TABLE providers (
    project_id    TEXT NOT NULL REFERENCES projects (id),
    name          TEXT NOT NULL,
    sealed_key    TEXT NOT NULL,
    key_hint      TEXT NOT NULL,
    base_url      TEXT NOT NULL,
    created_at_ms INT64 NOT NULL,
    updated_at_ms INT64 NOT NULL,
    PRIMARY KEY (project_id, name)
  ) STRICT_TABLE;
)sql";

// Version 4: a hold records the AI feature it paid for and the tokens the call used, so holds
// are also the feature's invocation log (limits, /v1/runtime/usage, analytics).
constexpr std::string_view kInvocationsSchema = R"sql(
  ALTER TABLE holds ADD COLUMN operation TEXT;
  ALTER TABLE holds ADD COLUMN input_tokens INT64 NOT NULL DEFAULT 0;
  ALTER TABLE holds ADD COLUMN output_tokens INT64 NOT NULL DEFAULT 0;
  CREATE INDEX holds_by_operation ON holds (project_id, operation, created_at_ms);
  CREATE INDEX holds_by_user ON holds (project_id, user_id, created_at_ms);
)sql";

// Version 5: rolling keys and revoking projects. A rolled key keeps working until its
// expires_at_ms; a revoked project keeps its rows for audit.
constexpr std::string_view kKeyRollingSchema = R"sql(
  ALTER TABLE api_keys ADD COLUMN expires_at_ms INT64;
  ALTER TABLE projects ADD COLUMN revoked_at_ms INT64;
  CREATE INDEX api_keys_by_project ON api_keys (project_id, kind);
)sql";

// Version 6: billing. An account's credits split into the plan's allowance and purchased
// credits (what there was becomes purchased); marks make billing facts take effect once; the
// rest is what Stripe told us, or what a simulated checkout did.
constexpr std::string_view kBillingSchema = R"sql(
  ALTER TABLE accounts ADD COLUMN allowance INT64 NOT NULL DEFAULT 0 CHECK (allowance >= 0);
  ALTER TABLE accounts ADD COLUMN purchased INT64 NOT NULL DEFAULT 0 CHECK (purchased >= 0);
  UPDATE accounts SET purchased = balance;
  ALTER TABLE ledger ADD COLUMN pool TEXT NOT NULL DEFAULT 'purchased'
    CHECK (pool IN ('allowance', 'purchased'));
  ALTER TABLE holds ADD COLUMN allowance_credits INT64 NOT NULL DEFAULT 0;

  -- Permanent: a checkout fulfilled, an invoice's allowance granted, a refund's clawback so far.
  CREATE TABLE ledger_marks (
    project_id    TEXT NOT NULL,
    mark          TEXT NOT NULL,
    value         INT64 NOT NULL,
    created_at_ms INT64 NOT NULL,
    PRIMARY KEY (project_id, mark)
  ) STRICT_TABLE;

  -- A project's Stripe keys, sealed by the server (AES-256-GCM) like provider keys.
  CREATE TABLE stripe_accounts (
    project_id            TEXT PRIMARY KEY REFERENCES projects (id),
    sealed_secret_key     TEXT NOT NULL,
    secret_key_hint       TEXT NOT NULL,
    sealed_webhook_secret TEXT NOT NULL,
    webhook_secret_hint   TEXT NOT NULL,
    created_at_ms         INT64 NOT NULL,
    updated_at_ms         INT64 NOT NULL
  ) STRICT_TABLE;

  -- One Stripe Customer per end user, created once.
  CREATE TABLE stripe_customers (
    project_id    TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    customer_id   TEXT NOT NULL,
    created_at_ms INT64 NOT NULL,
    PRIMARY KEY (project_id, user_id)
  ) STRICT_TABLE;
  CREATE INDEX stripe_customers_by_id ON stripe_customers (project_id, customer_id);

  CREATE TABLE checkouts (
    id              TEXT PRIMARY KEY,
    project_id      TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    product         TEXT NOT NULL,
    product_kind    TEXT NOT NULL CHECK (product_kind IN ('pack', 'plan')),
    credits         INT64 NOT NULL,
    price_micros    INT64 NOT NULL,
    currency        TEXT NOT NULL,
    simulated       INT64 NOT NULL,
    url             TEXT NOT NULL,
    success_url     TEXT NOT NULL,
    cancel_url      TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('open', 'complete', 'expired')),
    payment_status  TEXT NOT NULL,
    payment_intent  TEXT,
    subscription_id TEXT,
    invoice_id      TEXT,
    fulfilled_at_ms INT64,
    created_at_ms   INT64 NOT NULL,
    expires_at_ms   INT64 NOT NULL,
    updated_at_ms   INT64 NOT NULL
  ) STRICT_TABLE;
  CREATE INDEX checkouts_by_payment_intent ON checkouts (project_id, payment_intent);

  CREATE TABLE subscriptions (
    id                    TEXT PRIMARY KEY,
    project_id            TEXT NOT NULL,
    user_id               TEXT NOT NULL,
    customer_id           TEXT NOT NULL,
    plan                  TEXT NOT NULL,
    status                TEXT NOT NULL,
    price_micros          INT64 NOT NULL,
    currency              TEXT NOT NULL,
    plan_interval         TEXT NOT NULL,
    current_period_end_ms INT64 NOT NULL,
    cancel_at_period_end  INT64 NOT NULL,
    state_at              INT64 NOT NULL,
    created_at_ms         INT64 NOT NULL,
    updated_at_ms         INT64 NOT NULL
  ) STRICT_TABLE;
  CREATE INDEX subscriptions_by_user ON subscriptions (project_id, user_id);

  -- Every Stripe event received, kept: an event id takes effect once.
  CREATE TABLE stripe_events (
    project_id     TEXT NOT NULL,
    event_id       TEXT NOT NULL,
    type           TEXT NOT NULL,
    created        INT64 NOT NULL,
    outcome        TEXT NOT NULL,
    received_at_ms INT64 NOT NULL,
    PRIMARY KEY (project_id, event_id)
  ) STRICT_TABLE;
  CREATE INDEX stripe_events_by_time ON stripe_events (project_id, received_at_ms);

  -- Money received: a fulfilled purchase or a paid invoice, once each.
  CREATE TABLE revenue (
    project_id    TEXT NOT NULL,
    source_id     TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    product       TEXT NOT NULL,
    amount_micros INT64 NOT NULL,
    currency      TEXT NOT NULL,
    created_at_ms INT64 NOT NULL,
    PRIMARY KEY (project_id, source_id)
  ) STRICT_TABLE;
  CREATE INDEX revenue_by_time ON revenue (project_id, created_at_ms);
)sql";

// Version 7: user keys for the gateway. A key's spend counters sit on its row and change only in
// the ledger batch, with the holds that name it; key_credits records each raise of a key's cap.
constexpr std::string_view kUserKeysSchema = R"sql(
  CREATE TABLE user_keys (
    id                     TEXT PRIMARY KEY,
    project_id             TEXT NOT NULL REFERENCES projects (id),
    user_id                TEXT NOT NULL,
    name                   TEXT NOT NULL,
    hash                   TEXT NOT NULL UNIQUE,
    start                  TEXT NOT NULL,
    previous_hash          TEXT UNIQUE,
    previous_expires_at_ms INT64,
    spend_cap_micros       INT64 CHECK (spend_cap_micros >= 0),
    cap_period             TEXT NOT NULL CHECK (cap_period IN ('day', 'week', 'month', 'total')),
    models                 TEXT NOT NULL,
    metadata               TEXT NOT NULL,
    expires_at_ms          INT64,
    revoked_at_ms          INT64,
    period_start_ms        INT64 NOT NULL,
    period_spent_micros    INT64 NOT NULL DEFAULT 0 CHECK (period_spent_micros >= 0),
    period_credit_micros   INT64 NOT NULL DEFAULT 0 CHECK (period_credit_micros >= 0),
    held_micros            INT64 NOT NULL DEFAULT 0 CHECK (held_micros >= 0),
    lifetime_micros        INT64 NOT NULL DEFAULT 0 CHECK (lifetime_micros >= 0),
    created_at_ms          INT64 NOT NULL,
    updated_at_ms          INT64 NOT NULL
  ) STRICT_TABLE;
  CREATE INDEX user_keys_by_user ON user_keys (project_id, user_id, id);

  CREATE TABLE key_credits (
    seq             SEQ_PK,
    project_id      TEXT NOT NULL,
    key_id          TEXT NOT NULL REFERENCES user_keys (id),
    micros          INT64 NOT NULL CHECK (micros > 0),
    reason          TEXT NOT NULL,
    period_start_ms INT64 NOT NULL,
    created_at_ms   INT64 NOT NULL
  ) STRICT_TABLE;
  CREATE INDEX key_credits_by_key ON key_credits (key_id, seq);

  ALTER TABLE holds ADD COLUMN key_id TEXT;
  ALTER TABLE holds ADD COLUMN model TEXT;
  -- Gateway usage reads a project's keyed holds by time; only they pay for this index.
  CREATE INDEX holds_keyed_by_time ON holds (project_id, created_at_ms) WHERE key_id IS NOT NULL;
)sql";

std::string dialect_schema(std::string_view schema, SqlDialect dialect) {
  std::string sql(schema);
  auto replace_all = [&sql](std::string_view from, std::string_view to) {
    for (size_t at = sql.find(from); at != std::string::npos; at = sql.find(from, at + to.size()))
      sql.replace(at, from.size(), to);
  };
  bool sqlite = dialect == SqlDialect::kSqlite;
  replace_all("SEQ_PK", sqlite ? "INTEGER PRIMARY KEY AUTOINCREMENT" : "BIGSERIAL PRIMARY KEY");
  replace_all("INT64", sqlite ? "INTEGER" : "BIGINT");
  replace_all("STRICT_TABLE", sqlite ? "STRICT" : "");
  replace_all("RANDOM_HEX",
              sqlite ? "lower(hex(randomblob(12)))" : "substr(md5(random()::text), 1, 24)");
  replace_all("NOW_MS", sqlite ? kSqliteNowMs : kPostgresNowMs);
  return sql;
}

const std::string kLedgerSqlite = dialect_schema(kLedgerSchema, SqlDialect::kSqlite);
const std::string kLedgerPostgres = dialect_schema(kLedgerSchema, SqlDialect::kPostgres);
const std::string kOperationsSqlite = dialect_schema(kOperationsSchema, SqlDialect::kSqlite);
const std::string kOperationsPostgres = dialect_schema(kOperationsSchema, SqlDialect::kPostgres);

const std::string kProvidersSqlite = dialect_schema(kProvidersSchema, SqlDialect::kSqlite);
const std::string kProvidersPostgres = dialect_schema(kProvidersSchema, SqlDialect::kPostgres);

const std::string kInvocationsSqlite = dialect_schema(kInvocationsSchema, SqlDialect::kSqlite);
const std::string kInvocationsPostgres = dialect_schema(kInvocationsSchema, SqlDialect::kPostgres);

const std::string kKeyRollingSqlite = dialect_schema(kKeyRollingSchema, SqlDialect::kSqlite);
const std::string kKeyRollingPostgres = dialect_schema(kKeyRollingSchema, SqlDialect::kPostgres);

const std::string kBillingSqlite = dialect_schema(kBillingSchema, SqlDialect::kSqlite);
const std::string kBillingPostgres = dialect_schema(kBillingSchema, SqlDialect::kPostgres);

const std::string kUserKeysSqlite = dialect_schema(kUserKeysSchema, SqlDialect::kSqlite);
const std::string kUserKeysPostgres = dialect_schema(kUserKeysSchema, SqlDialect::kPostgres);

const Migration kSqliteMigrations[] = {
    {1, "ledger", kLedgerSqlite},          {2, "operations", kOperationsSqlite},
    {3, "providers", kProvidersSqlite},    {4, "invocations", kInvocationsSqlite},
    {5, "key_rolling", kKeyRollingSqlite}, {6, "billing", kBillingSqlite},
    {7, "user_keys", kUserKeysSqlite}};
const Migration kPostgresMigrations[] = {
    {1, "ledger", kLedgerPostgres},          {2, "operations", kOperationsPostgres},
    {3, "providers", kProvidersPostgres},    {4, "invocations", kInvocationsPostgres},
    {5, "key_rolling", kKeyRollingPostgres}, {6, "billing", kBillingPostgres},
    {7, "user_keys", kUserKeysPostgres}};

Result<int64_t> checked_version(SqlConnection& connection, int64_t newest) {
  auto current = applied_version(connection);
  if (!current) return current;
  if (current.value() > newest) {
    return fail(ErrorCode::kStoreUnavailable, "database schema version " +
                                                  std::to_string(current.value()) +
                                                  " is newer than this tollgate understands (" +
                                                  std::to_string(newest) + "); upgrade tollgate");
  }
  return current;
}

// A write transaction that, on PostgreSQL, also holds the migration lock until it ends.
Result<void> begin_migration(SqlConnection& connection) {
  if (auto begun = connection.begin_write(); !begun) return begun;
  if (connection.dialect() != SqlDialect::kPostgres) return {};
  if (auto locked = connection.query(kPostgresMigrationLock); !locked) return locked.error();
  return {};
}

Result<void> apply_one(SqlConnection& connection, const Migration& migration, int64_t newest) {
  if (auto begun = begin_migration(connection); !begun) return begun;
  auto current = checked_version(connection, newest);
  if (!current) return current.error();
  if (migration.version > current.value()) {
    if (auto applied = connection.exec_script(migration.sql); !applied) {
      return fail(ErrorCode::kStoreUnavailable, "migration " + std::to_string(migration.version) +
                                                    ": " + applied.error().message);
    }
    bool sqlite = connection.dialect() == SqlDialect::kSqlite;
    std::string record =
        "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES ($1, $2, " +
        std::string(sqlite ? kSqliteNowMs : kPostgresNowMs) + ")";
    auto recorded = connection.query(record, {migration.version, std::string(migration.name)});
    if (!recorded) return recorded.error();
  }
  return connection.commit();
}

}  // namespace

std::span<const Migration> migrations_for(SqlDialect dialect) {
  if (dialect == SqlDialect::kSqlite) return kSqliteMigrations;
  return kPostgresMigrations;
}

Result<int64_t> applied_version(SqlConnection& connection) {
  auto rows = connection.query(kSchemaVersionSql);
  if (!rows) return rows.error();
  return rows.value().empty() ? 0 : rows.value().int64(0, 0);
}

Result<void> migrate(SqlConnection& connection, std::span<const Migration> migrations) {
  bool postgres = connection.dialect() == SqlDialect::kPostgres;
  // Under the lock too: two processes creating the table at once would otherwise collide.
  auto created = [&]() -> Result<void> {
    if (auto begun = begin_migration(connection); !begun) return begun;
    auto table = connection.exec_script(
        std::string("CREATE TABLE IF NOT EXISTS schema_migrations (version ") +
        (postgres ? "BIGINT" : "INTEGER") + " PRIMARY KEY, name TEXT NOT NULL, applied_at_ms " +
        (postgres ? "BIGINT" : "INTEGER") + " NOT NULL)" + (postgres ? "" : " STRICT"));
    if (!table) return table;
    return connection.commit();
  }();
  if (!created) {
    connection.rollback();
    // The first write: failing here means the database is not writable.
    Error error = created.error();
    error.code = postgres ? ErrorCode::kStoreUnavailable : ErrorCode::kIoError;
    error.param = postgres ? "DATABASE_URL" : "--data-dir";
    return error;
  }
  int64_t newest = migrations.empty() ? 0 : migrations.back().version;
  if (auto current = checked_version(connection, newest); !current) return current.error();
  for (const Migration& migration : migrations) {
    if (auto applied = apply_one(connection, migration, newest); !applied) {
      connection.rollback();
      return applied;
    }
  }
  return {};
}

}  // namespace tollgate::server
