// SqlStore: API keys (look-up, listing, rolling), revoking projects, and reading idempotency
// records. The same SQL on SQLite and PostgreSQL.
#include "server/store/sql_store.h"
#include "server/store/sql_store_lease.h"

namespace tollgate::server {
namespace {

constexpr std::string_view kKeyColumns =
    "id, project_id, kind, hash, hint, expires_at_ms, created_at_ms";

KeyRecord read_key(const SqlRows& rows, size_t r) {
  KeyRecord key;
  key.id = rows.text(r, 0);
  key.project_id = rows.text(r, 1);
  key.kind = rows.text(r, 2) == "publishable" ? KeyKind::kPublishable : KeyKind::kSecret;
  key.hash = rows.text(r, 3);
  key.hint = rows.text(r, 4);
  key.expires_at_ms = rows.optional_int64(r, 5);
  key.created_at_ms = rows.int64(r, 6);
  return key;
}

std::vector<KeyRecord> read_keys(const SqlRows& rows) {
  std::vector<KeyRecord> keys;
  for (size_t r = 0; r < rows.size(); ++r) keys.push_back(read_key(rows, r));
  return keys;
}

}  // namespace

Result<std::optional<KeyRecord>> SqlStore::find_key(std::string_view hash) {
  TG_LEASE(db);
  auto rows = db->query("SELECT " + std::string(kKeyColumns) +
                            " FROM api_keys WHERE hash = $1 AND revoked_at_ms IS NULL",
                        {std::string(hash)});
  if (!rows) return db.mark_broken(), rows.error();
  if (rows.value().empty()) return std::optional<KeyRecord>();
  return std::optional<KeyRecord>(read_key(rows.value(), 0));
}

Result<std::vector<KeyRecord>> SqlStore::list_keys(std::string_view project_id, int64_t now_ms) {
  TG_LEASE(db);
  auto rows = db->query("SELECT " + std::string(kKeyColumns) +
                            " FROM api_keys WHERE project_id = $1 AND revoked_at_ms IS NULL AND "
                            "(expires_at_ms IS NULL OR expires_at_ms > $2) "
                            "ORDER BY CASE WHEN expires_at_ms IS NULL THEN 0 ELSE 1 END, kind, "
                            "created_at_ms DESC, id",
                        {std::string(project_id), now_ms});
  if (!rows) return db.mark_broken(), rows.error();
  return read_keys(rows.value());
}

Result<RolledKeys> SqlStore::roll_key(const KeyRoll& roll) {
  TG_LEASE(db);
  auto failed = [&](const Error& error, bool broken) -> Result<RolledKeys> {
    db->rollback();
    if (broken) db.mark_broken();
    return error;
  };
  if (auto begun = db->begin_write(); !begun) return failed(begun.error(), true);
  // The project's row lock orders concurrent rolls of one project, across processes too; SQLite
  // has one writer already.
  auto project = db->query(
      "SELECT revoked_at_ms FROM projects WHERE id = $1" + std::string(db->for_no_key_update()),
      {roll.project_id});
  if (!project) return failed(project.error(), true);
  if (project.value().empty()) {
    return failed(fail(ErrorCode::kNotFound, "no project " + roll.project_id), false);
  }
  if (!project.value().is_null(0, 0)) {
    return failed(fail(ErrorCode::kUnauthenticated, "this project was revoked"), false);
  }
  // A retry is answered before anything else: the key that sent it may itself be the one the
  // first attempt rolled.
  if (roll.idempotency) {
    const Idempotency& idem = *roll.idempotency;
    auto stored = db->query(
        "SELECT request_hash, outcome FROM idempotency "
        "WHERE scope = $1 AND key = $2 AND created_at_ms >= $3",
        {idem.scope, idem.key, roll.now_ms - kIdempotencyRetentionMs});
    if (!stored) return failed(stored.error(), true);
    if (!stored.value().empty()) {
      db->rollback();
      if (stored.value().text(0, 0) != idem.request_hash) {
        return fail(ErrorCode::kConflict,
                    "Idempotency-Key '" + idem.key + "' was already used for another request",
                    "Idempotency-Key");
      }
      return RolledKeys{true, stored.value().text(0, 1), {}};
    }
  }
  auto roller = db->query(
      "SELECT id FROM api_keys WHERE id = $1 AND project_id = $2 AND kind = 'secret' AND "
      "expires_at_ms IS NULL AND revoked_at_ms IS NULL",
      {roll.rolled_by, roll.project_id});
  if (!roller) return failed(roller.error(), true);
  if (roller.value().empty()) {
    return failed(
        fail(ErrorCode::kForbidden,
             "only the project's current secret key may roll keys; this one was rolled", "key"),
        false);
  }
  std::string kind(key_kind_name(roll.kind));
  // The current key, and any older one whose grace would outlast it, stop at the new expiry.
  auto changed = db->query(
      "UPDATE api_keys SET expires_at_ms = $3 WHERE project_id = $1 AND kind = $2 AND "
      "revoked_at_ms IS NULL AND (expires_at_ms IS NULL OR expires_at_ms > $3) RETURNING " +
          std::string(kKeyColumns),
      {roll.project_id, kind, roll.old_key_expires_at_ms});
  if (!changed) return failed(changed.error(), true);
  auto in_grace = db->query(
      "SELECT count(*) FROM api_keys WHERE project_id = $1 AND kind = $2 AND "
      "revoked_at_ms IS NULL AND expires_at_ms > $3",
      {roll.project_id, kind, roll.now_ms});
  if (!in_grace) return failed(in_grace.error(), true);
  if (!in_grace.value().empty() && in_grace.value().int64(0, 0) > kKeysInGraceMax) {
    return failed(fail(ErrorCode::kConflict,
                       std::to_string(kKeysInGraceMax) + " " + kind +
                           " keys are in their grace period already; roll with a shorter "
                           "'graceMs' (0 stops them all now) or wait for one to stop",
                       "graceMs"),
                  false);
  }
  const KeyRecord& key = roll.new_key;
  auto inserted = db->query(
      "INSERT INTO api_keys (id, project_id, kind, hash, hint, created_at_ms) "
      "VALUES ($1, $2, $3, $4, $5, $6)",
      {key.id, roll.project_id, kind, key.hash, key.hint, roll.now_ms});
  if (!inserted) return failed(inserted.error(), true);
  if (roll.idempotency) {
    const Idempotency& idem = *roll.idempotency;
    // A record past its retention that the sweep has not deleted yet gives way.
    auto purged =
        db->query("DELETE FROM idempotency WHERE scope = $1 AND key = $2 AND created_at_ms < $3",
                  {idem.scope, idem.key, roll.now_ms - kIdempotencyRetentionMs});
    if (!purged) return failed(purged.error(), true);
    auto recorded = db->query(
        "INSERT INTO idempotency (scope, key, request_hash, outcome, created_at_ms) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (scope, key) DO NOTHING RETURNING key",
        {idem.scope, idem.key, idem.request_hash, roll.answer, roll.now_ms});
    if (!recorded) return failed(recorded.error(), true);
    if (recorded.value().empty()) {
      return failed(fail(ErrorCode::kConflict,
                         "Idempotency-Key '" + idem.key + "' is in use by a concurrent request",
                         "Idempotency-Key"),
                    false);
    }
  }
  if (auto committed = db->commit(); !committed) return failed(committed.error(), true);
  return RolledKeys{false, "", read_keys(changed.value())};
}

Result<Project> SqlStore::revoke_project(std::string_view id, int64_t now_ms) {
  TG_LEASE(db);
  auto rows = db->query(
      "UPDATE projects SET revoked_at_ms = coalesce(revoked_at_ms, $2) WHERE id = $1 RETURNING " +
          std::string(kProjectColumns),
      {std::string(id), now_ms});
  if (!rows) return db.mark_broken(), rows.error();
  if (rows.value().empty()) {
    return fail(ErrorCode::kNotFound, "no project " + std::string(id), "id");
  }
  return read_project(rows.value(), 0);
}

Result<std::optional<IdempotencyRecord>> SqlStore::find_idempotency(std::string_view scope,
                                                                    std::string_view key,
                                                                    int64_t now_ms) {
  TG_LEASE(db);
  auto rows = db->query(
      "SELECT request_hash, outcome, created_at_ms FROM idempotency "
      "WHERE scope = $1 AND key = $2 AND created_at_ms >= $3",
      {std::string(scope), std::string(key), now_ms - kIdempotencyRetentionMs});
  if (!rows) return db.mark_broken(), rows.error();
  if (rows.value().empty()) return std::optional<IdempotencyRecord>();
  const SqlRows& r = rows.value();
  return std::optional<IdempotencyRecord>(
      IdempotencyRecord{r.text(0, 0), r.text(0, 1), r.int64(0, 2)});
}


}  // namespace tollgate::server
