#include "tollgate/stream/sse.h"

#include <algorithm>
#include <limits>

namespace tollgate::stream {

namespace {

constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";

Error too_large(std::string_view what, size_t limit) {
  std::string message = "an event stream ";
  message += what;
  message += " may be at most ";
  message += std::to_string(limit);
  message += " bytes";
  return fail(ErrorCode::kPayloadTooLarge, std::move(message), "stream");
}

}  // namespace

Result<void> SseParser::feed(std::string_view chunk, std::vector<SseEvent>& events) {
  if (failed_) return fail(ErrorCode::kInvalidArgument, "the event stream failed earlier", "stream");
  if (!started_) {
    // The byte order mark may itself arrive split: hold back a prefix of it.
    line_.append(chunk);
    if (line_.size() < kByteOrderMark.size() && kByteOrderMark.starts_with(line_)) return {};
    started_ = true;
    std::string head = std::move(line_);
    line_.clear();
    std::string_view rest(head);
    if (rest.starts_with(kByteOrderMark)) rest.remove_prefix(kByteOrderMark.size());
    return feed(rest, events);
  }
  size_t i = 0;
  while (i < chunk.size()) {
    char c = chunk[i];
    if (c == '\n' || c == '\r') {
      bool second_half_of_crlf = c == '\n' && after_cr_;
      after_cr_ = c == '\r';
      ++i;
      if (second_half_of_crlf) continue;
      if (auto ended = line(events); !ended) {
        failed_ = true;
        return ended;
      }
      continue;
    }
    after_cr_ = false;
    size_t end = chunk.find_first_of("\r\n", i);
    if (end == std::string_view::npos) end = chunk.size();
    if (end - i > kSseLineBytesMax - line_.size()) {
      failed_ = true;
      return too_large("line", kSseLineBytesMax);
    }
    line_.append(chunk.data() + i, end - i);
    i = end;
  }
  return {};
}

Result<void> SseParser::line(std::vector<SseEvent>& events) {
  std::string text = std::move(line_);
  line_.clear();
  if (text.empty()) {
    // A blank line dispatches the event, unless it has no data.
    if (has_data_) {
      SseEvent event;
      if (!type_.empty()) event.type = std::move(type_);
      event.data = std::move(data_);
      event.id = id_;
      events.push_back(std::move(event));
    }
    type_.clear();
    data_.clear();
    has_data_ = false;
    return {};
  }
  if (text.front() == ':') return {};  // a comment
  std::string_view all(text);
  size_t colon = all.find(':');
  std::string_view name = all.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? std::string_view() : all.substr(colon + 1);
  if (value.starts_with(' ')) value.remove_prefix(1);
  if (name == "data") {
    size_t added = value.size() + (has_data_ ? 1 : 0);
    if (added > kSseEventBytesMax - data_.size()) return too_large("event", kSseEventBytesMax);
    if (has_data_) data_ += '\n';
    data_.append(value);
    has_data_ = true;
    return {};
  }
  field(name, value);
  return {};
}

void SseParser::field(std::string_view name, std::string_view value) {
  if (name == "event") {
    type_.assign(value);
  } else if (name == "id") {
    if (value.find('\0') == std::string_view::npos) id_.assign(value);
  } else if (name == "retry") {
    bool digits = !value.empty() && std::all_of(value.begin(), value.end(),
                                                [](char c) { return c >= '0' && c <= '9'; });
    if (!digits) return;
    int64_t ms = 0;
    for (char c : value) {
      if (ms > (std::numeric_limits<int64_t>::max() - (c - '0')) / 10) return;  // ignored
      ms = ms * 10 + (c - '0');
    }
    retry_ms_ = ms;
  }
}

}  // namespace tollgate::stream
