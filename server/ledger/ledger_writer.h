// Group commit for the ledger: every ledger command from every connection goes through one
// queue, and a single writer thread applies them in batches, each batch one transaction.
//
// Commands are decided in arrival order. Each caller is answered after the batch holding its
// command commits, so an acknowledged debit is durable; a batch the store cannot commit answers
// every caller in it with kStoreUnavailable (503), and nothing in it took effect. The writer also
// sweeps expired holds and old idempotency records between batches.
//
// Limits: at most kBatchCommandsMax commands per batch; a batch waits at most kBatchLinger for
// more commands after the first (zero: the batch forms from whatever queued while the previous
// one committed); at most kQueueCommandsMax commands wait, and beyond that submit() answers 503
// at once rather than queueing without bound.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "server/store/store.h"

namespace tollgate::server {

inline constexpr size_t kBatchCommandsMax = 512;
inline constexpr std::chrono::microseconds kBatchLinger{0};
inline constexpr size_t kQueueCommandsMax = 16'384;
inline constexpr std::chrono::milliseconds kHoldSweepInterval{1'000};
inline constexpr std::chrono::minutes kIdempotencyPurgeInterval{10};

// Unix time in milliseconds; injected so tests can move time.
using Clock = std::function<int64_t()>;
int64_t system_now_ms();

class LedgerWriter {
 public:
  using Done = std::function<void(Result<LedgerOutcome>)>;

  LedgerWriter(Store& store, Clock clock = system_now_ms);
  ~LedgerWriter();  // applies what is already queued, then stops; later submits get 503
  LedgerWriter(const LedgerWriter&) = delete;
  LedgerWriter& operator=(const LedgerWriter&) = delete;

  // Queues a command; `done` runs on the writer thread once its batch commits or fails.
  void submit(LedgerCommand command, Done done);

  // Submits and waits: for callers that are not on an I/O thread (the CLI, tests).
  Result<LedgerOutcome> apply(LedgerCommand command);

 private:
  struct Pending {
    LedgerCommand command;
    Done done;
  };
  void run();
  void housekeeping(int64_t now_ms);

  Store& store_;
  Clock clock_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point next_hold_sweep_;
  std::chrono::steady_clock::time_point next_purge_;
  std::thread thread_;  // last: starts after every member above exists
};

}  // namespace tollgate::server
