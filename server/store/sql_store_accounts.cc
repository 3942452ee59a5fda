// SqlStore: reading accounts, the ledger and holds, and purging old idempotency records. Every
// change to them goes through apply() (ledger_batch.cc).
#include "server/store/sql_store.h"
#include "server/store/sql_store_lease.h"

namespace tollgate::server {

Account read_account(const SqlRows& rows, size_t r) {
  Account account;
  account.project_id = rows.text(r, 0);
  account.user_id = rows.text(r, 1);
  account.plan = rows.text(r, 2);
  account.balance = rows.int64(r, 3);
  account.spend_cap_micros = rows.optional_int64(r, 4);
  account.period_start_ms = rows.int64(r, 5);
  account.period_spent_micros = rows.int64(r, 6);
  account.held_micros = rows.int64(r, 7);
  account.created_at_ms = rows.int64(r, 8);
  account.updated_at_ms = rows.int64(r, 9);
  account.allowance = rows.int64(r, 10);
  account.purchased = rows.int64(r, 11);
  return account;
}

Result<Account> SqlStore::get_account(std::string_view project_id, std::string_view user_id,
                                      int64_t now_ms) {
  TG_LEASE(db);
  auto rows = db->query("SELECT " + std::string(kAccountColumns) +
                            " FROM accounts WHERE project_id = $1 AND user_id = $2",
                        {std::string(project_id), std::string(user_id)});
  if (!rows) return db.mark_broken(), rows.error();
  if (!rows.value().empty()) {
    Account account = read_account(rows.value(), 0);
    if (account.period_start_ms < month_start_ms(now_ms)) {
      account.period_start_ms = month_start_ms(now_ms);
      account.period_spent_micros = 0;
    }
    return account;
  }
  auto project =
      db->query("SELECT settings FROM projects WHERE id = $1", {std::string(project_id)});
  if (!project) return db.mark_broken(), project.error();
  Account account;
  account.project_id = project_id;
  account.user_id = user_id;
  account.exists = false;
  account.period_start_ms = month_start_ms(now_ms);
  if (!project.value().empty()) {
    account.purchased = settings_from_json(project.value().text(0, 0)).starting_credits;
    account.balance = account.purchased;
  }
  return account;
}

Result<std::vector<Account>> SqlStore::list_accounts(std::string_view project_id,
                                                     const Page& page) {
  TG_LEASE(db);
  auto rows = db->query("SELECT " + std::string(kAccountColumns) +
                            " FROM accounts WHERE project_id = $1 AND user_id > $2"
                            " ORDER BY user_id LIMIT $3",
                        {std::string(project_id), page.starting_after.value_or(""), page.limit});
  if (!rows) return db.mark_broken(), rows.error();
  std::vector<Account> accounts;
  for (size_t r = 0; r < rows.value().size(); ++r)
    accounts.push_back(read_account(rows.value(), r));
  return accounts;
}

Result<std::vector<LedgerEntry>> SqlStore::list_ledger(std::string_view project_id,
                                                       std::optional<std::string> user_id,
                                                       const Page& page) {
  TG_LEASE(db);
  int64_t before = INT64_MAX;
  if (page.starting_after) before = parse_entry_id(*page.starting_after).value_or(0);
  std::string sql =
      "SELECT seq, project_id, user_id, kind, pool, amount, balance_after, event, reason, "
      "hold_id, created_at_ms FROM ledger WHERE project_id = $1 AND seq < $2";
  SqlParams params{std::string(project_id), before, page.limit};
  if (user_id) {
    sql += " AND user_id = $4";
    params.emplace_back(*user_id);
  }
  sql += " ORDER BY seq DESC LIMIT $3";
  auto rows = db->query(sql, params);
  if (!rows) return db.mark_broken(), rows.error();
  std::vector<LedgerEntry> entries;
  const SqlRows& r = rows.value();
  for (size_t i = 0; i < r.size(); ++i) {
    entries.push_back({r.int64(i, 0), r.text(i, 1), r.text(i, 2), r.text(i, 3),
                       parse_pool(r.text(i, 4)).value_or(Pool::kPurchased), r.int64(i, 5),
                       r.int64(i, 6), r.text(i, 7), r.text(i, 8), r.text(i, 9), r.int64(i, 10)});
  }
  return entries;
}

Result<std::optional<Hold>> SqlStore::get_hold(std::string_view project_id,
                                               std::string_view hold_id) {
  TG_LEASE(db);
  auto rows = db->query(
      "SELECT " + std::string(kHoldColumns) + " FROM holds WHERE project_id = $1 AND id = $2",
      {std::string(project_id), std::string(hold_id)});
  if (!rows) return db.mark_broken(), rows.error();
  if (rows.value().empty()) return std::optional<Hold>();
  return std::optional<Hold>(read_hold(rows.value(), 0));
}

Result<int64_t> SqlStore::purge_idempotency(int64_t now_ms) {
  TG_LEASE(db);
  auto rows = db->query("DELETE FROM idempotency WHERE created_at_ms < $1 RETURNING key",
                        {now_ms - kIdempotencyRetentionMs});
  if (!rows) return db.mark_broken(), rows.error();
  return static_cast<int64_t>(rows.value().size());
}

}  // namespace tollgate::server
