// SqlStore: projects, and what each project configures: its AI features and its provider
// credentials. The same SQL on SQLite and PostgreSQL.
#include "server/store/sql_store.h"
#include "server/store/sql_store_lease.h"

namespace tollgate::server {

// ---- Projects ------------------------------------------------------------------------------

Result<void> SqlStore::create_project(const Project& project, std::span<const KeyRecord> keys) {
  TG_LEASE(db);
  auto failed = [&](const Error& error) -> Result<void> {
    db->rollback();
    db.mark_broken();
    return error;
  };
  if (auto begun = db->begin_write(); !begun) return failed(begun.error());
  auto inserted = db->query(
      "INSERT INTO projects (id, name, demo, settings, period_start_ms, created_at_ms) "
      "VALUES ($1, $2, $3, $4, $5, $6)",
      {project.id, project.name, int64_t{project.demo ? 1 : 0},
       settings_to_json(project.settings), month_start_ms(project.created_at_ms),
       project.created_at_ms});
  if (!inserted) return failed(inserted.error());
  for (const KeyRecord& key : keys) {
    auto stored = db->query(
        "INSERT INTO api_keys (id, project_id, kind, hash, hint, created_at_ms) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        {key.id, project.id, std::string(key_kind_name(key.kind)), key.hash, key.hint,
         project.created_at_ms});
    if (!stored) return failed(stored.error());
  }
  if (auto committed = db->commit(); !committed) return failed(committed.error());
  return {};
}

Result<std::optional<Project>> SqlStore::get_project(std::string_view id) {
  TG_LEASE(db);
  auto rows = db->query("SELECT " + std::string(kProjectColumns) + " FROM projects WHERE id = $1",
                        {std::string(id)});
  if (!rows) return db.mark_broken(), rows.error();
  if (rows.value().empty()) return std::optional<Project>();
  return std::optional<Project>(read_project(rows.value(), 0));
}

Result<std::optional<Project>> SqlStore::demo_project() {
  TG_LEASE(db);
  auto rows = db->query("SELECT " + std::string(kProjectColumns) +
                        " FROM projects WHERE demo = 1 ORDER BY created_at_ms LIMIT 1");
  if (!rows) return db.mark_broken(), rows.error();
  if (rows.value().empty()) return std::optional<Project>();
  return std::optional<Project>(read_project(rows.value(), 0));
}

Result<Project> SqlStore::patch_project_settings(std::string_view id,
                                                 const SettingsPatch& patch) {
  TG_LEASE(db);
  auto failed = [&](const Error& error, bool broken) -> Result<Project> {
    db->rollback();
    if (broken) db.mark_broken();
    return error;
  };
  if (auto begun = db->begin_write(); !begun) return failed(begun.error(), true);
  auto rows = db->query("SELECT " + std::string(kProjectColumns) + " FROM projects WHERE id = $1" +
                            std::string(db->for_no_key_update()),
                        {std::string(id)});
  if (!rows) return failed(rows.error(), true);
  if (rows.value().empty()) {
    return failed(fail(ErrorCode::kNotFound, "no project " + std::string(id)), false);
  }
  Project project = read_project(rows.value(), 0);
  if (auto patched = patch(project.settings); !patched) return failed(patched.error(), false);
  auto updated = db->query("UPDATE projects SET settings = $1 WHERE id = $2",
                           {settings_to_json(project.settings), std::string(id)});
  if (!updated) return failed(updated.error(), true);
  if (auto committed = db->commit(); !committed) return failed(committed.error(), true);
  return project;
}

// ---- Features ------------------------------------------------------------------------------

namespace {

constexpr std::string_view kOperationColumns =
    "id, project_id, slug, definition, created_at_ms, updated_at_ms";

OperationRecord read_operation(const SqlRows& rows, size_t r) {
  return {rows.text(r, 0), rows.text(r, 1),    rows.text(r, 2),
          rows.text(r, 3), rows.int64(r, 4), rows.int64(r, 5)};
}

}  // namespace

Result<void> SqlStore::create_operation(const OperationRecord& operation) {
  TG_LEASE(db);
  // RETURNING shows whether the row went in; an existing slug leaves nothing written.
  auto rows = db->query(
      "INSERT INTO operations (" + std::string(kOperationColumns) +
          ") VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (project_id, slug) DO NOTHING "
          "RETURNING id",
      {operation.id, operation.project_id, operation.slug, operation.definition,
       operation.created_at_ms, operation.updated_at_ms});
  if (!rows) return db.mark_broken(), rows.error();
  if (rows.value().empty()) {
    return fail(ErrorCode::kConflict, "a feature with slug '" + operation.slug + "' already exists",
                "slug");
  }
  return {};
}

Result<std::optional<OperationRecord>> SqlStore::get_operation(std::string_view project_id,
                                                               std::string_view slug) {
  TG_LEASE(db);
  auto rows = db->query("SELECT " + std::string(kOperationColumns) +
                            " FROM operations WHERE project_id = $1 AND slug = $2",
                        {std::string(project_id), std::string(slug)});
  if (!rows) return db.mark_broken(), rows.error();
  if (rows.value().empty()) return std::optional<OperationRecord>();
  return std::optional<OperationRecord>(read_operation(rows.value(), 0));
}

