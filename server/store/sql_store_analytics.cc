// SqlStore: totals. Sums of int64 amounts are exact: SQL sums each amount's two 32-bit halves
// (split_sum), which no realistic number of rows can take out of int64, and the store adds the
// halves up in 128 bits.
#include "server/store/sql_store.h"
#include "server/store/sql_store_lease.h"

namespace tollgate::server {

std::string split_sum(std::string_view expression) {
  std::string e(expression);
  return "coalesce(sum((" + e + ") >> 32), 0), coalesce(sum((" + e + ") & 4294967295), 0)";
}

std::pair<std::string, std::string> split_sum_halves(std::string_view expression) {
  std::string e(expression);
  std::string high = "CAST(coalesce(sum((" + e + ") >> 32), 0) AS BIGINT)";
  std::string low = "CAST(coalesce(sum((" + e + ") & 4294967295), 0) AS BIGINT)";
  return {"(" + high + " + (" + low + " >> 32))", "(" + low + " & 4294967295)"};
}

std::string split_sum_order(std::string_view expression, std::string_view direction) {
  auto [high, low] = split_sum_halves(expression);
  return high + " " + std::string(direction) + ", " + low + " " + std::string(direction);
}

Result<Int128> read_split_sum(const SqlRows& rows, size_t r, size_t high_column) {
  auto high = parse_int128(rows.text(r, high_column));
  auto low = parse_int128(rows.text(r, high_column + 1));
  // Each half's sum stays far inside Int128 (it grows by at most 2^32 per row).
  constexpr Int128 kHalfSumMax = Int128(1) << 96;
  if (!high || !low || *high > kHalfSumMax || *high < -kHalfSumMax || *low > kHalfSumMax ||
      *low < 0) {
    return fail(ErrorCode::kStoreUnavailable, "the database returned an unreadable sum");
  }
  return *high * (Int128(1) << 32) + *low;
}

Result<AccountStats> SqlStore::account_stats(std::string_view project_id) {
  TG_LEASE(db);
  SqlParams project{std::string(project_id)};
  auto accounts = db->query("SELECT count(*), " + split_sum("balance") + ", " +
                                split_sum("purchased") + " FROM accounts WHERE project_id = $1",
                            project);
  auto packs = db->query("SELECT currency, " + split_sum("credits") + ", " +
                             split_sum("price_micros") +
                             " FROM checkouts WHERE project_id = $1 AND product_kind = 'pack' AND "
                             "fulfilled_at_ms IS NOT NULL GROUP BY currency ORDER BY currency",
                         project);
  // Live subscriptions' prices by currency and interval; a year is normalised to a month
  // below, once summed, so no price is rounded on its own.
  auto live = db->query(
      "SELECT currency, plan_interval, count(DISTINCT user_id), " + split_sum("price_micros") +
          " FROM subscriptions WHERE project_id = $1 AND status IN ('active', 'trialing', "
          "'past_due') GROUP BY currency, plan_interval ORDER BY currency, plan_interval",
      project);
  if (!accounts || !live || !packs) {
    db.mark_broken();
    return !accounts ? accounts.error() : !live ? live.error() : packs.error();
  }
  AccountStats stats;
  Int128 purchased = 0;
  if (!accounts.value().empty()) {
    stats.total = accounts.value().int64(0, 0);
    auto balances = read_split_sum(accounts.value(), 0, 1);
    auto bought = read_split_sum(accounts.value(), 0, 3);
    if (!balances) return balances.error();
    if (!bought) return bought.error();
    stats.credits_outstanding = balances.value();
    purchased = bought.value();
  }
  Int128 credits_sold = 0;
  std::vector<std::pair<std::string, Int128>> pack_revenue;
  for (size_t r = 0; r < packs.value().size(); ++r) {
    auto credits = read_split_sum(packs.value(), r, 1);
    auto micros = read_split_sum(packs.value(), r, 3);
    if (!credits) return credits.error();
    if (!micros) return micros.error();
    credits_sold += credits.value();
    pack_revenue.emplace_back(packs.value().text(r, 0), micros.value());
  }
  if (credits_sold > 0) {
    for (const auto& [currency, micros] : pack_revenue) {
      // purchased × micros ÷ sold, without the product leaving 128 bits for any sane total.
      Int128 whole = micros / credits_sold;
      Int128 rest = micros % credits_sold;
      stats.credits_outstanding_value.push_back(
          {currency, purchased * whole + purchased * rest / credits_sold});
    }
  }
  for (size_t r = 0; r < live.value().size(); ++r) {
    const SqlRows& row = live.value();
    auto prices = read_split_sum(row, r, 3);
    if (!prices) return prices.error();
    std::string currency = row.text(r, 0);
    Int128 monthly = row.text(r, 1) == "year" ? prices.value() / 12 : prices.value();
    stats.paid += row.int64(r, 2);
    if (stats.mrr.empty() || stats.mrr.back().currency != currency)
      stats.mrr.push_back({currency, 0});
    stats.mrr.back().micros += monthly;
  }
  return stats;
}

Result<std::vector<InvocationTotal>> SqlStore::invocation_totals(std::string_view project_id,
                                                                 const InvocationQuery& query) {
  // Only these fixed column names ever reach the SQL text; every value is a parameter.
  std::string_view key = query.group == InvocationGroup::kOperation ? "operation"
                         : query.group == InvocationGroup::kUser    ? "user_id"
                                                                    : "''";
  constexpr std::string_view kCharged =
      "CASE WHEN status <> 'open' THEN settled_credits ELSE 0 END";
  constexpr std::string_view kChargedMicros =
      "CASE WHEN status <> 'open' THEN settled_micros ELSE 0 END";
  std::string sql = "SELECT " + std::string(key) + " AS k, count(*), " + split_sum("input_tokens") +
                    ", " + split_sum("output_tokens") + ", " + split_sum(kCharged) + ", " +
                    split_sum(kChargedMicros) +
                    " FROM holds WHERE project_id = $1 AND operation IS NOT NULL AND "
                    "status <> 'released' AND created_at_ms >= $2 AND created_at_ms < $3";
  SqlParams params{std::string(project_id), query.from_ms, query.to_ms};
  auto next_param = [&params](SqlValue value) {
    params.push_back(std::move(value));
    std::string placeholder = "$";  // not "$" + …: GCC's -Wrestrict false positive
    return placeholder.append(std::to_string(params.size()));
  };
  if (query.user_id) sql += " AND user_id = " + next_param(*query.user_id);
  if (query.group != InvocationGroup::kNone) {
    sql += " GROUP BY k ORDER BY " + split_sum_order(kCharged, "DESC") + ", k LIMIT " +
           next_param(query.limit);
  }
  TG_LEASE(db);
  auto rows = db->query(sql, params);
  if (!rows) return db.mark_broken(), rows.error();
  std::vector<InvocationTotal> totals;
  const SqlRows& r = rows.value();
  for (size_t i = 0; i < r.size(); ++i) {
    InvocationTotal total{r.text(i, 0), r.int64(i, 1)};
    Int128* sums[] = {&total.input_tokens, &total.output_tokens, &total.credits, &total.micros};
    for (size_t s = 0; s < std::size(sums); ++s) {
      auto sum = read_split_sum(r, i, 2 + 2 * s);
      if (!sum) return sum.error();
      *sums[s] = sum.value();
    }
    totals.push_back(std::move(total));
  }
  return totals;
}

Result<Analytics> SqlStore::analytics(std::string_view project_id, int64_t from_ms, int64_t to_ms,
                                      int64_t interval_ms) {
  Analytics analytics;
  {
    TG_LEASE(db);
    // Debits are negative amounts: their sums are negated here, exactly, rather than in SQL
    // (where -amount of the smallest int64 would not fit).
    auto series = db->query(
        "SELECT (created_at_ms / $4) * $4 AS bucket, count(*), " + split_sum("amount") +
            " FROM ledger WHERE project_id = $1 AND kind = 'debit' AND created_at_ms >= $2 "
            "AND created_at_ms < $3 GROUP BY bucket ORDER BY bucket",
        {std::string(project_id), from_ms, to_ms, interval_ms});
    // The most credits first: the smallest (most negative) sum of amounts, high half first.
    auto events = db->query(
        "SELECT event, count(*) AS calls, " + split_sum("amount") +
            " FROM ledger WHERE project_id = $1 AND kind = 'debit' AND created_at_ms >= $2 "
            "AND created_at_ms < $3 GROUP BY event ORDER BY " +
            split_sum_order("amount", "ASC") + ", calls DESC, event LIMIT 10",
        {std::string(project_id), from_ms, to_ms});
    if (!series || !events) return db.mark_broken(), (series ? events.error() : series.error());
    for (size_t r = 0; r < series.value().size(); ++r) {
      auto credits = read_split_sum(series.value(), r, 2);
      if (!credits) return credits.error();
      analytics.series.push_back(
          {series.value().int64(r, 0), series.value().int64(r, 1), -credits.value()});
    }
    for (size_t r = 0; r < events.value().size(); ++r) {
      auto credits = read_split_sum(events.value(), r, 2);
      if (!credits) return credits.error();
      analytics.top_events.push_back(
          {events.value().text(r, 0), events.value().int64(r, 1), -credits.value()});
    }
  }
  InvocationQuery calls{std::nullopt, from_ms, to_ms, InvocationGroup::kOperation, 10};
  auto features = invocation_totals(project_id, calls);
  if (!features) return features.error();
  analytics.top_features = std::move(features.value());
  calls.group = InvocationGroup::kUser;
  auto users = invocation_totals(project_id, calls);
  if (!users) return users.error();
  analytics.top_end_users = std::move(users.value());
  auto stats = account_stats(project_id);
  if (!stats) return stats.error();
  analytics.stats = stats.value();
  auto revenue = revenue_totals(project_id, from_ms, to_ms);
  if (!revenue) return revenue.error();
  analytics.revenue = std::move(revenue).value();
  return analytics;
}

Result<LedgerAudit> SqlStore::audit(std::string_view project_id) {
  TG_LEASE(db);
  SqlParams project{std::string(project_id)};
  // Each pool = the sum of its entries and balance = allowance + purchased, compared in the two
  // int64 halves of the exact sums, so that no sum leaves int64 in SQL.
  auto differs = [](std::string_view column, std::string_view pool) {
    auto [high, low] =
        split_sum_halves("CASE WHEN l.pool = '" + std::string(pool) + "' THEN l.amount ELSE 0 END");
    std::string c(column);
    return "a." + c + " < 0 OR (a." + c + " >> 32) <> " + high + " OR (a." + c +
           " & 4294967295) <> " + low;
  };
  auto mismatched = db->query(
      "SELECT a.user_id FROM accounts a LEFT JOIN ledger l "
      "ON l.project_id = a.project_id AND l.user_id = a.user_id WHERE a.project_id = $1 "
      "GROUP BY a.user_id, a.balance, a.allowance, a.purchased HAVING " +
          differs("allowance", "allowance") + " OR " + differs("purchased", "purchased") +
          " OR a.balance - a.allowance <> a.purchased ORDER BY a.user_id",
      project);
  auto counts = db->query(
      "SELECT (SELECT count(*) FROM accounts WHERE project_id = $1), "
      "(SELECT count(*) FROM ledger WHERE project_id = $1), "
      "(SELECT count(*) FROM holds WHERE project_id = $1 AND status = 'open')",
      project);
  if (!mismatched || !counts)
    return db.mark_broken(), (counts ? mismatched.error() : counts.error());
  LedgerAudit audit{
      counts.value().int64(0, 0), counts.value().int64(0, 1), counts.value().int64(0, 2), {}};
  for (size_t r = 0; r < mismatched.value().size(); ++r)
    audit.mismatched.push_back(mismatched.value().text(r, 0));
  return audit;
}

}  // namespace tollgate::server
