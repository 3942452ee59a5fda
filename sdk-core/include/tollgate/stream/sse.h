// A text/event-stream (server-sent events) parser, fed chunk by chunk, following the WHATWG
// HTML "event stream interpretation": lines end in CRLF, LF or CR (a CRLF may be split across
// chunks); `:` starts a comment; a field name runs to the first `:` and one space after it is
// dropped; `data` lines are joined with "\n"; a blank line dispatches the event unless it has no
// data; `id` (without NUL) persists into later events; `retry` takes only ASCII digits; unknown
// fields are ignored; a leading byte order mark is skipped; an event not ended by a blank line
// when the stream ends is dropped.
//
// Each byte is examined once. Not thread-safe; one parser per stream. After an error (a limit)
// the parser stays failed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tollgate/core/result.h"

namespace tollgate::stream {

inline constexpr size_t kSseLineBytesMax = size_t{1} << 20;   // one line, field name included
inline constexpr size_t kSseEventBytesMax = size_t{4} << 20;  // one event's joined data

struct SseEvent {
  std::string type = "message";  // the `event` field, or "message"
  std::string data;
  std::string id;  // the last `id` seen so far in the stream
  bool operator==(const SseEvent&) const = default;
};

class SseParser {
 public:
  // Parses the next chunk and appends each event it completes to `events`. kPayloadTooLarge
  // (param "stream") when a line or an event's data passes its limit.
  Result<void> feed(std::string_view chunk, std::vector<SseEvent>& events);

  // True when the stream has started an event (or a line) that a blank line has not yet ended.
  bool pending() const { return !line_.empty() || has_data_ || !type_.empty(); }

  // The reconnection time the stream last asked for with `retry`, if any.
  std::optional<int64_t> retry_ms() const { return retry_ms_; }

 private:
  Result<void> line(std::vector<SseEvent>& events);
  void field(std::string_view name, std::string_view value);

  std::string line_;
  bool after_cr_ = false;  // the previous byte was CR: a following LF ends nothing
  bool started_ = false;   // past the optional byte order mark
  bool failed_ = false;
  std::string type_;
  std::string data_;
  bool has_data_ = false;
  std::string id_;
  std::optional<int64_t> retry_ms_;
};

}  // namespace tollgate::stream
