// The log thread: every line written, whole and in each thread's order, by flush() or by the
// destructor; and a full queue holds callers back instead of dropping lines.
#include "server/log/logger.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/log_file.h"

namespace tollgate::server {
namespace {

TEST(Logger, LineIsTimeLevelEventThenTheFieldsInOrder) {
  LogFile file(std::tmpfile());
  ASSERT_NE(file, nullptr);
  {
    Logger log(file.get());
    log.info("request", {{"path", "/v1/\xff"}, {"status", 200}, {"event", "not me"}});
    log.warn("bare");
  }
  std::fflush(file.get());
  std::rewind(file.get());
  char buffer[4096];
  std::string text(buffer, std::fread(buffer, 1, sizeof buffer, file.get()));
  std::istringstream in(text);
  std::string first, second;
  std::getline(in, first);
  std::getline(in, second);
  // Keys in order, the fields' own "event" dropped (the logger's wins), bad UTF-8 replaced.
  auto line = nlohmann::ordered_json::parse(first);
  std::vector<std::string> keys;
  for (auto& [key, value] : line.items()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"ts_ms", "level", "event", "path", "status"}));
  EXPECT_EQ(line["event"], "request");
  EXPECT_EQ(line["status"], 200);
  EXPECT_EQ(line["path"], "/v1/\xef\xbf\xbd");
  auto bare = nlohmann::json::parse(second);
  EXPECT_EQ(bare.size(), 3u);
  EXPECT_EQ(bare["level"], "warn");
}

TEST(Logger, FlushWritesEveryEarlierLine) {
  LogFile file(std::tmpfile());
  ASSERT_NE(file, nullptr);
  Logger log(file.get());
  log.info("first", {{"n", 1}});
  log.warn("second");
  log.flush();
  auto lines = log_lines(file.get());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["event"], "first");
  EXPECT_EQ(lines[0]["level"], "info");
  EXPECT_EQ(lines[0]["n"], 1);
  EXPECT_TRUE(lines[0]["ts_ms"].is_number_integer());
  EXPECT_EQ(lines[1]["event"], "second");
  EXPECT_EQ(lines[1]["level"], "warn");
}

TEST(Logger, ManyThreadsPastTheQueueBoundLoseNothing) {
  LogFile file(std::tmpfile());
  ASSERT_NE(file, nullptr);
  constexpr int kThreads = 4;
  // About 4 × kLogQueueBytesMax in all, so callers must wait for the log thread.
  const std::string padding(1000, 'x');
  const int per_thread = static_cast<int>(kLogQueueBytesMax / padding.size());
  {
    Logger log(file.get());
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < per_thread; ++i)
          log.info("line", {{"thread", t}, {"i", i}, {"padding", padding}});
      });
    }
    for (auto& thread : threads) thread.join();
  }  // the destructor writes what is still queued
  auto lines = log_lines(file.get());
  ASSERT_EQ(lines.size(), static_cast<size_t>(kThreads * per_thread));
  std::map<int, int> next;  // per thread: the next `i` expected
  for (const auto& line : lines) {
    int t = line["thread"];
    EXPECT_EQ(line["i"].get<int>(), next[t]) << "thread " << t;
    next[t] = line["i"].get<int>() + 1;
  }
}

}  // namespace
TEST(ExceptionText, SaysWhatItIsWithoutTheInputExcerptAndCutShort) {
  auto caught = [](auto thrown) {
    try {
      throw thrown;
    } catch (...) {
      return exception_text(std::current_exception());
    }
  };
  EXPECT_EQ(caught(std::runtime_error("boom")), "boom");
  EXPECT_EQ(caught(42), "an exception of unknown type");
  // nlohmann's parse errors quote the input after "; last read": request or provider data.
  std::string parse_error;
  try {
    nlohmann::json parsed = nlohmann::json::parse("{\"secret\": sk_live_123");
    parse_error = "parsed: " + parsed.dump();  // never reached: the text is not JSON
  } catch (...) {
    parse_error = exception_text(std::current_exception());
  }
  EXPECT_NE(parse_error.find("parse error"), std::string::npos) << parse_error;
  EXPECT_EQ(parse_error.find("sk_live"), std::string::npos) << parse_error;
  EXPECT_EQ(caught(std::runtime_error(std::string(1000, 'x'))).size(), kExceptionTextBytesMax);
}

}  // namespace tollgate::server
