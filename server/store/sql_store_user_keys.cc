// SqlStore: user keys (their records; their spend counters change only in the ledger batch) and
// gateway usage. The same SQL on SQLite and PostgreSQL.
#include <nlohmann/json.hpp>

#include "server/store/sql_store.h"
#include "server/store/sql_store_lease.h"

namespace tollgate::server {
namespace {

using json = nlohmann::json;

std::vector<std::string> models_from_json(const std::string& text) {
  std::vector<std::string> models;
  json parsed = json::parse(text, nullptr, false);
  if (!parsed.is_array()) return models;
  for (const json& model : parsed)
    if (model.is_string()) models.push_back(model.get<std::string>());
  return models;
}

std::string models_to_json(const std::vector<std::string>& models) {
  return json(models).dump(-1, ' ', false, json::error_handler_t::replace);
}

// The writable columns after id, in the order the INSERT and the UPDATE give them.
SqlParams descriptive_params(const UserKey& key) {
  return {key.name,
          nullable(key.spend_cap_micros),
          std::string(cap_period_name(key.cap_period)),
          models_to_json(key.models),
          key.metadata,
          nullable(key.expires_at_ms),
          key.updated_at_ms};
}

}  // namespace

Hold read_hold(const SqlRows& rows, size_t r) {
  return Hold{rows.text(r, 0),  rows.text(r, 1),  rows.text(r, 2), rows.int64(r, 3),
              rows.int64(r, 4), rows.int64(r, 5), rows.text(r, 6), rows.int64(r, 7),
              rows.text(r, 8),  rows.text(r, 9),  rows.text(r, 10)};
}

UserKey read_user_key(const SqlRows& rows, size_t r) {
  UserKey key;
  key.id = rows.text(r, 0);
  key.project_id = rows.text(r, 1);
  key.user_id = rows.text(r, 2);
  key.name = rows.text(r, 3);
  key.hash = rows.text(r, 4);
  key.start = rows.text(r, 5);
  key.previous_hash = rows.text(r, 6);
  key.previous_expires_at_ms = rows.optional_int64(r, 7);
  key.spend_cap_micros = rows.optional_int64(r, 8);
  key.cap_period = parse_cap_period(rows.text(r, 9)).value_or(CapPeriod::kMonth);
  key.models = models_from_json(rows.text(r, 10));
  key.metadata = rows.text(r, 11);
  key.expires_at_ms = rows.optional_int64(r, 12);
  key.revoked_at_ms = rows.optional_int64(r, 13);
  key.spend = {rows.int64(r, 14), rows.int64(r, 15), rows.int64(r, 16), rows.int64(r, 17),
               rows.int64(r, 18)};
  key.created_at_ms = rows.int64(r, 19);
  key.updated_at_ms = rows.int64(r, 20);
  return key;
}

Result<void> SqlStore::create_user_key(const UserKey& key) {
  TG_LEASE(db);
  SqlParams params{key.id,           key.project_id, key.user_id,
                   key.hash,         key.start,      key.spend.period_start_ms,
                   key.created_at_ms};
  for (SqlValue& value : descriptive_params(key)) params.push_back(std::move(value));
  auto rows = db->query(
      "INSERT INTO user_keys (id, project_id, user_id, hash, start, period_start_ms, "
      "created_at_ms, name, spend_cap_micros, cap_period, models, metadata, expires_at_ms, "
      "updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) "
      "ON CONFLICT DO NOTHING RETURNING id",
      params);
  if (!rows) return db.mark_broken(), rows.error();
  if (rows.value().empty()) return fail(ErrorCode::kConflict, "the key already exists", "id");
  return {};
}

Result<std::optional<UserKey>> SqlStore::get_user_key(std::string_view project_id,
                                                      std::string_view id) {
  TG_LEASE(db);
  auto rows = db->query("SELECT " + std::string(kUserKeyColumns) +
                            " FROM user_keys WHERE project_id = $1 AND id = $2",
                        {std::string(project_id), std::string(id)});
  if (!rows) return db.mark_broken(), rows.error();
  if (rows.value().empty()) return std::optional<UserKey>();
  return std::optional<UserKey>(read_user_key(rows.value(), 0));
}

Result<std::optional<UserKey>> SqlStore::find_user_key(std::string_view hash) {
  TG_LEASE(db);
  auto rows =
      db->query("SELECT " + std::string(kUserKeyColumns) +
                    " FROM user_keys WHERE hash = $1 UNION ALL SELECT " +
                    std::string(kUserKeyColumns) + " FROM user_keys WHERE previous_hash = $1",
                {std::string(hash)});
  if (!rows) return db.mark_broken(), rows.error();
  if (rows.value().empty()) return std::optional<UserKey>();
  return std::optional<UserKey>(read_user_key(rows.value(), 0));
}

Result<std::vector<UserKey>> SqlStore::list_user_keys(std::string_view project_id,
                                                      const std::optional<std::string>& user_id,
                                                      const Page& page) {
  TG_LEASE(db);
  std::string sql = "SELECT " + std::string(kUserKeyColumns) +
                    " FROM user_keys WHERE project_id = $1 AND id > $2";
  SqlParams params{std::string(project_id), page.starting_after.value_or(""), page.limit};
  if (user_id) {
    sql += " AND user_id = $4";
    params.push_back(*user_id);
  }
  auto rows = db->query(sql + " ORDER BY id LIMIT $3", params);
  if (!rows) return db.mark_broken(), rows.error();
  std::vector<UserKey> keys;
  for (size_t r = 0; r < rows.value().size(); ++r) keys.push_back(read_user_key(rows.value(), r));
  return keys;
}

Result<UserKey> SqlStore::patch_user_key(std::string_view project_id, std::string_view id,
                                         int64_t now_ms, const UserKeyPatch& patch) {
  TG_LEASE(db);
  auto failed = [&](const Error& error, bool broken) -> Result<UserKey> {
    db->rollback();
    if (broken) db.mark_broken();
    return error;
  };
  if (auto begun = db->begin_write(); !begun) return failed(begun.error(), true);
  auto rows = db->query("SELECT " + std::string(kUserKeyColumns) +
                            " FROM user_keys WHERE project_id = $1 AND id = $2" +
                            std::string(db->for_no_key_update()),
                        {std::string(project_id), std::string(id)});
  if (!rows) return failed(rows.error(), true);
  if (rows.value().empty())
    return failed(fail(ErrorCode::kNotFound, "no key " + std::string(id), "id"), false);
  UserKey key = read_user_key(rows.value(), 0);
  if (auto patched = patch(key); !patched) return failed(patched.error(), false);
  key.updated_at_ms = now_ms;
  SqlParams params{key.id};
  for (SqlValue& value : descriptive_params(key)) params.push_back(std::move(value));
  auto updated = db->query(
      "UPDATE user_keys SET name = $2, spend_cap_micros = $3, cap_period = $4, models = $5, "
      "metadata = $6, expires_at_ms = $7, updated_at_ms = $8 WHERE id = $1",
      params);
  if (!updated) return failed(updated.error(), true);
  if (auto committed = db->commit(); !committed) return failed(committed.error(), true);
  return key;
}

Result<UserKey> SqlStore::revoke_user_key(std::string_view project_id, std::string_view id,
                                          int64_t now_ms) {
  TG_LEASE(db);
  auto rows = db->query(
      "UPDATE user_keys SET revoked_at_ms = coalesce(revoked_at_ms, $3), updated_at_ms = $3 "
      "WHERE project_id = $1 AND id = $2 RETURNING " +
          std::string(kUserKeyColumns),
      {std::string(project_id), std::string(id), now_ms});
  if (!rows) return db.mark_broken(), rows.error();
  if (rows.value().empty()) return fail(ErrorCode::kNotFound, "no key " + std::string(id), "id");
  return read_user_key(rows.value(), 0);
}

Result<UserKey> SqlStore::roll_user_key(const UserKeyRoll& roll) {
  TG_LEASE(db);
  auto rows = db->query(
      "UPDATE user_keys SET previous_hash = hash, previous_expires_at_ms = $5, hash = $3, "
      "start = $4, updated_at_ms = $6 WHERE project_id = $1 AND id = $2 AND revoked_at_ms IS NULL "
      "RETURNING " +
          std::string(kUserKeyColumns),
      {roll.project_id, roll.key_id, roll.hash, roll.start, roll.previous_expires_at_ms,
       roll.now_ms});
  if (!rows) return db.mark_broken(), rows.error();
  if (!rows.value().empty()) return read_user_key(rows.value(), 0);
  auto existing = get_user_key(roll.project_id, roll.key_id);
  if (!existing) return existing.error();
  if (!existing.value()) return fail(ErrorCode::kNotFound, "no key " + roll.key_id, "id");
  return fail(ErrorCode::kConflict, "a revoked key cannot be rolled", "id");
}

Result<std::vector<UsageTotal>> SqlStore::usage_totals(std::string_view project_id,
                                                       const UsageQuery& query) {
  TG_LEASE(db);
  std::vector<std::string> columns;  // what each group selects, in the order it is read
  for (UsageGroup group : query.group_by) {
    switch (group) {
      case UsageGroup::kKey:
        columns.push_back("coalesce(key_id, '')");
        break;
      case UsageGroup::kUser:
        columns.push_back("user_id");
        break;
      case UsageGroup::kModel:
        columns.push_back("coalesce(model, '')");
        break;
      case UsageGroup::kDay:
        columns.push_back("created_at_ms - created_at_ms % 86400000");
        break;
    }
  }
  std::string sql = "SELECT count(*), " + split_sum("input_tokens") + ", " +
                    split_sum("output_tokens") + ", " + split_sum("settled_credits") + ", " +
                    split_sum("settled_micros");
  for (const std::string& column : columns) sql += ", " + column;
  sql +=
      " FROM holds WHERE project_id = $1 AND created_at_ms >= $2 AND created_at_ms < $3 AND "
      "key_id IS NOT NULL AND status <> 'released'";
  SqlParams params{std::string(project_id), query.from_ms, query.to_ms};
  auto filter = [&](const std::optional<std::string>& value, std::string_view column) {
    if (!value) return;
    params.push_back(*value);
    sql.append(" AND ").append(column).append(" = $").append(std::to_string(params.size()));
  };
  filter(query.user_id, "user_id");
  filter(query.key_id, "key_id");
  filter(query.model, "model");
  if (query.models_only) sql += " AND operation IS NULL";
  if (!columns.empty()) {
    sql += " GROUP BY ";
    for (size_t i = 0; i < columns.size(); ++i) sql += (i ? ", " : "") + columns[i];
    sql += " ORDER BY " + split_sum_order("settled_micros", "DESC");
    for (const std::string& column : columns) sql += ", " + column;
  }
  sql += " LIMIT " + std::to_string(kUsageGroupsMax);
  auto rows = db->query(sql, params);
  if (!rows) return db.mark_broken(), rows.error();
  std::vector<UsageTotal> totals;
  const SqlRows& r = rows.value();
  for (size_t i = 0; i < r.size(); ++i) {
    UsageTotal total;
    total.requests = r.int64(i, 0);
    auto input = read_split_sum(r, i, 1);
    auto output = read_split_sum(r, i, 3);
    auto credits = read_split_sum(r, i, 5);
    auto micros = read_split_sum(r, i, 7);
    for (const Result<Int128>* sum : {&input, &output, &credits, &micros})
      if (!*sum) return sum->error();
    total.input_tokens = input.value();
    total.output_tokens = output.value();
    total.credits = credits.value();
    total.micros = micros.value();
    for (size_t g = 0; g < query.group_by.size(); ++g) {
      size_t column = 9 + g;
      switch (query.group_by[g]) {
        case UsageGroup::kKey:
          total.key_id = r.text(i, column);
          break;
        case UsageGroup::kUser:
          total.user_id = r.text(i, column);
          break;
        case UsageGroup::kModel:
          total.model = r.text(i, column);
          break;
        case UsageGroup::kDay:
          total.day_start_ms = r.int64(i, column);
          break;
      }
    }
    totals.push_back(std::move(total));
  }
  return totals;
}

}  // namespace tollgate::server
