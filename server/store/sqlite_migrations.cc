// The SQLite schema, as an append-only list of migrations.
#include "server/store/sqlite_store.h"

namespace tollgate::server {

namespace {

constexpr Migration kMigrations[] = {
    {1, "instance",
     R"sql(
       -- One row describing this installation: a stable id for logs and support, and when the
       -- database was first created.
       CREATE TABLE instance (
         id            TEXT PRIMARY KEY,
         created_at_ms INTEGER NOT NULL
       ) STRICT;
       INSERT INTO instance (id, created_at_ms)
         VALUES ('inst_' || lower(hex(randomblob(12))), CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
     )sql"},
};

}  // namespace

std::span<const Migration> sqlite_migrations() { return kMigrations; }

}  // namespace tollgate::server
