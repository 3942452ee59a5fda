// Where an invocation's answer goes: server-sent event frames, and the JSON sink's one answer.
#include "server/api/invoke_sink.h"

#include <gtest/gtest.h>

#include <vector>

namespace tollgate::server {
namespace {

using ojson = nlohmann::ordered_json;

class RecordingStream final : public ResponseStream {
 public:
  void write(std::string data) override { written.push_back(std::move(data)); }
  void finish() override { ++finished; }
  void on_disconnect(std::function<void()>) override {}
  std::vector<std::string> written;
  int finished = 0;
};

TEST(SseFrame, IsOneEventOfOneLineOfJson) {
  EXPECT_EQ(sse_frame("delta", ojson{{"text", "a\nb"}}),
            "event: delta\ndata: {\"text\":\"a\\nb\"}\n\n");
}

TEST(SseFrame, InvalidUtf8IsReplacedNotThrown) {
  std::string frame = sse_frame("delta", ojson{{"text", std::string("ok\xff")}});
  EXPECT_EQ(frame, "event: delta\ndata: {\"text\":\"ok\xEF\xBF\xBD\"}\n\n");
}

TEST(EventSink, WritesEventsThenDoneAndFinishesOnce) {
  auto stream = std::make_shared<RecordingStream>();
  EventSink sink(stream);
  sink.event("delta", {{"text", "hi"}});
  sink.finish(http::status::ok, {{"output", "hi"}});
  ASSERT_EQ(stream->written.size(), 2u);
  EXPECT_EQ(stream->written[0], "event: delta\ndata: {\"text\":\"hi\"}\n\n");
  EXPECT_EQ(stream->written[1], "event: done\ndata: {\"output\":\"hi\"}\n\n");
  EXPECT_EQ(stream->finished, 1);
}

TEST(EventSink, AnErrorIsTheErrorEventInTheErrorShape) {
  auto stream = std::make_shared<RecordingStream>();
  EventSink sink(stream);
  sink.fail(fail(ErrorCode::kUpstreamError, "the model failed"));
  ASSERT_EQ(stream->written.size(), 1u);
  EXPECT_TRUE(stream->written[0].starts_with("event: error\ndata: {\"error\":{"));
  EXPECT_NE(stream->written[0].find("\"upstream_error\""), std::string::npos);
  EXPECT_EQ(stream->finished, 1);
}

TEST(JsonSink, AnswersWithTheBodyOrTheErrorAndDropsEvents) {
  std::vector<Response> answers;
  JsonSink ok([&](Response r) { answers.push_back(std::move(r)); });
  ok.event("delta", {{"text", "dropped"}});
  ok.finish(http::status::ok, {{"output", "hi"}});
  JsonSink bad([&](Response r) { answers.push_back(std::move(r)); });
  bad.fail(fail(ErrorCode::kInsufficientCredits, "not enough credits"));
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[0].result(), http::status::ok);
  EXPECT_EQ(answers[0].body(), "{\"output\":\"hi\"}");
  EXPECT_EQ(answers[1].result(), http::status::payment_required);
  EXPECT_NE(answers[1].body().find("insufficient_credits"), std::string::npos);
}

}  // namespace
}  // namespace tollgate::server
