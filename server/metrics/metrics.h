// What the server counts for GET /metrics, in the Prometheus text format (version 0.0.4).
//
// One Metrics object lives for the whole process; every recording call is thread-safe and cheap
// on the request path: an existing series is found under a shared lock and bumped with relaxed
// atomics, and only the first use of a new label set takes the exclusive lock. Label values come
// from bounded sets (route templates, status codes, provider names, outcomes), and each family
// still holds at most kSeriesPerFamilyMax series: later label sets are counted under the value
// "other" so that no client or tenant can grow the server's memory through labels.
//
// Times are recorded in microseconds and rendered in seconds; sizes as plain counts.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace tollgate::server {

inline constexpr size_t kSeriesPerFamilyMax = 1'000;

// Upper bounds of a histogram's buckets, ascending, in the unit it records (µs or a count).
using Bounds = std::vector<int64_t>;

// A histogram's buckets (each bucket counts observations <= its bound; +Inf is count), its count
// and its sum. Thread-safe.
class Histogram {
 public:
  explicit Histogram(const Bounds& bounds);
  void observe(int64_t value);

  const Bounds& bounds() const { return bounds_; }
  uint64_t bucket(size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  int64_t sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  const Bounds& bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // not cumulative; render() adds them up
  std::atomic<uint64_t> count_{0};
  std::atomic<int64_t> sum_{0};
};

// The labels of one series, in order: {{"route", "/v1/meter"}, {"status", "200"}}.
using Labels = std::vector<std::pair<std::string_view, std::string_view>>;

// Connection figures the HTTP server reports when scraped.
struct ConnectionFigures {
  uint64_t open = 0;
  uint64_t shed_total = 0;
  uint64_t refused_full_total = 0;
  uint64_t refused_client_full_total = 0;
  uint64_t refused_draining_total = 0;
};

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // One answered HTTP request. `route` is the matched route template, or empty when none matched.
  void request(std::string_view method, std::string_view route, int status, int64_t duration_us);
  // One POST /v1/meter decision.
  void meter_decision(bool allowed);
  // One ledger batch that committed (or failed): its commands and its commit's duration.
  void ledger_batch(size_t commands, int64_t commit_us);
  // One provider call and how it ended ("ok", "error", "timeout", "invalid_answer", …).
  void provider_call(std::string_view provider, std::string_view outcome);
  // What one call used, as the provider reported it (or as estimated), and what it cost.
  void provider_usage(std::string_view provider, int64_t input_tokens, int64_t output_tokens,
                      int64_t spend_micros);
  // From sending a streamed provider call to its first delta.
  void time_to_first_token(std::string_view provider, int64_t duration_us);
  // Holds this process reserved and has not yet settled or released.
  void hold_opened() { open_holds_.fetch_add(1, std::memory_order_relaxed); }
  void hold_closed() { open_holds_.fetch_sub(1, std::memory_order_relaxed); }

  // Where connection figures come from; set once before serving (the server exists after the
  // router, so after the /metrics route).
  void connections_from(std::function<ConnectionFigures()> source);

  // The text exposition of everything recorded so far.
  std::string render() const;

 private:
  template <typename Series>
  class Family;

  struct Counter {
    std::atomic<uint64_t> value{0};
  };

  std::unique_ptr<Family<Counter>> requests_;
  std::unique_ptr<Family<Histogram>> request_seconds_;
  std::array<std::atomic<uint64_t>, 2> meter_{};  // blocked, allowed
  std::unique_ptr<Histogram> batch_commands_;
  std::unique_ptr<Histogram> batch_commit_seconds_;
  std::unique_ptr<Family<Counter>> provider_calls_;
  std::unique_ptr<Family<Counter>> provider_tokens_;
  std::unique_ptr<Family<Counter>> provider_spend_;
  std::unique_ptr<Family<Histogram>> first_token_seconds_;
  std::atomic<int64_t> open_holds_{0};
  std::function<ConnectionFigures()> connections_;
};

// Escapes a label value as the text format requires (backslash, double quote, newline).
std::string escape_label_value(std::string_view value);

}  // namespace tollgate::server
