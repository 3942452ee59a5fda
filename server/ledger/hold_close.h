// Closing a hold (settle or release) despite a passing store failure. A hold left open expires
// and is charged its whole reservation, so a close that the store could not commit is retried
// with backoff, a bounded number of times, before it is given up (and logged at `error`).
//
// Only a close the store did not commit is retried (the ledger answers an error Result, e.g.
// kStoreUnavailable: nothing in the batch took effect). A close the ledger decided against
// (kNotFound, kConflict for a hold already closed or expired, kInvalidArgument) is final.
#pragma once

#include <chrono>
#include <functional>

#include "server/ledger/ledger_writer.h"
#include "server/log/logger.h"

namespace tollgate::server {

inline constexpr int kHoldCloseAttemptsMax = 4;
inline constexpr std::chrono::milliseconds kHoldCloseBackoffBase{50};
inline constexpr std::chrono::milliseconds kHoldCloseBackoffCap{1'000};

// Runs `step` once, after `delay`, on some thread (the server: a timer on its io_context).
using RunAfter = std::function<void(std::chrono::milliseconds delay, std::function<void()> step)>;

// The wait before attempt `attempt` + 1 (attempt ≥ 1): doubling from kHoldCloseBackoffBase, at
// most kHoldCloseBackoffCap.
std::chrono::milliseconds hold_close_backoff(int attempt);
// The longest all retries of one close wait in total, for bounds such as the hold TTL.
std::chrono::milliseconds hold_close_backoff_total();

// Submits `command` (a SettleCommand or ReleaseCommand) and retries it as above; `done` runs
// once with the last outcome. Without `run_after` the retries run at once. `log` (optional)
// receives a `warn` line per failed attempt and an `error` line when the close is given up.
void close_hold(LedgerWriter& ledger, LedgerCommand command, RunAfter run_after, Logger* log,
                LedgerWriter::Done done);

}  // namespace tollgate::server
