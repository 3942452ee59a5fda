// The metered call: reserve → call the model → settle. Every entry point that spends on a model
// (runtime invoke; the chat-completions gateway next) runs through here, so none goes around a
// budget level: the hold covers the worst case at every level at once (the ledger decides the
// project budget, the user's credits and spend cap and the invocation limits in one
// transaction), and the close charges what the provider reported, never more than the hold.
//
// One call is a state machine under one lock (`mutex_`):
//
//   kReserving ── refused ──────────────→ refuse(): nothing ran, nothing was charged
//       │  └─ the commit failed, or an exception while opening ─→ kAbandoned (the call stops)
//       ▼  committed
//   kOpening      the listener is being made; provider output waits, in order
//       ▼  the listener exists
//   kRunning      output reaches the listener; a repair or fallback attempt stays here
//
// and, in any phase after the commit, `closing_` (the settle or release is submitted; later
// provider output is dropped) and then `answered_` (the listener had its last word, once).
// The provider is started as soon as the ledger has decided the hold, while the commit is made
// durable, so the two overlap; but nothing reaches the listener before kRunning. A hold whose
// commit fails cancels the call, which then cost nothing and sent nothing.
//
// Steps that handle provider output run one at a time (the provider delivers in order, and the
// gate replays what waited before later steps run), so the fields only they touch need no lock.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "server/ai/http_client.h"
#include "server/ai/model.h"
#include "server/ai/pricing_catalog.h"
#include "server/calls/call_price.h"
#include "server/calls/hold_ttl.h"
#include "server/ledger/hold_close.h"
#include "server/ledger/ledger_writer.h"
#include "server/log/logger.h"
#include "server/metrics/metrics.h"
#include "tollgate/structured/json_schema.h"
#include "tollgate/structured/partial_json.h"

namespace tollgate::server {

// ---- The call --------------------------------------------------------------------------

// Partial structured output is sent with every delta for the first kPartialEveryDeltaBytes of
// output, then at most once per kPartialEveryBytes new bytes, so re-sending the growing object
// stays a bounded share of a long stream.
inline constexpr size_t kPartialEveryDeltaBytes = 2048;
inline constexpr size_t kPartialEveryBytes = 256;
// A structured answer nests at most as deep as the partial parser follows it.
inline constexpr size_t kAnswerDepthMax = structured::kJsonDepthMax;
// The usual size of a token in English text; estimates only, when a provider reported none.
inline constexpr int64_t kBytesPerEstimatedToken = 4;

// What a call needs of the server.
struct MeteredCallDeps {
  LedgerWriter& ledger;
  const PricingCatalog& pricing;
  Clock now_ms;
  UpstreamTimeouts timeouts;
  RunAfter run_after;
  Logger* log = nullptr;
  Metrics* metrics = nullptr;
};

// A provider by name (the fallback's is resolved only when it is needed).
using ResolveProvider =
    std::function<Result<std::unique_ptr<ModelProvider>>(const std::string& provider)>;

struct MeteredCallPlan {
  std::string project_id;
  std::string user_id;
  std::string label;     // what the hold and the logs name the call by: the feature's slug
  ModelRequest request;  // the prompt; its `model` is the primary's
  ModelChoice primary;
  std::optional<ModelChoice> fallback;
  pricing::FeaturePrice price;                   // how provider spend becomes credits
  std::optional<structured::JsonSchema> schema;  // the answer must match it (one repair)
  std::vector<InvocationLimit> limits;           // counted by the ledger with the hold
  bool stream = false;
  // A call made with a user key: the key's cap is reserved with the rest, and the hold records
  // the model for usage reports.
  std::optional<KeyBudget> key;
};

// How a call that ran ended: what the listener's settled() renders.
struct CallOutcome {
  const std::string& hold_id;
  const std::string& model_name;  // "provider/model" of the model that answered
  const ModelAnswer& answer;
  const std::optional<nlohmann::json>& parsed;  // the answer, when it matched the schema
  const std::vector<ChatMessage>& messages;     // the prompt as last sent
  pricing::Usage usage;
  bool usage_reported = true;
  int64_t credits = 0;
  int64_t micros = 0;
  int64_t remaining = 0;  // the user's balance after the charge
};

// Where a running call's output goes. Calls come one at a time; settled() or failed() is the
// last, and comes once.
class CallListener {
 public:
  virtual ~CallListener() = default;
  virtual void text(std::string_view delta) = 0;
  virtual void tool_call(const ModelDelta& delta) = 0;
  virtual void partial(const nlohmann::json& parsed) = 0;
  virtual void repairing(std::string_view reason) = 0;
  virtual void fell_back(std::string_view model_name) = 0;
  virtual void settled(const CallOutcome& outcome) = 0;
  virtual void failed(const Error& error) = 0;
};

// Why the hold was refused: nothing ran.
struct Refusal {
  Error error;
  int64_t balance = 0;                           // the user's, when the ledger reported it
  int64_t credits = 0;                           // what the call would have reserved
  std::optional<int64_t> remaining_micros = {};  // refused at a spend cap: what it leaves
};

class MeteredCall : public std::enable_shared_from_this<MeteredCall> {
 public:
  using Ready = std::function<void(std::shared_ptr<CallListener>)>;
  using OpenListener = std::function<void(Ready ready)>;
  using Refuse = std::function<void(const Refusal&)>;

