// The JSON shapes the API returns. One function per object, so every endpoint that shows an
// account (or a project, or an entry) shows it the same way.
#pragma once

#include <nlohmann/json.hpp>

#include "server/api/api.h"
#include "server/store/store.h"

namespace tollgate::server {

using ojson = nlohmann::ordered_json;

// An exact total: a JSON integer while it fits in int64, else a string of its digits.
ojson render_total(Int128 value);

ojson render_created_project(const CreatedProject& created);
ojson render_project(const Project& project);
ojson render_account(const Account& account);
// The account with its plan's subscription (null when it has none).
ojson render_account(const Account& account, const std::optional<Subscription>& subscription);
ojson render_entry(const LedgerEntry& entry);
ojson render_stats(const AccountStats& stats);
// AI feature calls, tokens and spend; `key_name` names the group's key ("operation"), if any.
ojson render_invocations(const InvocationTotal& total, std::string_view key_name);
ojson render_analytics(const Analytics& analytics, int64_t from_ms, int64_t to_ms,
                       int64_t interval_ms);

}  // namespace tollgate::server
