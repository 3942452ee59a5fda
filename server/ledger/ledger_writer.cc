#include "server/ledger/ledger_writer.h"

#include <algorithm>
#include <future>

namespace tollgate::server {

int64_t system_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

size_t ledger_partitions_for(const Store& store) {
  return store.kind() == "postgres" ? kPostgresLedgerPartitions : 1;
}

LedgerWriter::LedgerWriter(Store& store, size_t partitions, Logger* log, Clock clock)
    : store_(store),
      log_(log),
      clock_(std::move(clock)),
      next_hold_sweep_(std::chrono::steady_clock::now()),
      next_purge_(std::chrono::steady_clock::now()) {
  for (size_t i = 0; i < std::max<size_t>(partitions, 1); ++i)
    partitions_.push_back(std::make_unique<Partition>());
  for (size_t i = 0; i < partitions_.size(); ++i) {
    Partition& partition = *partitions_[i];
    partition.thread = std::thread([this, &partition, i] { run(partition, i == 0); });
  }
}

LedgerWriter::~LedgerWriter() {
  for (auto& partition : partitions_) {
    {
      std::lock_guard lock(partition->mutex);
      partition->stopping = true;
    }
    partition->wake.notify_one();
  }
  for (auto& partition : partitions_) partition->thread.join();
}

LedgerWriter::Partition& LedgerWriter::partition_for(const LedgerCommand& command) {
  if (partitions_.size() == 1) return *partitions_[0];
  std::string key = std::visit(
      [](const auto& body) -> std::string {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, SettleCommand> || std::is_same_v<T, ReleaseCommand>) {
          return body.hold_id;
        } else if constexpr (std::is_same_v<T, ExpireHoldsCommand>) {
          return {};
        } else if constexpr (std::is_same_v<T, KeyCreditCommand>) {
          return body.key_id;
        } else {
          return body.project_id + '\n' + body.user_id;
        }
      },
      command.body);
  return *partitions_[std::hash<std::string>{}(key) % partitions_.size()];
}

void LedgerWriter::submit(LedgerCommand command, Done done, Done decided) {
  Partition& partition = partition_for(command);
  bool stopping = false;
  {
    std::lock_guard lock(partition.mutex);
    stopping = partition.stopping;
    if (!stopping && partition.queue.size() < kQueueCommandsMax) {
      partition.queue.push_back({std::move(command), std::move(done), std::move(decided)});
      if (partition.queue.size() == 1) partition.wake.notify_one();
      return;
    }
  }
  done(fail(ErrorCode::kStoreUnavailable,
            stopping ? "the server is shutting down" : "the ledger is overloaded; retry shortly"));
}

Result<LedgerOutcome> LedgerWriter::apply(LedgerCommand command) {
  std::promise<Result<LedgerOutcome>> promise;
  auto future = promise.get_future();
  submit(std::move(command),
         [&promise](Result<LedgerOutcome> outcome) { promise.set_value(std::move(outcome)); });
  return future.get();
}

void LedgerWriter::run(Partition& partition, bool housekeeper) {
  while (true) {
    std::shared_ptr<Batch> batch;
    bool stop = false;
    try {
      batch = take(partition, stop);
    } catch (...) {
      log_error("ledger_writer_error", "taking a batch", std::current_exception(), 0);
      continue;  // whatever was taken is still queued, or went with the exception (bad_alloc)
    }
    if (stop) return;
    int64_t now_ms = 0;
    try {
      now_ms = clock_();
      if (!batch->empty()) apply_batch(batch, now_ms);
    } catch (...) {
      // A bug or bad_alloc: fail closed. Nothing of the batch was committed (an exception
      // unwinding through the store rolls its transaction back), so every caller not yet
      // answered gets 503.
      log_error("ledger_batch_failed", "applying a batch", std::current_exception(), batch->size());
      for (Pending& pending : *batch) {
        answer_one(pending, fail(ErrorCode::kStoreUnavailable,
                                 "the ledger could not apply this request; retry shortly"));
      }
    }
    if (!housekeeper) continue;
    try {
      housekeeping(now_ms != 0 ? now_ms : clock_());
    } catch (...) {
      log_error("ledger_housekeeping_failed", "housekeeping", std::current_exception(), 0);
    }
  }
}

