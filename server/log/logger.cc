#include "server/log/logger.h"

#include <chrono>

namespace tollgate::server {

int64_t unix_ms_now() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

Logger::Logger(std::FILE* out) : out_(out), thread_([this] { run(); }) {}

Logger::~Logger() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  queued_.notify_one();
  thread_.join();
}

void Logger::log(std::string_view level, std::string_view event, nlohmann::ordered_json fields) {
  // The line is {"ts_ms", "level", "event", then the fields}: the fields' object is dumped once
  // and spliced in, not copied into a second object (one line per request, so this is hot).
  // `replace` so a stray invalid UTF-8 byte (e.g. from a request path) cannot throw here.
  constexpr auto kReplace = nlohmann::ordered_json::error_handler_t::replace;
  std::string text = "{\"ts_ms\":" + std::to_string(unix_ms_now()) + ",\"level\":" +
                     nlohmann::ordered_json(level).dump(-1, ' ', false, kReplace) + ",\"event\":" +
                     nlohmann::ordered_json(event).dump(-1, ' ', false, kReplace);
  if (fields.is_object()) {
    for (const char* taken : {"ts_ms", "level", "event"}) fields.erase(taken);
  }
  if (fields.is_object() && !fields.empty()) {
    std::string rest = fields.dump(-1, ' ', false, kReplace);  // {"a":1,…}
    text += ',';
    text.append(rest, 1, std::string::npos);
  } else {
    text += '}';
  }
  bool first = false;
  {
    std::unique_lock lock(mutex_);
    written_.wait(lock, [&] { return queue_.size() < kLogQueueBytesMax || stopping_; });
    first = queue_.empty();
    if (first) ++queued_batches_;
    queue_.append(text).push_back('\n');
  }
  // Without a waiter (the log thread is busy writing) this costs no system call.
  if (first) queued_.notify_one();
}

void Logger::flush() {
  std::unique_lock lock(mutex_);
  uint64_t target = queued_batches_;
  written_.wait(lock, [&] { return written_batches_ >= target || stopping_; });
}

void Logger::run() {
  std::string batch;
  std::unique_lock lock(mutex_);
  while (true) {
    queued_.wait(lock, [&] { return !queue_.empty() || stopping_; });
    if (queue_.empty()) return;  // stopping, and everything is written
    batch.swap(queue_);
    lock.unlock();
    std::fwrite(batch.data(), 1, batch.size(), out_);
    std::fflush(out_);
    batch.clear();
    lock.lock();
    ++written_batches_;
    written_.notify_all();
  }
}

}  // namespace tollgate::server
