#include "server/log/logger.h"

#include <chrono>

namespace tollgate::server {

std::string exception_text(std::exception_ptr error) noexcept {
  try {
    std::string text = "an exception of unknown type";
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      text = e.what();
    } catch (...) {
    }
    if (size_t excerpt = text.find("; last read"); excerpt != std::string::npos) {
      text.resize(excerpt);
    }
    if (text.size() > kExceptionTextBytesMax) text.resize(kExceptionTextBytesMax);
    return text;
  } catch (...) {
    return {};
  }
}

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

void Logger::log(std::string_view level, std::string_view event,
                 nlohmann::ordered_json fields) noexcept {
  try {
    queue_line(level, event, std::move(fields));
  } catch (...) {
    // Out of memory while formatting: this line is lost, the caller goes on.
  }
}

void Logger::queue_line(std::string_view level, std::string_view event,
                        nlohmann::ordered_json fields) {
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
  size_t queue_size = 0;
  {
    std::unique_lock lock(mutex_);
    written_.wait(lock, [&] { return queue_.size() < kLogQueueBytesMax || stopping_; });
    first = queue_.empty();
    if (first) ++queued_batches_;
    queue_.append(text).push_back('\n');
    queue_size = queue_.size();
  }
  // Without a waiter (the log thread is busy writing) this costs no system call. Half full, a
  // lingering log thread is woken to write at once.
  if (first || queue_size >= kLogQueueBytesMax / 2) queued_.notify_one();
}

void Logger::flush() {
  std::unique_lock lock(mutex_);
  uint64_t target = queued_batches_;
  written_.wait(lock, [&] { return written_batches_ >= target || stopping_; });
}

void Logger::run() {
  std::string batch;
  std::chrono::steady_clock::time_point last_write{};
  std::unique_lock lock(mutex_);
  while (true) {
    try {
      if (!write_next(lock, batch, last_write)) return;
    } catch (...) {
      if (!lock.owns_lock()) lock.lock();
      bool lost = !batch.empty();  // taken from the queue, so flush() must not wait for it
      batch.clear();
      // Formatted without allocating: this must not throw in turn.
      char line[128];
      int size =
          std::snprintf(line, sizeof line,
                        "{\"ts_ms\":%lld,\"level\":\"error\",\"event\":\"log_write_failed\"}\n",
                        static_cast<long long>(unix_ms_now()));
      if (size > 0) std::fwrite(line, 1, static_cast<size_t>(size), out_);
      std::fflush(out_);
      if (lost) {
        ++written_batches_;
        written_.notify_all();
      }
    }
  }
}

bool Logger::write_next(std::unique_lock<std::mutex>& lock, std::string& batch,
                        std::chrono::steady_clock::time_point& last_write) {
  queued_.wait(lock, [&] { return !queue_.empty() || stopping_; });
  if (queue_.empty()) return false;  // stopping, and everything is written
  // Lines keep coming: gather for kLogLinger (log() notifies only an empty queue, so this
  // waits it out unless the logger stops or the queue nears its bound).
  if (!stopping_ && std::chrono::steady_clock::now() - last_write < kLogLinger) {
    queued_.wait_for(lock, kLogLinger,
                     [&] { return stopping_ || queue_.size() >= kLogQueueBytesMax / 2; });
  }
  batch.swap(queue_);
  lock.unlock();
  std::fwrite(batch.data(), 1, batch.size(), out_);
  std::fflush(out_);
  last_write = std::chrono::steady_clock::now();
  batch.clear();
  lock.lock();
  ++written_batches_;
  written_.notify_all();
  return true;
}

}  // namespace tollgate::server
