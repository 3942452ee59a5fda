#include "server/ledger/ledger_writer.h"

#include <future>

namespace tollgate::server {

int64_t system_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

LedgerWriter::LedgerWriter(Store& store, Clock clock)
    : store_(store),
      clock_(std::move(clock)),
      next_hold_sweep_(std::chrono::steady_clock::now()),
      next_purge_(std::chrono::steady_clock::now()),
      thread_([this] { run(); }) {}

LedgerWriter::~LedgerWriter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void LedgerWriter::submit(LedgerCommand command, Done done) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_ && queue_.size() < kQueueCommandsMax) {
      queue_.push_back({std::move(command), std::move(done)});
      if (queue_.size() == 1) wake_.notify_one();
      return;
    }
  }
  done(fail(ErrorCode::kStoreUnavailable,
            stopping_ ? "the server is shutting down" : "the ledger is overloaded; retry shortly"));
}

Result<LedgerOutcome> LedgerWriter::apply(LedgerCommand command) {
  std::promise<Result<LedgerOutcome>> promise;
  auto future = promise.get_future();
  submit(std::move(command),
         [&promise](Result<LedgerOutcome> outcome) { promise.set_value(std::move(outcome)); });
  return future.get();
}

void LedgerWriter::run() {
  std::vector<Pending> batch;
  std::vector<LedgerCommand> commands;
  while (true) {
    batch.clear();
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, kHoldSweepInterval, [this] { return stopping_ || !queue_.empty(); });
      if (!queue_.empty() && queue_.size() < kBatchCommandsMax && kBatchLinger.count() > 0) {
        wake_.wait_for(lock, kBatchLinger, [this] { return stopping_ || queue_.size() >= kBatchCommandsMax; });
      }
      while (!queue_.empty() && batch.size() < kBatchCommandsMax) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      if (batch.empty() && stopping_) return;
    }
    int64_t now_ms = clock_();
    if (!batch.empty()) {
      commands.clear();
      for (Pending& pending : batch) commands.push_back(std::move(pending.command));
      auto outcomes = store_.apply(commands, now_ms);
      for (size_t i = 0; i < batch.size(); ++i) {
        if (outcomes) {
          batch[i].done(std::move(outcomes.value()[i]));
        } else {
          batch[i].done(outcomes.error());
        }
      }
    }
    housekeeping(now_ms);
  }
}

void LedgerWriter::housekeeping(int64_t now_ms) {
  auto now = std::chrono::steady_clock::now();
  if (now >= next_hold_sweep_) {
    next_hold_sweep_ = now + kHoldSweepInterval;
    LedgerCommand sweep{ExpireHoldsCommand{}, std::nullopt};
    (void)store_.apply(std::span<const LedgerCommand>(&sweep, 1), now_ms);
  }
  if (now >= next_purge_) {
    next_purge_ = now + kIdempotencyPurgeInterval;
    (void)store_.purge_idempotency(now_ms);
  }
}

}  // namespace tollgate::server
