#include "server/metrics/metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace tollgate::server {
namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

TEST(Metrics, CountsRequestsByMethodRouteAndStatus) {
  Metrics metrics;
  metrics.request("POST", "/v1/meter", 200, 1'500);
  metrics.request("POST", "/v1/meter", 200, 3'000);
  metrics.request("POST", "/v1/meter", 402, 800);
  metrics.request("GET", "", 404, 10);
  metrics.request("BREW", "", 405, 10);
  std::string text = metrics.render();
  EXPECT_TRUE(has_line(text, "# TYPE tollgate_http_requests_total counter"));
  EXPECT_TRUE(has_line(
      text, R"(tollgate_http_requests_total{method="POST",route="/v1/meter",status="200"} 2)"));
  EXPECT_TRUE(has_line(
      text, R"(tollgate_http_requests_total{method="POST",route="/v1/meter",status="402"} 1)"));
  EXPECT_TRUE(has_line(
      text, R"(tollgate_http_requests_total{method="GET",route="unmatched",status="404"} 1)"));
  EXPECT_TRUE(has_line(
      text, R"(tollgate_http_requests_total{method="other",route="unmatched",status="405"} 1)"));
}

TEST(Metrics, HistogramBucketsAreCumulativeInSeconds) {
  Metrics metrics;
  metrics.request("GET", "/healthz", 200, 500);         // <= 1 ms
  metrics.request("GET", "/healthz", 200, 2'000);       // <= 2.5 ms
  metrics.request("GET", "/healthz", 200, 90'000'000);  // beyond the last bound
  std::string text = metrics.render();
  const std::string name = "tollgate_http_request_duration_seconds";
  const std::string labels = R"(method="GET",route="/healthz")";
  EXPECT_TRUE(has_line(text, name + "_bucket{" + labels + R"(,le="0.001"} 1)"));
  EXPECT_TRUE(has_line(text, name + "_bucket{" + labels + R"(,le="0.0025"} 2)"));
  EXPECT_TRUE(has_line(text, name + "_bucket{" + labels + R"(,le="60"} 2)"));
  EXPECT_TRUE(has_line(text, name + "_bucket{" + labels + R"(,le="+Inf"} 3)"));
  EXPECT_TRUE(has_line(text, name + "_count{" + labels + "} 3"));
  EXPECT_TRUE(has_line(text, name + "_sum{" + labels + "} 90.0025"));
}

TEST(Metrics, MeterLedgerProviderHoldsAndConnections) {
  Metrics metrics;
  metrics.meter_decision(true);
  metrics.meter_decision(true);
  metrics.meter_decision(false);
  metrics.ledger_batch(3, 400);
  metrics.provider_call("openai", "ok");
  metrics.provider_call("openai", "upstream_timeout");
  metrics.provider_usage("openai", 12, 30, 4'200);
  metrics.provider_usage("openai", 1, 2, 5);
  metrics.time_to_first_token("openai", 120'000);
  metrics.hold_opened();
  metrics.hold_opened();
  metrics.hold_closed();
  metrics.connections_from([] { return ConnectionFigures{7, 3, 1, 2, 0}; });
  std::string text = metrics.render();
  EXPECT_TRUE(has_line(text, R"(tollgate_meter_decisions_total{decision="allowed"} 2)"));
  EXPECT_TRUE(has_line(text, R"(tollgate_meter_decisions_total{decision="blocked"} 1)"));
  EXPECT_TRUE(has_line(text, R"(tollgate_ledger_batch_commands_bucket{le="2"} 0)"));
  EXPECT_TRUE(has_line(text, R"(tollgate_ledger_batch_commands_bucket{le="4"} 1)"));
  EXPECT_TRUE(has_line(text, "tollgate_ledger_batch_commands_sum 3"));
  EXPECT_TRUE(has_line(text, R"(tollgate_ledger_commit_duration_seconds_bucket{le="0.0005"} 1)"));
  EXPECT_TRUE(has_line(text, R"(tollgate_provider_calls_total{provider="openai",outcome="ok"} 1)"));
  EXPECT_TRUE(has_line(
      text, R"(tollgate_provider_calls_total{provider="openai",outcome="upstream_timeout"} 1)"));
  EXPECT_TRUE(
      has_line(text, R"(tollgate_provider_tokens_total{provider="openai",kind="input"} 13)"));
  EXPECT_TRUE(
      has_line(text, R"(tollgate_provider_tokens_total{provider="openai",kind="output"} 32)"));
  EXPECT_TRUE(has_line(text, R"(tollgate_provider_spend_micros_total{provider="openai"} 4205)"));
  EXPECT_TRUE(has_line(
      text, R"(tollgate_provider_time_to_first_token_seconds_count{provider="openai"} 1)"));
  EXPECT_TRUE(has_line(text, "tollgate_open_holds 1"));
  EXPECT_TRUE(has_line(text, "tollgate_connections_open 7"));
  EXPECT_TRUE(has_line(text, "tollgate_connections_shed_total 3"));
  EXPECT_TRUE(has_line(text, R"(tollgate_connections_refused_total{reason="full"} 1)"));
  EXPECT_TRUE(has_line(text, R"(tollgate_connections_refused_total{reason="client_full"} 2)"));
}

TEST(Metrics, LabelValuesAreEscaped) {
  EXPECT_EQ(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  Metrics metrics;
  metrics.provider_call("we\"ird", "ok");
  EXPECT_TRUE(has_line(metrics.render(),
                       R"(tollgate_provider_calls_total{provider="we\"ird",outcome="ok"} 1)"));
}

TEST(Metrics, SeriesPerFamilyAreCappedUnderOther) {
  Metrics metrics;
  for (size_t i = 0; i < kSeriesPerFamilyMax + 50; ++i)
    metrics.provider_call(std::string("p").append(std::to_string(i)), "ok");
  std::string text = metrics.render();
  EXPECT_TRUE(
      has_line(text, R"(tollgate_provider_calls_total{provider="other",outcome="other"} 50)"));
  size_t series = 0;
  for (size_t at = text.find("\ntollgate_provider_calls_total{"); at != std::string::npos;
       at = text.find("\ntollgate_provider_calls_total{", at + 1))
    ++series;
  EXPECT_EQ(series, kSeriesPerFamilyMax + 1);
}

TEST(Metrics, ConcurrentRecordingLosesNothing) {
  Metrics metrics;
  constexpr int kThreads = 4;
  constexpr int kEach = 20'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&metrics, t] {
      for (int i = 0; i < kEach; ++i)
        metrics.request("POST", "/v1/meter", i % 2 == 0 ? 200 : 402 + t, 100);
    });
  }
  for (auto& thread : threads) thread.join();
  std::string text = metrics.render();
  EXPECT_TRUE(has_line(
      text, R"(tollgate_http_requests_total{method="POST",route="/v1/meter",status="200"} 40000)"));
  EXPECT_TRUE(has_line(
      text,
      R"(tollgate_http_request_duration_seconds_count{method="POST",route="/v1/meter"} 80000)"));
}

}  // namespace
}  // namespace tollgate::server
