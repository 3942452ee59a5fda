// The time bounds of one runtime invoke (server/api/invoke.cc), and the hold TTL derived from
// them: a hold must outlive the longest call it pays for, or its settle would find it expired
// (and the expiry would charge the whole reservation).
#pragma once

#include <chrono>
#include <cstdint>

#include "server/ai/http_client.h"

namespace tollgate::server {

// The longest a ledger command takes to be answered: the stores bound every commit (SQLite's
// 5 s busy timeout; PostgreSQL's 10 s statement timeout and 15 s client deadline), and this
// leaves room for a queue ahead of it.
inline constexpr std::chrono::milliseconds kLedgerAnswerBound{30'000};
// The longest a store read takes (the fallback model's credentials): PostgreSQL's client
// deadline.
inline constexpr std::chrono::milliseconds kStoreReadBound{15'000};
// How much longer than the worst case a hold lives, so a settle made at the last moment of the
// worst case still finds its hold open.
inline constexpr std::chrono::milliseconds kInvokeHoldTtlMargin{60'000};

// The most model calls one invoke makes: the first, a repair call when the feature has a
// response format, and its fallback model when it has one. (The invoke runs at most one of the
// last two; counting both keeps the bound safe if that changes.)
int64_t invoke_model_calls_max(bool repair, bool fallback);

// The longest one invoke keeps its hold, from the reservation to the committed close: the
// reserve's commit (the first call overlaps it, but its output waits for it), then per model
// call a credentials read and the upstream client's total deadline (which covers the connects,
// all kUpstreamAttemptsMax attempts and the backoff between them; the backoff caps are added on
// top anyway), then the close with every retry (server/ledger/hold_close.h).
std::chrono::milliseconds invoke_worst_case(const UpstreamTimeouts& timeouts, int64_t model_calls);

// The hold TTL: strictly longer than invoke_worst_case(), by kInvokeHoldTtlMargin.
int64_t invoke_hold_ttl_ms(const UpstreamTimeouts& timeouts, bool repair, bool fallback);

}  // namespace tollgate::server