  // Everything that can be refused before any money moves: the primary's provider, the price.
  static Result<std::shared_ptr<MeteredCall>> prepare(MeteredCallDeps deps, MeteredCallPlan plan,
                                                      ResolveProvider resolve);

  // Reserves, then runs. `open` is called once the hold is durable and hands over the listener;
  // `refuse` answers instead when the hold was refused or could not be made.
  void start(OpenListener open, Refuse refuse);

  // The client went away: the provider stops; what it produced is still charged.
  void cancel();

  int64_t reserved_credits() const { return hold_.reserved_credits; }
  // The hold's id, once start() chose it.
  const std::string& hold_id() const { return hold_id_; }
  // Whether the answer is checked against a schema (and may be repaired, replacing the text
  // streamed so far).
  bool validates_output() const { return plan_.schema.has_value(); }
  // What the call reserves, and its prompt.
  const HoldPrice& hold() const { return hold_; }
  const ModelRequest& request() const { return plan_.request; }

  // For make_shared only: use prepare().
  MeteredCall(MeteredCallDeps deps, MeteredCallPlan plan, ResolveProvider resolve, HoldPrice hold,
              std::unique_ptr<ModelProvider> model);

 private:
  enum class Phase { kReserving, kOpening, kRunning, kAbandoned };

  void on_reserved(const Result<LedgerOutcome>& outcome, const OpenListener& open,
                   const Refuse& refuse) noexcept;
  void when_running(std::function<void()> step);
  void open_gate();
  void abandon();
  bool begin_close();
  bool closing();
  bool cancelled();
  void call_model_once();
  void call_model();
  bool end_attempt(const std::shared_ptr<bool>& ended);
  void on_delta(const ModelDelta& delta);
  void on_model_done(ModelResult result);
  bool switch_to_fallback();
  void log_failure(const ModelFailure& failure);
  pricing::Usage estimated_usage(const ModelAnswer& produced) const;
  void add_usage(const ModelAnswer& answer);
  void release(const Error& error);
  void settle(ModelAnswer answer, std::optional<Error> error);
  void answer_settled(const Result<LedgerOutcome>& outcome, const ModelAnswer& answer,
                      const std::optional<Error>& error, int64_t credits, int64_t micros);
  void answer_error(const Error& error);
  std::shared_ptr<CallListener> listener();
  void hold_closed();
  void count_call(const ModelResult& result);
  void time_first_delta();
  void log_exception(std::string_view what);
  void guarded(const std::function<void()>& step, bool call_running) noexcept;

  MeteredCallDeps deps_;
  MeteredCallPlan plan_;
  ResolveProvider resolve_;
  HoldPrice hold_;
  std::string hold_id_;

  // Touched only by the steps, which run one at a time.
  ModelRequest& request_ = plan_.request;
  std::unique_ptr<ModelProvider> model_;
  std::string model_name_;     // "provider/model" of the model answering
  std::string provider_name_;  // its provider, as metrics label it
  pricing::ModelPrice price_;  // its price per token
  bool fallback_used_ = false;
  bool charged_ = false;  // an attempt produced something, so the call is charged
  bool broken_ = false;   // a step threw while the provider call ran: it is being stopped
  int attempts_ = 0;
  pricing::Usage used_;
  bool usage_missing_ = false;
  std::optional<structured::PartialJsonParser> partial_;
  size_t partial_sent_at_ = 0;
  bool partial_failed_ = false;
  std::optional<nlohmann::json> parsed_;

  // The one lock, and what it guards.
  std::mutex mutex_;
  Phase phase_ = Phase::kReserving;
  std::vector<std::function<void()>> waiting_;  // steps that arrived before kRunning
  std::shared_ptr<CallListener> listener_;
  std::shared_ptr<ModelCall> call_;
  bool call_started_ = false;
  bool cancelled_ = false;
  bool closing_ = false;
  bool answered_ = false;
  bool hold_counted_ = false;       // counted in metrics' open holds, not yet closed
  int64_t attempt_started_ns_ = 0;  // the current attempt's start, until its first delta
};

}  // namespace tollgate::server
