#include "server/store/pg_connection.h"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

namespace tollgate::server {
namespace {

// Sets the statement timeout for the rest of the transaction that this statement starts (an
// explicit one when BEGIN follows in the same round trip, else the implicit one that lasts up to
// the round trip's sync point).
const std::string kLocalStatementTimeout =
    "SELECT set_config('statement_timeout', '" + std::to_string(kStatementTimeoutMs) + "', true)";

// SQLSTATEs worth retrying the whole transaction for: serialization failure and deadlock.
bool retryable_state(const char* state) {
  return state != nullptr && (std::strcmp(state, "40001") == 0 || std::strcmp(state, "40P01") == 0);
}

// Adds connect_timeout to the URL unless the caller set one.
std::string with_timeouts(const std::string& url) {
  if (url.find("connect_timeout") != std::string::npos) return url;
  bool is_uri = url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0;
  std::string timeout = "connect_timeout=" + std::to_string(kPostgresConnectTimeoutS);
  if (!is_uri) return url + " " + timeout;
  return url + (url.find('?') == std::string::npos ? "?" : "&") + timeout;
}

int64_t steady_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

// libpq's messages end in a newline and may span lines ("ERROR:  …\nDETAIL:  …"); one line reads
// better in a log field and an error body.
std::string one_line(const char* message) {
  std::string text = message == nullptr ? "" : message;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  for (char& c : text) {
    if (c == '\n') c = ' ';
  }
  return text;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decoded(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
        hex_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

// The password as the URL spells it: in the userinfo of a postgres:// URI, or a password=
// keyword that libpq can parse.
std::vector<std::string> passwords_in(const std::string& url) {
  std::vector<std::string> found;
  for (std::string_view scheme : {"postgresql://", "postgres://"}) {
    if (url.rfind(scheme, 0) != 0) continue;
    std::string_view rest = std::string_view(url).substr(scheme.size());
    std::string_view authority = rest.substr(0, rest.find_first_of("/?"));
    size_t at = authority.rfind('@');
    if (at == std::string_view::npos) break;
    std::string_view userinfo = authority.substr(0, at);
    size_t colon = userinfo.find(':');
    if (colon != std::string_view::npos) found.emplace_back(userinfo.substr(colon + 1));
    break;
  }
  char* error = nullptr;
  if (PQconninfoOption* options = PQconninfoParse(url.c_str(), &error)) {
    for (PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
      if (std::strcmp(option->keyword, "password") == 0 && option->val != nullptr)
        found.emplace_back(option->val);
    }
    PQconninfoFree(options);
  }
  if (error != nullptr) PQfreemem(error);
  // A password=… keyword in the URI's query string, which the parse above misses when it fails.
  for (size_t at = url.find("password="); at != std::string::npos;
       at = url.find("password=", at + 1)) {
    size_t start = at + std::strlen("password=");
    found.push_back(url.substr(start, url.find_first_of("& ", start) - start));
  }
  size_t count = found.size();
  for (size_t i = 0; i < count; ++i) found.push_back(percent_decoded(found[i]));
  return found;
}

SqlRows rows_of(const PGresult* result) {
  int rows = PQntuples(result);
  int columns = PQnfields(result);
  std::vector<SqlValue> cells;
  cells.reserve(static_cast<size_t>(rows) * static_cast<size_t>(columns));
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < columns; ++c) {
      if (PQgetisnull(result, r, c)) {
        cells.emplace_back(nullptr);
      } else {
        cells.emplace_back(
            std::string(PQgetvalue(result, r, c), static_cast<size_t>(PQgetlength(result, r, c))));
      }
    }
  }
  return SqlRows(static_cast<size_t>(columns), std::move(cells));
}

// Notices (e.g. "there is no transaction in progress" from a ROLLBACK after a failed BEGIN)
// would otherwise go to stderr; they carry nothing the store acts on.
void ignore_notice(void*, const char*) {}

// Parameters in libpq's text format. Owns the text of the numbers.
class BoundParams {
 public:
  void bind(const SqlParams& params) {
    numbers_.clear();
    numbers_.reserve(params.size());
    values_.clear();
    for (const SqlValue& param : params) {
      if (const auto* number = std::get_if<int64_t>(&param)) {
        numbers_.push_back(std::to_string(*number));
        values_.push_back(numbers_.back().c_str());
      } else if (const auto* text = std::get_if<std::string>(&param)) {
        values_.push_back(text->c_str());
      } else {
        values_.push_back(nullptr);
      }
    }
  }
  int size() const { return static_cast<int>(values_.size()); }
  const char* const* values() const { return values_.data(); }

