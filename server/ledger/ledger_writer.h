// Group commit for the ledger: every ledger command from every connection goes through a
// queue, and a writer thread applies queued commands in batches, each batch one transaction.
//
// There is one writer per partition: an account's commands always go to the same partition
// (by a hash of project and user), so each account's commands are decided in arrival order.
// SQLite has one writer anyway, so it gets one partition; PostgreSQL gets several, which commit
// in parallel on separate connections while row locks keep them exact. Each caller is answered
// after the batch holding its command commits, so an acknowledged debit is durable; a batch the
// store cannot commit answers every caller in it with kStoreUnavailable (503), and nothing in it
// took effect. The first writer also sweeps expired holds and old idempotency records.
//
// The writer threads never die: an exception from a batch (the store, bad_alloc, a bug) answers
// every caller of that batch not yet answered with kStoreUnavailable (fail closed: nothing of it
// was committed), is logged at `error`, and the thread goes on with the next batch. An exception
// from a caller's own `done` or `decided` is logged and goes no further.
//
// Limits: at most kBatchCommandsMax commands per batch; a batch waits at most kBatchLinger for
// more commands after the first (zero: the batch forms from whatever queued while the previous
// one committed); at most kQueueCommandsMax commands wait, and beyond that submit() answers 503
// at once rather than queueing without bound.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "server/log/logger.h"
#include "server/metrics/metrics.h"
#include "server/store/store.h"

namespace tollgate::server {

inline constexpr size_t kBatchCommandsMax = 512;
// A batch of at most this many commands is answered on the writer thread, at once (the lowest
// latency when traffic is light); a bigger one is answered through the answerer set with
// answer_through(), so the writer starts the next batch while the I/O threads run the answers.
inline constexpr size_t kInlineAnswersMax = 2;
inline constexpr std::chrono::microseconds kBatchLinger{0};
inline constexpr size_t kQueueCommandsMax = 16'384;  // per partition
inline constexpr size_t kPostgresLedgerPartitions = 2;
inline constexpr std::chrono::milliseconds kHoldSweepInterval{1'000};
inline constexpr std::chrono::minutes kIdempotencyPurgeInterval{10};

// Unix time in milliseconds; injected so tests can move time.
using Clock = std::function<int64_t()>;
int64_t system_now_ms();

class LedgerWriter {
 public:
  using Done = std::function<void(Result<LedgerOutcome>)>;

  // `partitions` writer threads (at least one); see ledger_partitions_for(). A failed batch is
  // logged to `log` when given (its callers only see a 503 without the store's detail).
  LedgerWriter(Store& store, size_t partitions = 1, Logger* log = nullptr,
               Clock clock = system_now_ms);
  ~LedgerWriter();  // applies what is already queued, then stops; later submits get 503
  LedgerWriter(const LedgerWriter&) = delete;
  LedgerWriter& operator=(const LedgerWriter&) = delete;

  // Queues a command; `done` runs once its batch commits or fails (see kInlineAnswersMax for
  // the thread). `decided`, when given, runs earlier with the tentative outcome, once the batch
  // has decided it and before the commit makes it durable (through the answerer when one is
  // set, so the commit is not held up): a caller may start work that depends on the outcome,
  // but must not let anything out until `done` confirms it. A batch that fails before deciding
  // never calls `decided`.
  void submit(LedgerCommand command, Done done, Done decided = {});

  // Submits and waits: for callers that are not on an I/O thread (the CLI, tests).
  Result<LedgerOutcome> apply(LedgerCommand command);

  // Where answers to batches of more than kInlineAnswersMax commands run: `run_later` must run
  // the function it is given once, on another thread (the server posts it to its io_context).
  // Until this is set, every answer runs on the writer thread.
  using Answerer = std::function<void(std::function<void()>)>;
  void answer_through(Answerer run_later);

  // Records each batch's size and commit time into `metrics` (which must outlive the writer);
  // set before the first submit.
  void measure_with(Metrics* metrics) { metrics_ = metrics; }

 private:
  struct Pending {
    LedgerCommand command;
    Done done;
    Done decided;
  };
  // Shared with the answers handed off to another thread.
  using Batch = std::vector<Pending>;
  struct Partition {
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<Pending> queue;
    bool stopping = false;
    std::thread thread;
  };
  void run(Partition& partition, bool housekeeper);
  // The next batch, waiting up to kHoldSweepInterval for one; `stop` when the partition is
  // stopping with nothing left.
  std::shared_ptr<Batch> take(Partition& partition, bool& stop);
  void apply_batch(const std::shared_ptr<Batch>& batch, int64_t now_ms);
  void answer(const std::shared_ptr<Batch>& batch, Result<std::vector<LedgerOutcome>> outcomes);
  // Runs the caller's `done` once (later calls do nothing); an exception from it is logged.
  void answer_one(Pending& pending, Result<LedgerOutcome> outcome) noexcept;
  void tell_decided(const Batch& batch, const std::vector<LedgerOutcome>& outcomes);
  void log_error(std::string_view event, std::string_view during, std::exception_ptr error,
                 size_t commands) noexcept;
  void run_or_hand_off(bool hand_off, std::function<void()> answers);
  void housekeeping(int64_t now_ms);
  Partition& partition_for(const LedgerCommand& command);

  Store& store_;
  Logger* log_;
  Metrics* metrics_ = nullptr;
  Clock clock_;
  std::chrono::steady_clock::time_point next_hold_sweep_;
  std::chrono::steady_clock::time_point next_purge_;
  std::vector<std::unique_ptr<Partition>> partitions_;
  std::mutex answerer_mutex_;
  Answerer answerer_;
};

// One writer for SQLite (a single writer is all it has), kPostgresLedgerPartitions for PostgreSQL.
size_t ledger_partitions_for(const Store& store);

}  // namespace tollgate::server
