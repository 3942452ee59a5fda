#include "server/store/sql.h"

#include <charconv>

namespace tollgate::server {

const SqlValue& SqlRows::cell(size_t row, size_t column) const {
  require(column < columns_ && row < size());
  return cells_[row * columns_ + column];
}

bool SqlRows::is_null(size_t row, size_t column) const {
  return std::holds_alternative<std::nullptr_t>(cell(row, column));
}

int64_t SqlRows::int64(size_t row, size_t column) const {
  const SqlValue& value = cell(row, column);
  if (const auto* number = std::get_if<int64_t>(&value)) return *number;
  if (const auto* text = std::get_if<std::string>(&value)) {
    int64_t parsed = 0;
    std::from_chars(text->data(), text->data() + text->size(), parsed);
    return parsed;
  }
  return 0;
}

std::string SqlRows::text(size_t row, size_t column) const {
  const SqlValue& value = cell(row, column);
  if (const auto* text = std::get_if<std::string>(&value)) return *text;
  if (const auto* number = std::get_if<int64_t>(&value)) return std::to_string(*number);
  return {};
}

std::optional<int64_t> SqlRows::optional_int64(size_t row, size_t column) const {
  if (is_null(row, column)) return std::nullopt;
  return int64(row, column);
}

Result<SqlRows> SqlConnection::query_after(std::span<const SqlStatement> before,
                                           std::string_view sql, const SqlParams& params) {
  for (const SqlStatement& statement : before) {
    if (auto done = query(statement.sql, statement.params); !done) return done.error();
  }
  return query(sql, params);
}

Result<void> SqlConnection::begin_write() {
  return discard(query(dialect() == SqlDialect::kSqlite ? "BEGIN IMMEDIATE" : "BEGIN"));
}

}  // namespace tollgate::server
