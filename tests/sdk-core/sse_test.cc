#include "tollgate/stream/sse.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "vectors.h"

namespace tollgate::stream {
namespace {

using testing::outcome;
using testing::vector_cases;

std::vector<SseEvent> expected_events(const nlohmann::json& list) {
  std::vector<SseEvent> out;
  for (const auto& e : list) {
    out.push_back({e["type"].get<std::string>(), e["data"].get<std::string>(),
                   e["id"].get<std::string>()});
  }
  return out;
}

std::vector<SseEvent> parse_pieces(const std::vector<std::string_view>& pieces,
                                   SseParser* parser_out = nullptr) {
  SseParser parser;
  std::vector<SseEvent> events;
  for (std::string_view piece : pieces) EXPECT_TRUE(parser.feed(piece, events).ok());
  if (parser_out) *parser_out = parser;
  return events;
}

TEST(Sse, EventVectorsWholeSplitAtEveryOffsetAndByteByByte) {
  for (const auto& v : vector_cases("sse.json", "events")) {
    const std::string stream = v["stream"].get<std::string>();
    const auto expected = expected_events(v["events"]);
    EXPECT_EQ(parse_pieces({stream}), expected) << v["name"];
    for (size_t cut = 0; cut <= stream.size(); ++cut) {
      std::string_view all(stream);
      EXPECT_EQ(parse_pieces({all.substr(0, cut), all.substr(cut)}), expected)
          << v["name"] << " cut at " << cut;
    }
    std::vector<std::string_view> bytes;
    for (size_t i = 0; i < stream.size(); ++i) bytes.push_back(std::string_view(stream).substr(i, 1));
    EXPECT_EQ(parse_pieces(bytes), expected) << v["name"] << " byte by byte";
  }
}

TEST(Sse, RetryVectors) {
  for (const auto& v : vector_cases("sse.json", "retry")) {
    SseParser parser;
    std::vector<SseEvent> events;
    ASSERT_TRUE(parser.feed(v["stream"].get<std::string>(), events).ok());
    if (v["retryMs"].is_null()) {
      EXPECT_FALSE(parser.retry_ms().has_value()) << v["name"];
    } else {
      ASSERT_TRUE(parser.retry_ms().has_value()) << v["name"];
      EXPECT_EQ(*parser.retry_ms(), v["retryMs"].get<int64_t>()) << v["name"];
    }
  }
}

TEST(Sse, PendingSaysWhetherAnEventIsUnfinished) {
  SseParser parser;
  std::vector<SseEvent> events;
  EXPECT_FALSE(parser.pending());
  ASSERT_TRUE(parser.feed("data: a", events).ok());
  EXPECT_TRUE(parser.pending());
  ASSERT_TRUE(parser.feed("\n", events).ok());
  EXPECT_TRUE(parser.pending());
  ASSERT_TRUE(parser.feed("\n", events).ok());
  EXPECT_FALSE(parser.pending());
  EXPECT_EQ(events.size(), 1u);
}

TEST(Sse, LineLimit) {
  SseParser parser;
  std::vector<SseEvent> events;
  std::string longest = "data:" + std::string(kSseLineBytesMax - 5, 'x');
  ASSERT_TRUE(parser.feed(longest, events).ok());
  ASSERT_TRUE(parser.feed("\n\n", events).ok());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data.size(), kSseLineBytesMax - 5);

  SseParser over;
  auto fed = over.feed(longest + "x", events);
  ASSERT_FALSE(fed.ok());
  EXPECT_EQ(outcome(fed), "payload_too_large");
  EXPECT_EQ(fed.error().param, "stream");
  EXPECT_FALSE(over.feed("\n\n", events).ok());  // stays failed
}

TEST(Sse, EventLimitCountsJoinedData) {
  SseParser parser;
  std::vector<SseEvent> events;
  std::string line = "data:" + std::string(kSseLineBytesMax - 5, 'x') + "\n";
  size_t lines_allowed = kSseEventBytesMax / (kSseLineBytesMax - 5 + 1);
  for (size_t i = 0; i < lines_allowed; ++i) ASSERT_TRUE(parser.feed(line, events).ok());
  EXPECT_EQ(outcome(parser.feed(line, events)), "payload_too_large");
  EXPECT_TRUE(events.empty());
}

}  // namespace
}  // namespace tollgate::stream
