// The log line and metrics sample of an answered request: its id, the error code read back from
// an error answer, and the level its status calls for.
#include "server/http/request_log.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <set>
#include <sstream>

#include "server/http/error_response.h"
#include "tests/support/log_file.h"

namespace tollgate::server {
namespace {

Response with_body(unsigned status, std::string body) {
  Response response{static_cast<http::status>(status), 11};
  response.body() = std::move(body);
  return response;
}

TEST(RequestLog, RequestIdsArePrefixedHexAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 1'000; ++i) {
    std::string id = new_request_id();
    ASSERT_EQ(id.size(), 4u + 16u) << id;
    ASSERT_TRUE(id.starts_with("req_")) << id;
    ASSERT_EQ(id.find_first_not_of("0123456789abcdef", 4), std::string::npos) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1'000u);
}

TEST(RequestLog, TheErrorCodeOfAnErrorAnswer) {
  Response error = error_response(fail(ErrorCode::kInsufficientCredits, "no credits"));
  EXPECT_EQ(error_code_of(error), "insufficient_credits");
  EXPECT_EQ(error_code_of(with_body(400, R"({"error":{"code":"x_y"}})")), "x_y");
  // Not an error status, not the error shape, not JSON: no code, and nothing thrown.
  for (auto [status, body] : std::initializer_list<std::pair<unsigned, std::string>>{
           {200, R"({"error":{"code":"x"}})"},
           {399, R"({"error":{"code":"x"}})"},
           {400, R"({"error":"x"})"},
           {400, R"({"error":{"code":5}})"},
           {400, R"({"code":"x"})"},
           {400, R"(["error"])"},
           {500, "not json {"},
           {500, ""},
       }) {
    EXPECT_EQ(error_code_of(with_body(status, body)), std::nullopt) << status << " " << body;
  }
}

TEST(RequestLog, ALargeBodyIsNotScanned) {
  std::string padding(kErrorBodyScanBytesMax, ' ');
  std::string at_limit = R"({"error":{"code":"big"}})";
  at_limit.append(padding.substr(at_limit.size()));
  ASSERT_EQ(at_limit.size(), kErrorBodyScanBytesMax);
  EXPECT_EQ(error_code_of(with_body(400, at_limit)), "big");
  EXPECT_EQ(error_code_of(with_body(400, at_limit + " ")), std::nullopt);
}

TEST(RequestLog, RecordCountsTheRequestAndLogsAtItsStatusLevel) {
  LogFile file(std::tmpfile());
  ASSERT_NE(file, nullptr);
  Metrics metrics;
  {
    Logger log(file.get());
    record_request(log, &metrics, "POST", "/v1/meter", 402, std::chrono::milliseconds(3),
                   {{"request_id", "req_1"}, {"status", 402}});
    record_request(log, &metrics, "POST", "/v1/meter", 500, std::chrono::milliseconds(1),
                   {{"request_id", "req_2"}});
    record_request(log, &metrics, "POST", "/v1/chat/completions", 502, std::chrono::milliseconds(1),
                   {{"request_id", "req_3"}});
    record_request(log, nullptr, "GET", "", 404, std::chrono::milliseconds(1),
                   {{"request_id", "req_4"}});
  }
  auto lines = log_lines(file.get());
  ASSERT_EQ(lines.size(), 4u);
  std::vector<std::string> levels;
  for (const auto& line : lines) {
    EXPECT_EQ(line["event"], "http_request");
    levels.push_back(line["level"]);
  }
  EXPECT_EQ(levels, (std::vector<std::string>{"info", "error", "warn", "info"}));
  EXPECT_EQ(lines[0]["request_id"], "req_1");
  EXPECT_EQ(lines[0]["status"], 402);
  std::string text = metrics.render();
  EXPECT_NE(
      text.find(R"(tollgate_http_requests_total{method="POST",route="/v1/meter",status="402"} 1)"),
      std::string::npos);
  EXPECT_NE(
      text.find(R"(tollgate_http_requests_total{method="POST",route="/v1/meter",status="500"} 1)"),
      std::string::npos);
  // Without metrics the line is still written, and nothing is counted anywhere.
  EXPECT_EQ(text.find("status=\"404\""), std::string::npos);
}

}  // namespace
}  // namespace tollgate::server
