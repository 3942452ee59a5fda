// The schema, as an append-only list of migrations per dialect. Versions start at 1 and increase
// by one; an applied migration is never edited. Both dialects have the same versions, tables and
// columns.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "server/store/sql.h"

namespace tollgate::server {

struct Migration {
  int64_t version;
  std::string_view name;
  std::string_view sql;
};

std::span<const Migration> migrations_for(SqlDialect dialect);

// Applies pending migrations, each in its own write transaction that re-reads the version first,
// so processes starting together on one database apply each exactly once. Refuses a database
// whose schema is newer than the newest migration given.
Result<void> migrate(SqlConnection& connection, std::span<const Migration> migrations);

// The highest migration applied (0 for none).
Result<int64_t> applied_version(SqlConnection& connection);

}  // namespace tollgate::server
