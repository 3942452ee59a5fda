// How long a metered call's hold lives: strictly longer than the longest call it pays for, so
// a settle made at the last moment still finds its hold open (an expired hold is charged as
// reserved).
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
// worst case still finds its hold open (an expired hold is charged as reserved).
inline constexpr std::chrono::milliseconds kInvokeHoldTtlMargin{60'000};

// The most model calls one metered call makes: the first, a repair call when it has a response
// format, and its fallback model when it has one. (At most one of the last two runs; counting
// both keeps the bound safe if that changes.)
int64_t invoke_model_calls_max(bool repair, bool fallback);

// The longest one call keeps its hold, from the reservation to the committed close: the
// reserve's commit (the first call overlaps it, but its output waits for it), then per model
// call a credentials read and the upstream client's total deadline (which covers the connects,
// all kUpstreamAttemptsMax attempts and the backoff between them; the backoff caps are added on
// top anyway), then the close with every retry (server/ledger/hold_close.h).
std::chrono::milliseconds invoke_worst_case(const UpstreamTimeouts& timeouts, int64_t model_calls);

// The hold TTL: strictly longer than invoke_worst_case(), by kInvokeHoldTtlMargin.
int64_t invoke_hold_ttl_ms(const UpstreamTimeouts& timeouts, bool repair, bool fallback);

}  // namespace tollgate::server
