// User keys (tgk_…): what the keys routes and the gateway share. A key's cap period is decided
// by the caller's clock: a day and a week (from Monday) and a month start at 00:00 UTC; a
// "total" period never resets.
#pragma once

#include <optional>

#include "server/api/render.h"
#include "server/store/store.h"

namespace tollgate::server {

// The start of `period` holding `now_ms` (0 for kTotal), and when it resets (none for kTotal).
int64_t cap_period_start_ms(CapPeriod period, int64_t now_ms);
std::optional<int64_t> cap_period_end_ms(CapPeriod period, int64_t start_ms);

// The key's spend as of `now_ms`: a period the stored counters are behind reads as a new one.
KeySpend key_spend_now(const UserKey& key, int64_t now_ms);

// Whether the key's allow-list lets it use `model` ("provider/model"): an entry is a model, a
// "provider/*", or "*"; an empty list allows any.
bool key_allows_model(const UserKey& key, std::string_view model);

// Whether the allow-list lets the key use every model of `provider` ("*" or "provider/*").
bool key_allows_provider(const UserKey& key, std::string_view provider);

// The key as the keys routes show it (never its hash; its secret only when `secret` is given).
ojson render_user_key(const UserKey& key, int64_t now_ms,
                      const std::optional<std::string>& secret = std::nullopt);

}  // namespace tollgate::server
