// Structured logging: one JSON object per line on stdout.
//
// Thread-safe and off the request path: log() formats the line and queues it, and one log thread
// writes whatever has queued with a single write, so a busy server pays one write per batch of
// lines instead of one per request. An idle server writes each line within microseconds. Under
// load (a write less than kLogLinger ago) the thread gathers lines for kLogLinger before the
// next write, so it wakes at most once per kLogLinger rather than once per few lines. The
// destructor writes everything still queued; a process killed with -9 loses the lines still
// queued (under load, the last few milliseconds' worth). At most kLogQueueBytesMax wait; beyond
// that log() blocks until the log thread catches up, so lines are never dropped.
//
// The log thread never dies: an exception while writing a batch (none is expected) loses that
// batch, writes a `log_write_failed` line at `error` in its place, and the thread goes on.
//
// Callers must never pass secrets (keys, tokens, query strings, bodies).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>

namespace tollgate::server {

inline constexpr size_t kLogQueueBytesMax = size_t{1} << 20;
inline constexpr size_t kExceptionTextBytesMax = 200;

// What a caught exception says, for a log line: its what() ("an exception of unknown type" for
// anything else), without the input excerpt nlohmann's parse errors append (request or provider
// data), at most kExceptionTextBytesMax. Never throws: "" when even that fails.
std::string exception_text(std::exception_ptr error) noexcept;
inline constexpr std::chrono::milliseconds kLogLinger{2};

class Logger {
 public:
  explicit Logger(std::FILE* out);
  ~Logger();  // writes what is queued, then stops the log thread
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  // Queues {"ts_ms":…,"level":…,"event":…, …fields}. Never throws: a line that cannot be
  // formatted (out of memory) is dropped.
  void log(std::string_view level, std::string_view event,
           nlohmann::ordered_json fields = nlohmann::ordered_json::object()) noexcept;

  void info(std::string_view event,
            nlohmann::ordered_json fields = nlohmann::ordered_json::object()) {
    log("info", event, std::move(fields));
  }
  void warn(std::string_view event,
            nlohmann::ordered_json fields = nlohmann::ordered_json::object()) {
    log("warn", event, std::move(fields));
  }
  void error(std::string_view event,
             nlohmann::ordered_json fields = nlohmann::ordered_json::object()) {
    log("error", event, std::move(fields));
  }

  // Returns once every line queued before the call is written and flushed.
  void flush();

 private:
  void queue_line(std::string_view level, std::string_view event, nlohmann::ordered_json fields);
  void run();
  // Writes the next batch (waiting for one); false once stopping with nothing left.
  bool write_next(std::unique_lock<std::mutex>& lock, std::string& batch,
                  std::chrono::steady_clock::time_point& last_write);

  std::FILE* out_;
  std::mutex mutex_;
  std::condition_variable queued_;   // the log thread waits for lines
  std::condition_variable written_;  // flush() and a full queue wait for the log thread
  std::string queue_;
  uint64_t queued_batches_ = 0;   // lines appended to an empty queue (each starts a batch)
  uint64_t written_batches_ = 0;  // batches written
  bool stopping_ = false;
  std::thread thread_;
};

// Milliseconds since the Unix epoch.
int64_t unix_ms_now();

}  // namespace tollgate::server
