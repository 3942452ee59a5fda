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
  std::vector<Pending> batch;
  std::vector<LedgerCommand> commands;
  while (true) {
    batch.clear();
    {
      std::unique_lock lock(partition.mutex);
      partition.wake.wait_for(lock, kHoldSweepInterval,
                              [&] { return partition.stopping || !partition.queue.empty(); });
      if (!partition.queue.empty() && partition.queue.size() < kBatchCommandsMax &&
          kBatchLinger.count() > 0) {
        partition.wake.wait_for(lock, kBatchLinger, [&] {
          return partition.stopping || partition.queue.size() >= kBatchCommandsMax;
        });
      }
      while (!partition.queue.empty() && batch.size() < kBatchCommandsMax) {
        batch.push_back(std::move(partition.queue.front()));
        partition.queue.pop_front();
      }
      if (batch.empty() && partition.stopping) return;
    }
    int64_t now_ms = clock_();
    if (!batch.empty()) {
      commands.clear();
      for (Pending& pending : batch) commands.push_back(std::move(pending.command));
      bool any_decided = std::any_of(batch.begin(), batch.end(),
                                     [](const Pending& pending) { return bool(pending.decided); });
      Store::Decided decided;
      if (any_decided) {
        decided = [this, &batch](const std::vector<LedgerOutcome>& outcomes) {
          tell_decided(batch, outcomes);
        };
      }
      auto outcomes = store_.apply(commands, now_ms, decided);
      if (!outcomes && log_ != nullptr) {
        log_->warn("ledger_batch_failed",
                    {{"commands", batch.size()}, {"reason", outcomes.error().message}});
      }
      answer(batch, std::move(outcomes));
    }
    if (housekeeper) housekeeping(now_ms);
  }
}

void LedgerWriter::answer_through(Answerer run_later) {
  std::lock_guard lock(answerer_mutex_);
  answerer_ = std::move(run_later);
}

void LedgerWriter::answer(std::vector<Pending>& batch, Result<std::vector<LedgerOutcome>> outcomes) {
  bool hand_off = batch.size() > kInlineAnswersMax;
  run_or_hand_off(hand_off, [pending = std::move(batch), results = std::move(outcomes)]() mutable {
    for (size_t i = 0; i < pending.size(); ++i) {
      if (results) {
        pending[i].done(std::move(results.value()[i]));
      } else {
        pending[i].done(results.error());
      }
    }
  });
  batch.clear();
}

void LedgerWriter::tell_decided(const std::vector<Pending>& batch,
                                const std::vector<LedgerOutcome>& outcomes) {
  std::vector<std::pair<Done, LedgerOutcome>> told;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (batch[i].decided) told.emplace_back(batch[i].decided, outcomes[i]);
  }
  run_or_hand_off(true, [told = std::move(told)]() mutable {
    for (auto& [decided, outcome] : told) decided(std::move(outcome));
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