 private:
  std::vector<std::string> numbers_;  // reserved up front: pointers into it stay valid
  std::vector<const char*> values_;
};

}  // namespace

std::string mask_password(std::string message, const std::string& url) {
  for (const std::string& password : passwords_in(url)) {
    if (password.empty()) continue;
    for (size_t at = message.find(password); at != std::string::npos;
         at = message.find(password, at + 1)) {
      message.replace(at, password.size(), "[password]");
    }
  }
  return message;
}

PgConnection::PgConnection(pg_conn* connection, std::string url)
    : connection_(connection), url_(std::move(url)) {}

PgConnection::~PgConnection() { PQfinish(connection_); }

Result<std::unique_ptr<PgConnection>> PgConnection::open(const std::string& url) {
  PGconn* connection = PQconnectdb(with_timeouts(url).c_str());
  if (connection == nullptr) {
    return fail(ErrorCode::kStoreUnavailable, "cannot connect to PostgreSQL: out of memory",
                "DATABASE_URL");
  }
  if (PQstatus(connection) != CONNECTION_OK) {
    std::string why = mask_password(one_line(PQerrorMessage(connection)), url);
    PQfinish(connection);
    return fail(ErrorCode::kStoreUnavailable, "cannot connect to PostgreSQL: " + why,
                "DATABASE_URL");
  }
  PQsetNoticeProcessor(connection, ignore_notice, nullptr);
  // Non-blocking, so that await_result() can both send and receive while it waits, and give up
  // at the client deadline.
  if (PQsetnonblocking(connection, 1) != 0) {
    std::string why = mask_password(one_line(PQerrorMessage(connection)), url);
    PQfinish(connection);
    return fail(ErrorCode::kStoreUnavailable, "cannot connect to PostgreSQL: " + why,
                "DATABASE_URL");
  }
  return std::unique_ptr<PgConnection>(new PgConnection(connection, url));
}

std::string PgConnection::masked(std::string message) const {
  return mask_password(std::move(message), url_);
}

Error PgConnection::dead(std::string why) {
  if (dead_.empty()) dead_ = masked(std::move(why));
  return fail(ErrorCode::kStoreUnavailable, "query: " + dead_);
}

Result<void> PgConnection::await_result(int64_t deadline_ms) {
  while (true) {
    int flushed = PQflush(connection_);  // 0: all sent, 1: more to send
    if (flushed < 0) return dead(one_line(PQerrorMessage(connection_)));
    if (!PQisBusy(connection_)) return {};
    int64_t left_ms = deadline_ms - steady_ms();
    if (left_ms <= 0) {
      return dead("the database did not answer within " + std::to_string(kClientDeadlineMs) +
                  " ms; the connection is closed");
    }
    pollfd socket{PQsocket(connection_), static_cast<short>(POLLIN | (flushed ? POLLOUT : 0)), 0};
    int ready = ::poll(&socket, 1, static_cast<int>(left_ms));
    if (ready < 0 && errno != EINTR) return dead(std::string("poll: ") + std::strerror(errno));
    if (ready > 0 && (socket.revents & (POLLIN | POLLERR | POLLHUP)) != 0 &&
        !PQconsumeInput(connection_)) {
      return dead(one_line(PQerrorMessage(connection_)));
    }
  }
}

Result<SqlRows> PgConnection::query(std::string_view sql, const SqlParams& params) {
  return pipeline({}, sql, params);
}

Result<SqlRows> PgConnection::query_after(std::span<const SqlStatement> before,
                                          std::string_view sql, const SqlParams& params) {
  return pipeline(before, sql, params);
}

// One round trip: [the statement timeout when no transaction is open,] `before`…, `sql`, then a
// sync point. After the first failing statement the server skips the rest up to the sync point
// (libpq reports them as PGRES_PIPELINE_ABORTED); an implicit transaction is then rolled back,
// an explicit one is left failed for the caller's ROLLBACK.
Result<SqlRows> PgConnection::pipeline(std::span<const SqlStatement> before, std::string_view sql,
                                       const SqlParams& params) {
  retryable_ = false;
  if (!dead_.empty()) return fail(ErrorCode::kStoreUnavailable, "query: " + dead_);
  // libpq's text format ends a value at a NUL byte, and PostgreSQL text cannot hold one: refuse
  // such a value before anything is queued, rather than store it cut short.
  auto holds_nul = [](const SqlParams& values) {
    return std::any_of(values.begin(), values.end(), [](const SqlValue& value) {
      const auto* text = std::get_if<std::string>(&value);
      return text != nullptr && text->find('\0') != std::string::npos;
    });
  };
  if (holds_nul(params) || std::any_of(before.begin(), before.end(), [&](const SqlStatement& s) {
        return holds_nul(s.params);
      })) {
    return fail(ErrorCode::kStoreUnavailable, "query: a text value holds a NUL byte");
  }
  int64_t deadline_ms = steady_ms() + kClientDeadlineMs;
  bool idle = PQtransactionStatus(connection_) == PQTRANS_IDLE;
  if (PQenterPipelineMode(connection_) != 1) return dead(one_line(PQerrorMessage(connection_)));
  size_t sent = 0;
  BoundParams bound;
  auto send = [&](std::string_view text, const SqlParams& values) {
    bound.bind(values);
    std::string statement(text);
    if (PQsendQueryParams(connection_, statement.c_str(), bound.size(), nullptr, bound.values(),
                          nullptr, nullptr, 0) != 1) {
      return false;
    }
    ++sent;
    return true;
  };
  bool queued = !idle || send(kLocalStatementTimeout, {});
  for (size_t i = 0; queued && i < before.size(); ++i)
    queued = send(before[i].sql, before[i].params);
  queued = queued && send(sql, params) && PQpipelineSync(connection_) == 1;
  if (!queued) return dead(one_line(PQerrorMessage(connection_)));
  return pipeline_results(sent, deadline_ms);
}

// Reads the results of `sent` statements up to the sync point: the first error, or the rows of
// the last statement.
Result<SqlRows> PgConnection::pipeline_results(size_t sent, int64_t deadline_ms) {
  SqlRows rows;
  std::optional<Error> first_error;
  size_t index = 0;  // the statement whose results come next
  while (true) {
    if (auto ready = await_result(deadline_ms); !ready) return ready.error();
    PGresult* result = PQgetResult(connection_);
    if (result == nullptr) {  // the end of one statement's results
      ++index;
      continue;
    }
    ExecStatusType status = PQresultStatus(result);
    if (status == PGRES_PIPELINE_SYNC) {
      PQclear(result);
      break;
    }
    if (status == PGRES_FATAL_ERROR && !first_error) {
      retryable_ = retryable_state(PQresultErrorField(result, PG_DIAG_SQLSTATE));
      first_error = fail(ErrorCode::kStoreUnavailable,
                         "query: " + masked(one_line(PQresultErrorMessage(result))));
    } else if (status == PGRES_TUPLES_OK && index + 1 == sent) {
      rows = rows_of(result);
    }
    PQclear(result);
  }
  if (PQexitPipelineMode(connection_) != 1) return dead(one_line(PQerrorMessage(connection_)));
  if (PQstatus(connection_) != CONNECTION_OK) return dead(one_line(PQerrorMessage(connection_)));
  if (first_error) return *first_error;
  return rows;
}

// The script goes as one simple query (it may hold several statements; the server runs them as
// one implicit transaction unless it holds BEGIN/COMMIT itself).
Result<void> PgConnection::exec_script(std::string_view sql) {
  retryable_ = false;
  if (!dead_.empty()) return fail(ErrorCode::kStoreUnavailable, "script: " + dead_);
  int64_t deadline_ms = steady_ms() + kClientDeadlineMs;
  std::string script;
  if (PQtransactionStatus(connection_) == PQTRANS_IDLE) script = kLocalStatementTimeout + ";\n";
  script += sql;
  if (PQsendQuery(connection_, script.c_str()) != 1) {
    return dead(one_line(PQerrorMessage(connection_)));
  }
  std::optional<Error> first_error;
  while (true) {
    if (auto ready = await_result(deadline_ms); !ready) return ready.error();
    PGresult* result = PQgetResult(connection_);
    if (result == nullptr) break;
    if (PQresultStatus(result) == PGRES_FATAL_ERROR && !first_error) {
      retryable_ = retryable_state(PQresultErrorField(result, PG_DIAG_SQLSTATE));
      first_error = fail(ErrorCode::kStoreUnavailable,
                         "script: " + masked(one_line(PQresultErrorMessage(result))));
    }
    PQclear(result);
  }
  if (PQstatus(connection_) != CONNECTION_OK) return dead(one_line(PQerrorMessage(connection_)));
  if (first_error) return *first_error;
  return {};
}

}  // namespace tollgate::server
