#include "server/store/store.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "server/config/data_dir.h"
#include "server/store/pg_connection.h"
#include "server/store/sql_store.h"
#include "server/store/sqlite_connection.h"

namespace tollgate::server {
namespace {

// PostgreSQL connections per process: one per ledger writer (kPostgresLedgerPartitions) plus
// as many for concurrent reads.
constexpr size_t kPostgresPoolSize = 8;
constexpr size_t kSqlitePoolSize = 2;

// A pool of `size` connections of type C, each opened with C::open(target).
template <typename C>
Result<std::unique_ptr<Store>> open_pool(std::string target, size_t size) {
  auto store = SqlStore::open(
      [target]() -> Result<std::unique_ptr<SqlConnection>> {
        auto connection = C::open(target);
        if (!connection) return connection.error();
        return std::unique_ptr<SqlConnection>(std::move(connection).value());
      },
      size);
  if (!store) return store.error();
  return std::unique_ptr<Store>(std::move(store).value());
}

}  // namespace

std::string_view pool_name(Pool pool) {
  return pool == Pool::kAllowance ? "allowance" : "purchased";
}

std::optional<Pool> parse_pool(std::string_view name) {
  if (name == "allowance") return Pool::kAllowance;
  if (name == "purchased") return Pool::kPurchased;
  return std::nullopt;
}

std::string_view cap_period_name(CapPeriod period) {
  switch (period) {
    case CapPeriod::kDay:
      return "day";
    case CapPeriod::kWeek:
      return "week";
    case CapPeriod::kMonth:
      return "month";
    case CapPeriod::kTotal:
      return "total";
  }
  return "month";
}

std::optional<CapPeriod> parse_cap_period(std::string_view name) {
  for (CapPeriod period : {CapPeriod::kDay, CapPeriod::kWeek, CapPeriod::kMonth, CapPeriod::kTotal})
    if (cap_period_name(period) == name) return period;
  return std::nullopt;
}

std::optional<int64_t> key_remaining_micros(const UserKey& key) {
  if (!key.spend_cap_micros) return std::nullopt;
  const KeySpend& s = key.spend;
  Int128 left = Int128(*key.spend_cap_micros) + s.period_credit_micros - s.period_spent_micros -
                s.held_micros;
  if (left < 0) return 0;
  return left > INT64_MAX ? INT64_MAX : static_cast<int64_t>(left);
}

std::string entry_id(int64_t seq) { return "le_" + std::to_string(seq); }

std::optional<int64_t> parse_entry_id(std::string_view id) {
  constexpr std::string_view kPrefix = "le_";
  constexpr size_t kDigitsMax = 18;  // stays below INT64_MAX
  std::string_view digits = id.substr(std::min(id.size(), kPrefix.size()));
  if (id.substr(0, kPrefix.size()) != kPrefix || digits.empty() || digits.size() > kDigitsMax)
    return std::nullopt;
  int64_t seq = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    seq = seq * 10 + (c - '0');
  }
  return seq;
}

std::string int128_decimal(Int128 value) {
  // Digits of the magnitude, built from the last; unsigned so that the minimum value negates.
  __extension__ typedef unsigned __int128 Uint128;
  Uint128 magnitude = value < 0 ? Uint128(0) - Uint128(value) : Uint128(value);
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(magnitude % 10)));
    magnitude /= 10;
  } while (magnitude != 0);
  return value < 0 ? "-" + digits : digits;
}

std::optional<Int128> parse_int128(std::string_view text) {
  bool negative = !text.empty() && text.front() == '-';
  std::string_view digits = text.substr(negative ? 1 : 0);
  if (digits.empty()) return std::nullopt;
  // Accumulated negatively: the negative range is one larger, so the minimum parses too.
  constexpr Int128 kMin = Int128(-1) - (((Int128(1) << 126) - 1) << 1) - 1;
  Int128 value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    int digit = c - '0';
    if (value < (kMin + digit) / 10) return std::nullopt;
    value = value * 10 - digit;
  }
  if (negative) return value;
  if (value == kMin) return std::nullopt;
  return -value;
}

Result<std::unique_ptr<Store>> open_store(const StoreOptions& options) {
  if (!options.database_url.empty()) {
    return open_pool<PgConnection>(options.database_url, kPostgresPoolSize);
  }
  namespace fs = std::filesystem;
  // Made private here too, for callers other than `tollgate serve` (which logs what it changed).
  if (auto secured = secure_data_dir(options.data_dir); !secured) return secured.error();
  std::string path = (fs::path(options.data_dir) / "tollgate.db").string();
  // Two connections: WAL lets a reader run beside the ledger writer, and BEGIN IMMEDIATE keeps
  // writes to one at a time.
  return open_pool<SqliteConnection>(path, kSqlitePoolSize);
}

}  // namespace tollgate::server
