#include "server/metrics/metrics.h"

#include <algorithm>
#include <iterator>
#include <mutex>
#include <utility>

namespace tollgate::server {
namespace {

// Request and provider latencies: 1 ms to 60 s, in µs.
const Bounds kLatencyBoundsUs = {1'000,     2'500,     5'000,      10'000,     25'000,
                                 50'000,    100'000,   250'000,    500'000,    1'000'000,
                                 2'500'000, 5'000'000, 10'000'000, 30'000'000, 60'000'000};
// Ledger commits: 50 µs to 1 s.
const Bounds kCommitBoundsUs = {50,     100,    250,    500,     1'000,   2'500,    5'000,
                                10'000, 25'000, 50'000, 100'000, 250'000, 1'000'000};
// Commands in a batch: 1 to the batch maximum (server/ledger/ledger_writer.h).
const Bounds kBatchCommandBounds = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096};

// Microseconds as exact decimal seconds ("0.0025"); durations are never negative.
std::string seconds_text(int64_t us) {
  if (us < 0) us = 0;
  std::string whole = std::to_string(us / 1'000'000);
  std::string fraction = std::to_string(1'000'000 + us % 1'000'000).substr(1);
  while (!fraction.empty() && fraction.back() == '0') fraction.pop_back();
  return fraction.empty() ? whole : whole + "." + fraction;
}

std::string label_text(const std::vector<std::pair<std::string, std::string>>& labels,
                       std::string_view extra_name = {}, std::string_view extra_value = {}) {
  std::string out;
  auto add = [&out](std::string_view name, std::string_view value) {
    out += out.empty() ? "{" : ",";
    out.append(name).append("=\"").append(escape_label_value(value)).append("\"");
  };
  for (const auto& [name, value] : labels) add(name, value);
  if (!extra_name.empty()) add(extra_name, extra_value);
  if (!out.empty()) out += "}";
  return out;
}

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void sample(std::string& out, std::string_view name, const std::string& labels,
            const std::string& value) {
  out.append(name).append(labels).append(" ").append(value).append("\n");
}

// `scale_us`: the histogram records µs and renders seconds.
void histogram_samples(std::string& out, std::string_view name,
                       const std::vector<std::pair<std::string, std::string>>& labels,
                       const Histogram& histogram, bool scale_us) {
  auto number = [scale_us](int64_t value) {
    return scale_us ? seconds_text(value) : std::to_string(value);
  };
  const std::string bucket = std::string(name) + "_bucket";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < histogram.bounds().size(); ++i) {
    cumulative += histogram.bucket(i);
    sample(out, bucket, label_text(labels, "le", number(histogram.bounds()[i])),
           std::to_string(cumulative));
  }
  // Read count last and never below the buckets, so +Inf stays >= every bucket while
  // observations race the scrape.
  uint64_t count = std::max(histogram.count(), cumulative);
  sample(out, bucket, label_text(labels, "le", "+Inf"), std::to_string(count));
  sample(out, std::string(name) + "_sum", label_text(labels), number(histogram.sum()));
  sample(out, std::string(name) + "_count", label_text(labels), std::to_string(count));
}

}  // namespace

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