std::shared_ptr<LedgerWriter::Batch> LedgerWriter::take(Partition& partition, bool& stop) {
  auto batch = std::make_shared<Batch>();
  std::unique_lock lock(partition.mutex);
  partition.wake.wait_for(lock, kHoldSweepInterval,
                          [&] { return partition.stopping || !partition.queue.empty(); });
  if (!partition.queue.empty() && partition.queue.size() < kBatchCommandsMax &&
      kBatchLinger.count() > 0) {
    partition.wake.wait_for(lock, kBatchLinger, [&] {
      return partition.stopping || partition.queue.size() >= kBatchCommandsMax;
    });
  }
  batch->reserve(std::min(partition.queue.size(), kBatchCommandsMax));
  while (!partition.queue.empty() && batch->size() < kBatchCommandsMax) {
    batch->push_back(std::move(partition.queue.front()));
    partition.queue.pop_front();
  }
  stop = batch->empty() && partition.stopping;
  return batch;
}

void LedgerWriter::apply_batch(const std::shared_ptr<Batch>& batch, int64_t now_ms) {
  std::vector<LedgerCommand> commands;
  commands.reserve(batch->size());
  // Moved out: answering a caller, even after an exception, needs only its `done`.
  for (Pending& pending : *batch) commands.push_back(std::move(pending.command));
  bool any_decided = std::any_of(batch->begin(), batch->end(),
                                 [](const Pending& pending) { return bool(pending.decided); });
  Store::Decided decided;
  if (any_decided) {
    decided = [this, &batch](const std::vector<LedgerOutcome>& outcomes) {
      tell_decided(*batch, outcomes);
    };
  }
  auto started = std::chrono::steady_clock::now();
  auto outcomes = store_.apply(commands, now_ms, decided);
  if (metrics_ != nullptr) {
    metrics_->ledger_batch(commands.size(), std::chrono::duration_cast<std::chrono::microseconds>(
                                                std::chrono::steady_clock::now() - started)
                                                .count());
  }
  if (!outcomes && log_ != nullptr) {
    log_->warn("ledger_batch_failed",
               {{"commands", batch->size()}, {"reason", outcomes.error().message}});
  }
  answer(batch, std::move(outcomes));
}

void LedgerWriter::answer_one(Pending& pending, Result<LedgerOutcome> outcome) noexcept {
  Done done = std::move(pending.done);
  pending.done = nullptr;
  if (!done) return;  // answered already
  try {
    done(std::move(outcome));
  } catch (...) {
    log_error("ledger_answer_failed", "answering a caller", std::current_exception(), 1);
  }
}

void LedgerWriter::log_error(std::string_view event, std::string_view during,
                             std::exception_ptr error, size_t commands) noexcept {
  if (log_ == nullptr) return;
  try {
    log_->error(event, {{"during", during},
                        {"commands", commands},
                        {"exception", exception_text(std::move(error))}});
  } catch (...) {
    // Out of memory even for the log line: the writer goes on regardless.
  }
}

void LedgerWriter::answer_through(Answerer run_later) {
  std::lock_guard lock(answerer_mutex_);
  answerer_ = std::move(run_later);
}

void LedgerWriter::answer(const std::shared_ptr<Batch>& batch,
                          Result<std::vector<LedgerOutcome>> outcomes) {
  bool hand_off = batch->size() > kInlineAnswersMax;
  auto results = std::make_shared<Result<std::vector<LedgerOutcome>>>(std::move(outcomes));
  run_or_hand_off(hand_off, [this, batch, results] {
    for (size_t i = 0; i < batch->size(); ++i) {
      if (results->ok() && i < results->value().size()) {
        answer_one((*batch)[i], std::move(results->value()[i]));
      } else if (results->ok()) {
        answer_one((*batch)[i], fail(ErrorCode::kInternal, "the ledger lost an outcome"));
      } else {
        answer_one((*batch)[i], results->error());
      }
    }
  });
}

void LedgerWriter::tell_decided(const Batch& batch, const std::vector<LedgerOutcome>& outcomes) {
  std::vector<std::pair<Done, LedgerOutcome>> told;
  for (size_t i = 0; i < batch.size() && i < outcomes.size(); ++i) {
    if (batch[i].decided) told.emplace_back(batch[i].decided, outcomes[i]);
  }
  run_or_hand_off(true, [this, told = std::move(told)]() mutable {
    for (auto& [decided, outcome] : told) {
      try {
        decided(std::move(outcome));
      } catch (...) {
        log_error("ledger_answer_failed", "telling a caller its decision", std::current_exception(),
                  1);
      }
    }
  });
}

// One hand-off per batch, not per command; inline when there is no answerer.
void LedgerWriter::run_or_hand_off(bool hand_off, std::function<void()> answers) {
  Answerer answerer;
  if (hand_off) {
    std::lock_guard lock(answerer_mutex_);
    answerer = answerer_;
  }
  if (answerer) return answerer(std::move(answers));
  answers();
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
