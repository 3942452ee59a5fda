#include "server/store/pg_connection.h"

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <pqxx/pqxx>
#include <set>
#include <thread>

namespace tollgate::server {
namespace {

// Seconds libpq waits for a connection; every statement is bounded by kStatementTimeoutMs.
constexpr int kConnectTimeoutS = 5;
constexpr int kStatementTimeoutMs = 10'000;

// SQLSTATE classes worth retrying the whole transaction for: serialization failure (40001) and
// deadlock (40P01).
bool retryable_state(const std::string& state) { return state == "40001" || state == "40P01"; }

// Adds connect_timeout to the URL unless the caller set one.
std::string with_timeouts(const std::string& url) {
  if (url.find("connect_timeout") != std::string::npos) return url;
  bool is_uri = url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0;
  std::string timeout = "connect_timeout=" + std::to_string(kConnectTimeoutS);
  if (!is_uri) return url + " " + timeout;
  return url + (url.find('?') == std::string::npos ? "?" : "&") + timeout;
}

// statement_timeout is enforced by the server, so a server that stops answering altogether
// (frozen, or cut off by the network) would leave a call blocked in libpq for good, and the
// caller waiting instead of getting a 503. A watchdog thread shuts the socket of any call still
// running kClientDeadline after it started, which fails that call at once.
constexpr std::chrono::milliseconds kClientDeadline{kStatementTimeoutMs + 5'000};
constexpr std::chrono::milliseconds kWatchdogTick{250};

int64_t steady_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

struct WatchedCall {
  std::atomic<int64_t> deadline_ms{0};  // 0: no call running
  int fd = -1;
};

class Watchdog {
 public:
  // Never destroyed: connections may outlive static destruction order at exit.
  static Watchdog& instance() {
    static Watchdog* watchdog = new Watchdog();
    return *watchdog;
  }
  void add(WatchedCall* call) {
    std::lock_guard lock(mutex_);
    calls_.insert(call);
  }
  void remove(WatchedCall* call) {
    std::lock_guard lock(mutex_);
    calls_.erase(call);
  }

 private:
  Watchdog() {
    std::thread([this] {
      while (true) {
        std::this_thread::sleep_for(kWatchdogTick);
        int64_t now = steady_ms();
        std::lock_guard lock(mutex_);
        for (WatchedCall* call : calls_) {
          int64_t deadline = call->deadline_ms.load();
          if (deadline != 0 && now > deadline && call->fd >= 0) ::shutdown(call->fd, SHUT_RDWR);
        }
      }
    }).detach();
  }
  std::mutex mutex_;
  std::set<WatchedCall*> calls_;
};

// Marks a call as running for the watchdog while it is in scope.
class CallDeadline {
 public:
  explicit CallDeadline(WatchedCall& call) : call_(call) {
    call_.deadline_ms.store(steady_ms() + kClientDeadline.count());
  }
  ~CallDeadline() { call_.deadline_ms.store(0); }

 private:
  WatchedCall& call_;
};

SqlRows rows_of(const pqxx::result& result) {
  size_t columns = static_cast<size_t>(result.columns());
  std::vector<SqlValue> cells;
  cells.reserve(result.size() * columns);
  for (const auto& row : result) {
    for (const auto& field : row) {
      if (field.is_null()) {
        cells.emplace_back(nullptr);
      } else {
        cells.emplace_back(std::string(field.c_str(), field.size()));
      }
    }
  }
  return SqlRows(columns, std::move(cells));
}

}  // namespace

// Statements prepared per connection: planning a statement costs as much as running it, and the
// store's statements are fixed texts. Bounded against a caller building SQL per request.
constexpr size_t kPreparedStatementsMax = 256;

struct PgConnection::State {
  explicit State(const std::string& url) : connection(url), work(connection) {
    // A dropped session must fail, not reconnect silently mid-transaction with fresh settings:
    // the store then replaces the whole connection.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    connection.inhibit_reactivation(true);
#pragma GCC diagnostic pop
    call.fd = connection.sock();
    Watchdog::instance().add(&call);
  }
  ~State() { Watchdog::instance().remove(&call); }
  pqxx::connection connection;
  pqxx::nontransaction work;  // autocommit; BEGIN/COMMIT arrive as statements
  std::map<std::string, std::string, std::less<>> prepared;  // SQL text -> statement name
  WatchedCall call;
};

PgConnection::PgConnection(std::unique_ptr<State> state) : state_(std::move(state)) {}
PgConnection::~PgConnection() = default;

Error PgConnection::failure(std::string_view what) {
  std::string prefix = std::string(what) + ": ";
  try {
    throw;
  } catch (const pqxx::deadlock_detected& e) {
    // libpqxx 6 derives these two from transaction_rollback, not sql_error.
    retryable_ = true;
    return fail(ErrorCode::kStoreUnavailable, prefix + e.what());
  } catch (const pqxx::serialization_failure& e) {
    retryable_ = true;
    return fail(ErrorCode::kStoreUnavailable, prefix + e.what());
  } catch (const pqxx::sql_error& e) {
    retryable_ = retryable_state(e.sqlstate());
    return fail(ErrorCode::kStoreUnavailable, prefix + e.what());
  } catch (const std::exception& e) {
    return fail(ErrorCode::kStoreUnavailable, prefix + e.what());
  }
}

Result<std::unique_ptr<PgConnection>> PgConnection::open(const std::string& url) {
  try {
    auto state = std::make_unique<State>(with_timeouts(url));
    state->work.exec("SET statement_timeout = " + std::to_string(kStatementTimeoutMs));
    // Plan each execution with its actual parameters: a generic plan cannot see how short a
    // batch's user list is, and would scan whole tables instead of using their keys.
    state->work.exec("SET plan_cache_mode = force_custom_plan");
    // query_after() inlines text as '…' literals, escaped for this setting.
    state->work.exec("SET standard_conforming_strings = on");
    return std::unique_ptr<PgConnection>(new PgConnection(std::move(state)));
  } catch (const std::exception& e) {
    // The message names host and port, never the password: libpq does not echo it.
    return fail(ErrorCode::kStoreUnavailable,
                std::string("cannot connect to PostgreSQL: ") + e.what(), "DATABASE_URL");
  }
}

Result<SqlRows> PgConnection::query(std::string_view sql, const SqlParams& params) {
  retryable_ = false;
  std::vector<std::optional<std::string>> values;
  values.reserve(params.size());
  for (const SqlValue& param : params) {
    if (const auto* number = std::get_if<int64_t>(&param)) {
      values.emplace_back(std::to_string(*number));
    } else if (const auto* text = std::get_if<std::string>(&param)) {
      values.emplace_back(*text);
    } else {
      values.emplace_back(std::nullopt);
    }
  }
  CallDeadline deadline(state_->call);
  try {
    auto found = state_->prepared.find(sql);
    if (found == state_->prepared.end() && state_->prepared.size() < kPreparedStatementsMax) {
      std::string name = "tg" + std::to_string(state_->prepared.size());
      state_->connection.prepare(name, std::string(sql));
      found = state_->prepared.emplace(std::string(sql), name).first;
    }
    pqxx::result result =
        found != state_->prepared.end()
            ? state_->work.exec_prepared(found->second, pqxx::prepare::make_dynamic_params(values))
            : state_->work.exec_params(std::string(sql), pqxx::prepare::make_dynamic_params(values));
    return rows_of(result);
  } catch (...) {
    return failure("query");
  }
}

Result<void> PgConnection::exec_script(std::string_view sql) {
  retryable_ = false;
  CallDeadline deadline(state_->call);
  try {
    state_->work.exec(std::string(sql));
    return {};
  } catch (...) {
    return failure("script");
  }
}

std::string PgConnection::inlined(std::string_view sql, const SqlParams& params) {
  std::string out;
  out.reserve(sql.size());
  for (size_t i = 0; i < sql.size(); ++i) {
    size_t digits = i + 1;  // one past the placeholder's last digit
    if (sql[i] == '$') {
      while (digits < sql.size() && sql[digits] >= '0' && sql[digits] <= '9') ++digits;
    }
    if (digits == i + 1) {
      out += sql[i];
      continue;
    }
    size_t index = std::stoul(std::string(sql.substr(i + 1, digits - i - 1)));
    require(index >= 1 && index <= params.size());
    const SqlValue& value = params[index - 1];
    if (const auto* number = std::get_if<int64_t>(&value)) {
      out += '(';
      out += std::to_string(*number);
      out += ')';
    } else if (const auto* text = std::get_if<std::string>(&value)) {
      // PQescapeStringConn under standard_conforming_strings (on since PostgreSQL 9.1).
      out += '\'';
      out += state_->connection.esc(*text);
      out += '\'';
    } else {
      out += "NULL";
    }
    i = digits - 1;
  }
  return out;
}

Result<SqlRows> PgConnection::query_after(std::span<const SqlStatement> before,
                                          std::string_view sql, const SqlParams& params) {
  retryable_ = false;
  CallDeadline deadline(state_->call);
  try {
    std::string script;
    for (const SqlStatement& statement : before) {
      script += inlined(statement.sql, statement.params);
      script += ";\n";
    }
    script += inlined(sql, params);
    // A script answers with the result of its last statement.
    return rows_of(state_->work.exec(script));
  } catch (...) {
    return failure("query");
  }
}

}  // namespace tollgate::server