Histogram::Histogram(const Bounds& bounds)
    : bounds_(bounds), buckets_(new std::atomic<uint64_t>[bounds.size()]) {
  for (size_t i = 0; i < bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(int64_t value) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (value <= bounds_[i]) {
      buckets_[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  sum_.fetch_add(value, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

// Series by label values, created on first use, at most kSeriesPerFamilyMax (then "other").
template <typename Series>
class Metrics::Family {
 public:
  using Key = std::vector<std::string>;
  Family(std::vector<std::string_view> names, std::function<std::unique_ptr<Series>()> make)
      : names_(names.begin(), names.end()), make_(std::move(make)) {}

  Series& at(std::initializer_list<std::string_view> values) {
    Key key(values.begin(), values.end());
    {
      std::shared_lock lock(mutex_);
      if (auto found = series_.find(key); found != series_.end()) return *found->second;
    }
    std::unique_lock lock(mutex_);
    if (series_.size() >= kSeriesPerFamilyMax && !series_.count(key))
      key.assign(key.size(), "other");
    auto& slot = series_[key];
    if (!slot) slot = make_();
    return *slot;
  }

  // Calls visit(labels, series) for every series, in label order.
  template <typename Visit>
  void each(Visit visit) const {
    std::shared_lock lock(mutex_);
    for (const auto& [key, series] : series_) {
      std::vector<std::pair<std::string, std::string>> labels;
      for (size_t i = 0; i < names_.size(); ++i) labels.emplace_back(names_[i], key[i]);
      visit(labels, *series);
    }
  }

 private:
  std::vector<std::string> names_;
  std::function<std::unique_ptr<Series>()> make_;
  mutable std::shared_mutex mutex_;
  std::map<Key, std::unique_ptr<Series>> series_;
};

namespace {
template <typename Series>
std::function<std::unique_ptr<Series>()> maker() {
  return [] { return std::make_unique<Series>(); };
}
std::function<std::unique_ptr<Histogram>()> histogram_maker(const Bounds& bounds) {
  return [&bounds] { return std::make_unique<Histogram>(bounds); };
}
}  // namespace

Metrics::Metrics()
    : requests_(std::make_unique<Family<Counter>>(
          std::vector<std::string_view>{"method", "route", "status"}, maker<Counter>())),
      request_seconds_(std::make_unique<Family<Histogram>>(
          std::vector<std::string_view>{"method", "route"}, histogram_maker(kLatencyBoundsUs))),
      batch_commands_(std::make_unique<Histogram>(kBatchCommandBounds)),
      batch_commit_seconds_(std::make_unique<Histogram>(kCommitBoundsUs)),
      provider_calls_(std::make_unique<Family<Counter>>(
          std::vector<std::string_view>{"provider", "outcome"}, maker<Counter>())),
      provider_tokens_(std::make_unique<Family<Counter>>(
          std::vector<std::string_view>{"provider", "kind"}, maker<Counter>())),
      provider_spend_(std::make_unique<Family<Counter>>(std::vector<std::string_view>{"provider"},
                                                        maker<Counter>())),
      first_token_seconds_(std::make_unique<Family<Histogram>>(
          std::vector<std::string_view>{"provider"}, histogram_maker(kLatencyBoundsUs))) {}

Metrics::~Metrics() = default;

void Metrics::request(std::string_view method, std::string_view route, int status,
                      int64_t duration_us) {
  if (route.empty()) route = "unmatched";
  // A client may send any token as its method; only the ones the API uses become labels.
  static constexpr std::string_view kMethods[] = {"GET",   "HEAD",   "POST",   "PUT",
                                                  "PATCH", "DELETE", "OPTIONS"};
  if (std::find(std::begin(kMethods), std::end(kMethods), method) == std::end(kMethods))
    method = "other";
  std::string code = std::to_string(status);
  requests_->at({method, route, code}).value.fetch_add(1, std::memory_order_relaxed);
  request_seconds_->at({method, route}).observe(duration_us);
}

void Metrics::meter_decision(bool allowed) {
  meter_[allowed ? 1 : 0].fetch_add(1, std::memory_order_relaxed);
}

void Metrics::ledger_batch(size_t commands, int64_t commit_us) {
  batch_commands_->observe(static_cast<int64_t>(commands));
  batch_commit_seconds_->observe(commit_us);
}

void Metrics::provider_call(std::string_view provider, std::string_view outcome) {
  provider_calls_->at({provider, outcome}).value.fetch_add(1, std::memory_order_relaxed);
}

void Metrics::provider_usage(std::string_view provider, int64_t input_tokens, int64_t output_tokens,
                             int64_t spend_micros) {
  // Negative figures never come from the pipeline (usage is checked); clamp anyway so a counter
  // can only go up.
  auto up = [](int64_t value) { return static_cast<uint64_t>(value > 0 ? value : 0); };
  provider_tokens_->at({provider, "input"})
      .value.fetch_add(up(input_tokens), std::memory_order_relaxed);
  provider_tokens_->at({provider, "output"})
      .value.fetch_add(up(output_tokens), std::memory_order_relaxed);
  provider_spend_->at({provider}).value.fetch_add(up(spend_micros), std::memory_order_relaxed);
}

void Metrics::time_to_first_token(std::string_view provider, int64_t duration_us) {
  first_token_seconds_->at({provider}).observe(duration_us);
}

void Metrics::connections_from(std::function<ConnectionFigures()> source) {
  connections_ = std::move(source);
}

std::string Metrics::render() const {
  std::string out;
  auto counters = [&out](std::string_view name, std::string_view help,
                         const Family<Counter>& family) {
    header(out, name, "counter", help);
    family.each([&](const auto& labels, const Counter& counter) {
      sample(out, name, label_text(labels),
             std::to_string(counter.value.load(std::memory_order_relaxed)));
    });
  };
  auto histograms = [&out](std::string_view name, std::string_view help,
                           const Family<Histogram>& family) {
    header(out, name, "histogram", help);
    family.each([&](const auto& labels, const Histogram& histogram) {
      histogram_samples(out, name, labels, histogram, true);
    });
  };

  counters("tollgate_http_requests_total",
           "HTTP requests answered, by method, route template and status.", *requests_);
  histograms("tollgate_http_request_duration_seconds",
             "From a request's last header byte to its answer being queued.", *request_seconds_);

  header(out, "tollgate_meter_decisions_total", "counter", "POST /v1/meter decisions.");
  sample(out, "tollgate_meter_decisions_total", "{decision=\"allowed\"}",
         std::to_string(meter_[1].load(std::memory_order_relaxed)));
  sample(out, "tollgate_meter_decisions_total", "{decision=\"blocked\"}",
         std::to_string(meter_[0].load(std::memory_order_relaxed)));

  header(out, "tollgate_ledger_batch_commands", "histogram", "Ledger commands per batch.");
  histogram_samples(out, "tollgate_ledger_batch_commands", {}, *batch_commands_, false);
  header(out, "tollgate_ledger_commit_duration_seconds", "histogram",
         "Time to apply and commit one ledger batch.");
  histogram_samples(out, "tollgate_ledger_commit_duration_seconds", {}, *batch_commit_seconds_,
                    true);

  counters("tollgate_provider_calls_total", "Model provider calls, by provider and outcome.",
           *provider_calls_);
  counters("tollgate_provider_tokens_total", "Tokens used at providers, input and output.",
           *provider_tokens_);
  counters("tollgate_provider_spend_micros_total",
           "What provider calls cost at catalogue prices, in USD micros.", *provider_spend_);
  histograms("tollgate_provider_time_to_first_token_seconds",
             "From sending a streamed provider call to its first delta.", *first_token_seconds_);

  header(out, "tollgate_open_holds", "gauge",
         "Holds this process reserved and has not yet settled or released.");
  sample(out, "tollgate_open_holds", "",
         std::to_string(open_holds_.load(std::memory_order_relaxed)));

  ConnectionFigures connections = connections_ ? connections_() : ConnectionFigures{};
  header(out, "tollgate_connections_open", "gauge", "Client connections open now.");
  sample(out, "tollgate_connections_open", "", std::to_string(connections.open));
  header(out, "tollgate_connections_shed_total", "counter",
         "Idle or slow connections closed to admit new ones at the connection cap.");
  sample(out, "tollgate_connections_shed_total", "", std::to_string(connections.shed_total));
  header(out, "tollgate_connections_refused_total", "counter",
         "Connections refused, by reason: at the global cap with nothing to shed, at the "
         "per-client cap, or during shutdown.");
  sample(out, "tollgate_connections_refused_total", "{reason=\"full\"}",
         std::to_string(connections.refused_full_total));
  sample(out, "tollgate_connections_refused_total", "{reason=\"client_full\"}",
         std::to_string(connections.refused_client_full_total));
  sample(out, "tollgate_connections_refused_total", "{reason=\"draining\"}",
         std::to_string(connections.refused_draining_total));
  return out;
}

}  // namespace tollgate::server
