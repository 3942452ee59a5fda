// Store: where Tollgate keeps its durable state. One interface, one implementation per database
// (SQLite now; PostgreSQL joins it behind the same interface). Handlers never see SQL.
//
// Implementations are thread-safe. Every call that cannot reach the database returns
// kStoreUnavailable so callers fail closed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "tollgate/core/result.h"

namespace tollgate::server {

class Store {
 public:
  virtual ~Store() = default;

  // "sqlite" or "postgres"; reported by /healthz.
  virtual std::string_view kind() const = 0;

  // The highest migration applied.
  virtual Result<int64_t> schema_version() = 0;

  // A round trip to the database; kStoreUnavailable when it does not answer.
  virtual Result<void> ping() = 0;
};

struct StoreOptions {
  std::string data_dir;  // SQLite: the database lives at <data_dir>/tollgate.db
};

// Creates the data directory if needed, opens the database and applies pending migrations.
// kIoError (param "--data-dir") when the directory or database cannot be created or written.
Result<std::unique_ptr<Store>> open_store(const StoreOptions& options);

}  // namespace tollgate::server
