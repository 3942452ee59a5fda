#include "server/ledger/hold_close.h"

#include <algorithm>
#include <memory>

namespace tollgate::server {
namespace {

// What the log says about a close: the command, its project and hold.
nlohmann::ordered_json describe(const LedgerCommand& command) {
  nlohmann::ordered_json fields = nlohmann::ordered_json::object();
  if (const auto* settle = std::get_if<SettleCommand>(&command.body)) {
    fields["command"] = "settle";
    fields["project"] = settle->project_id;
    fields["hold"] = settle->hold_id;
    fields["credits"] = settle->credits;
  } else if (const auto* release = std::get_if<ReleaseCommand>(&command.body)) {
    fields["command"] = "release";
    fields["project"] = release->project_id;
    fields["hold"] = release->hold_id;
  } else {
    fields["command"] = "other";
  }
  return fields;
}

class Closing final : public std::enable_shared_from_this<Closing> {
 public:
  Closing(LedgerWriter& ledger, LedgerCommand command, RunAfter run_after, Logger* log,
          LedgerWriter::Done done)
      : ledger_(ledger),
        command_(std::move(command)),
        run_after_(std::move(run_after)),
        log_(log),
        done_(std::move(done)) {}

  void submit() {
    ++attempts_;
    auto self = shared_from_this();
    ledger_.submit(command_,
                   [self](Result<LedgerOutcome> outcome) { self->on_outcome(std::move(outcome)); });
  }

 private:
  void on_outcome(Result<LedgerOutcome> outcome) {
    if (outcome || attempts_ >= kHoldCloseAttemptsMax) {
      if (!outcome) report("error", "hold_close_failed", outcome.error());
      auto done = std::move(done_);
      return done(std::move(outcome));
    }
    report("warn", "hold_close_retry", outcome.error());
    auto self = shared_from_this();
    if (!run_after_) return submit();
    run_after_(hold_close_backoff(attempts_), [self] { self->submit(); });
  }

  void report(std::string_view level, std::string_view event, const Error& error) {
    if (log_ == nullptr) return;
    nlohmann::ordered_json fields = describe(command_);
    fields["attempts"] = attempts_;
    fields["code"] = error_code_name(error.code);
    fields["error"] = error.message;
    log_->log(level, event, std::move(fields));
  }

  LedgerWriter& ledger_;
  LedgerCommand command_;
  RunAfter run_after_;
  Logger* log_;
  LedgerWriter::Done done_;
  int attempts_ = 0;
};

}  // namespace

std::chrono::milliseconds hold_close_backoff(int attempt) {
  int doublings = std::clamp(attempt - 1, 0, 20);
  return std::min(kHoldCloseBackoffCap, kHoldCloseBackoffBase * (int64_t{1} << doublings));
}

std::chrono::milliseconds hold_close_backoff_total() {
  std::chrono::milliseconds total{0};
  for (int attempt = 1; attempt < kHoldCloseAttemptsMax; ++attempt) {
    total += hold_close_backoff(attempt);
  }
  return total;
}

void close_hold(LedgerWriter& ledger, LedgerCommand command, RunAfter run_after, Logger* log,
                LedgerWriter::Done done) {
  std::make_shared<Closing>(ledger, std::move(command), std::move(run_after), log, std::move(done))
      ->submit();
}

}  // namespace tollgate::server