Result<std::vector<OperationRecord>> SqlStore::list_operations(std::string_view project_id,
                                                               const Page& page) {
  TG_LEASE(db);
  auto rows = db->query("SELECT " + std::string(kOperationColumns) +
                            " FROM operations WHERE project_id = $1 AND slug > $2"
                            " ORDER BY slug LIMIT $3",
                        {std::string(project_id), page.starting_after.value_or(""), page.limit});
  if (!rows) return db.mark_broken(), rows.error();
  std::vector<OperationRecord> operations;
  for (size_t r = 0; r < rows.value().size(); ++r) {
    operations.push_back(read_operation(rows.value(), r));
  }
  return operations;
}

Result<OperationRecord> SqlStore::patch_operation(std::string_view project_id,
                                                  std::string_view slug, int64_t now_ms,
                                                  const OperationPatch& patch) {
  TG_LEASE(db);
  auto failed = [&](const Error& error, bool broken) -> Result<OperationRecord> {
    db->rollback();
    if (broken) db.mark_broken();
    return error;
  };
  if (auto begun = db->begin_write(); !begun) return failed(begun.error(), true);
  auto rows = db->query("SELECT " + std::string(kOperationColumns) +
                            " FROM operations WHERE project_id = $1 AND slug = $2" +
                            std::string(db->for_no_key_update()),
                        {std::string(project_id), std::string(slug)});
  if (!rows) return failed(rows.error(), true);
  if (rows.value().empty()) {
    return failed(fail(ErrorCode::kNotFound, "no feature with slug '" + std::string(slug) + "'",
                       "slug"),
                  false);
  }
  OperationRecord operation = read_operation(rows.value(), 0);
  if (auto patched = patch(operation); !patched) return failed(patched.error(), false);
  operation.updated_at_ms = now_ms;
  auto updated = db->query(
      "UPDATE operations SET definition = $1, updated_at_ms = $2 WHERE id = $3",
      {operation.definition, operation.updated_at_ms, operation.id});
  if (!updated) return failed(updated.error(), true);
  if (auto committed = db->commit(); !committed) return failed(committed.error(), true);
  return operation;
}

Result<bool> SqlStore::delete_operation(std::string_view project_id, std::string_view slug) {
  TG_LEASE(db);
  auto rows = db->query("DELETE FROM operations WHERE project_id = $1 AND slug = $2 RETURNING id",
                        {std::string(project_id), std::string(slug)});
  if (!rows) return db.mark_broken(), rows.error();
  return !rows.value().empty();
}

// ---- Provider credentials --------------------------------------------------------------------

namespace {

constexpr std::string_view kProviderColumns =
    "project_id, name, sealed_key, key_hint, base_url, created_at_ms, updated_at_ms";

ProviderRecord read_provider(const SqlRows& rows, size_t r) {
  return {rows.text(r, 0), rows.text(r, 1),  rows.text(r, 2), rows.text(r, 3),
          rows.text(r, 4), rows.int64(r, 5), rows.int64(r, 6)};
}

}  // namespace

Result<ProviderRecord> SqlStore::put_provider(const ProviderRecord& provider) {
  TG_LEASE(db);
  auto rows = db->query(
      "INSERT INTO providers (" + std::string(kProviderColumns) +
          ") VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (project_id, name) DO UPDATE SET "
          "sealed_key = excluded.sealed_key, key_hint = excluded.key_hint, "
          "base_url = excluded.base_url, updated_at_ms = excluded.updated_at_ms RETURNING " +
          std::string(kProviderColumns),
      {provider.project_id, provider.name, provider.sealed_key, provider.key_hint,
       provider.base_url, provider.created_at_ms, provider.updated_at_ms});
  if (!rows) return db.mark_broken(), rows.error();
  if (rows.value().empty()) {
    return fail(ErrorCode::kStoreUnavailable, "provider " + provider.name + " was not stored");
  }
  return read_provider(rows.value(), 0);
}

Result<std::optional<ProviderRecord>> SqlStore::get_provider(std::string_view project_id,
                                                             std::string_view name) {
  TG_LEASE(db);
  auto rows = db->query("SELECT " + std::string(kProviderColumns) +
                            " FROM providers WHERE project_id = $1 AND name = $2",
                        {std::string(project_id), std::string(name)});
  if (!rows) return db.mark_broken(), rows.error();
  if (rows.value().empty()) return std::optional<ProviderRecord>();
  return std::optional<ProviderRecord>(read_provider(rows.value(), 0));
}

Result<std::vector<ProviderRecord>> SqlStore::list_providers(std::string_view project_id) {
  TG_LEASE(db);
  auto rows = db->query("SELECT " + std::string(kProviderColumns) +
                            " FROM providers WHERE project_id = $1 ORDER BY name",
                        {std::string(project_id)});
  if (!rows) return db.mark_broken(), rows.error();
  std::vector<ProviderRecord> providers;
  for (size_t r = 0; r < rows.value().size(); ++r) providers.push_back(read_provider(rows.value(), r));
  return providers;
}

Result<bool> SqlStore::delete_provider(std::string_view project_id, std::string_view name) {
  TG_LEASE(db);
  auto rows = db->query("DELETE FROM providers WHERE project_id = $1 AND name = $2 RETURNING name",
                        {std::string(project_id), std::string(name)});
  if (!rows) return db.mark_broken(), rows.error();
  return !rows.value().empty();
}


}  // namespace tollgate::server
