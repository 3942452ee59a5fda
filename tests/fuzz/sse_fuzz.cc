// libFuzzer target for the event-stream framer (sdk-core stream/sse). The input is a stream.
//
// For any input:
// - fed whole, fed in pieces cut by the input's hash and fed byte by byte, SseParser gives the
//   same events, the same outcome (a limit error or not), the same pending() and retry_ms();
// - it agrees with a reference reading of the WHATWG rules written here independently, one line
//   at a time over the whole input;
// - no event it emits is larger than its limits.
// A stream starting with the comment line kAmplifyMarker has the rest repeated past
// kAmplifiedBytes, so the line and event limits are reached too (an SSE comment, so the parser
// reads the marker as it would any other comment). Such a stream costs milliseconds, so it is
// fed once, one repetition a chunk, and checked against the reference and the limits only; the
// repetition also stops at kAmplifiedLinesMax lines (short lines cost the most per byte).
// Build and run with `make fuzz`.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.h"
#include "tollgate/stream/sse.h"

using tollgate::ErrorCode;
using tollgate::fuzz::check;
using tollgate::stream::kSseEventBytesMax;
using tollgate::stream::kSseLineBytesMax;
using tollgate::stream::SseEvent;
using tollgate::stream::SseParser;

namespace {

constexpr std::string_view kAmplifyMarker = ":amplify\n";
constexpr size_t kAmplifiedBytes = kSseEventBytesMax + kSseEventBytesMax / 16;
constexpr size_t kAmplifiedLinesMax = 4096;
// Byte-by-byte feeding costs one call per byte; longer streams are only fed whole and in pieces.
constexpr size_t kByteByByteBytesMax = size_t{16} << 10;

struct Outcome {
  std::vector<SseEvent> events;
  bool ok = true;
  ErrorCode code = ErrorCode::kInternal;  // when !ok
  bool pending = false;                   // when ok
  std::optional<int64_t> retry_ms;
  bool operator==(const Outcome&) const = default;
};

Outcome feed_all(const std::vector<std::string_view>& chunks) {
  SseParser parser;
  Outcome out;
  for (std::string_view chunk : chunks) {
    auto fed = parser.feed(chunk, out.events);
    if (!fed) {
      out.ok = false;
      out.code = fed.error().code;
      check(fed.error().param == "stream", "a limit error names the stream");
      // A failed parser stays failed.
      std::vector<SseEvent> more;
      check(!parser.feed("data: x\n\n", more) && more.empty(), "a failed parser stays failed");
      break;
    }
  }
  if (out.ok) out.pending = parser.pending();
  out.retry_ms = parser.retry_ms();
  return out;
}

// The WHATWG "event stream interpretation", read over the whole stream line by line, with the
// limits sse.h names. Independent of SseParser's byte-at-a-time state machine.
class Reference {
 public:
  Outcome read(std::string_view stream) {
    if (stream.starts_with("\xEF\xBB\xBF")) stream.remove_prefix(3);
    // The next CR and the next LF, each found with one find(): a loop over every byte (or
    // find_first_of) costs a coverage callback per byte in this build.
    size_t at = 0, next_cr = stream.find('\r'), next_lf = stream.find('\n');
    while (true) {
      if (next_cr < at) next_cr = stream.find('\r', at);
      if (next_lf < at) next_lf = stream.find('\n', at);
      size_t end = std::min(next_cr, next_lf);
      std::string_view line = stream.substr(at, end == std::string_view::npos ? end : end - at);
      if (line.size() > kSseLineBytesMax) return failed();
      if (end == std::string_view::npos) {
        out_.pending = !line.empty() || has_data_ || !type_.empty();
        return out_;
      }
      at = end + 1;
      if (stream[end] == '\r' && at < stream.size() && stream[at] == '\n') ++at;
      if (!process(line)) return failed();
    }
  }

 private:
  Outcome failed() {
    out_.ok = false;
    out_.code = ErrorCode::kPayloadTooLarge;
    out_.pending = false;
    return out_;
  }

  bool process(std::string_view line) {
    if (line.empty()) {
      if (has_data_) out_.events.push_back({type_.empty() ? "message" : type_, data_, id_});
      type_.clear();
      data_.clear();
      has_data_ = false;
      return true;
    }
    if (line[0] == ':') return true;
    size_t colon = line.find(':');
    std::string_view name = line.substr(0, colon);
    std::string_view value;
    if (colon != std::string_view::npos) value = line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
    if (name == "data") {
      if (data_.size() + (has_data_ ? 1 : 0) + value.size() > kSseEventBytesMax) return false;
      if (has_data_) data_ += '\n';
      data_ += value;
      has_data_ = true;
    } else if (name == "event") {
      type_ = value;
    } else if (name == "id") {
      if (value.find('\0') == std::string_view::npos) id_ = value;
    } else if (name == "retry") {
      retry(value);
    }
    return true;
  }

  void retry(std::string_view value) {
    if (value.empty()) return;
    int64_t ms = 0;
    for (char c : value) {
      if (c < '0' || c > '9') return;
      int64_t digit = c - '0';
      if (ms > (INT64_MAX - digit) / 10) return;  // out of range: ignored
      ms = ms * 10 + digit;
    }
    out_.retry_ms = ms;
  }

  Outcome out_;
  std::string type_;
  std::string data_;
  bool has_data_ = false;
  std::string id_;
};

void check_limits(const Outcome& outcome) {
  for (const SseEvent& event : outcome.events) {
    check(event.data.size() <= kSseEventBytesMax, "an event's data is within kSseEventBytesMax");
    check(event.type.size() <= kSseLineBytesMax, "an event's type is within kSseLineBytesMax");
    check(event.id.size() <= kSseLineBytesMax, "an event's id is within kSseLineBytesMax");
  }
  if (!outcome.ok)
    check(outcome.code == ErrorCode::kPayloadTooLarge, "a limit is kPayloadTooLarge");
}

void check_stream(std::string_view stream) {
  Outcome whole = feed_all({stream});
  check_limits(whole);
  check(Reference().read(stream) == whole, "the parser agrees with the reference reading");
  if (stream.size() > kByteByByteBytesMax) return;
  check(feed_all(tollgate::fuzz::pieces(stream)) == whole,
        "fed in pieces it gives the same outcome as fed whole");
  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < stream.size(); ++i) bytes.push_back(stream.substr(i, 1));
  check(feed_all(bytes) == whole, "fed byte by byte it gives the same outcome as fed whole");
}

// The marker line, then `unit` repeated past kAmplifiedBytes (or kAmplifiedLinesMax lines).
void check_amplified(std::string_view unit) {
  size_t unit_lines = std::max<size_t>(
      1, std::count_if(unit.begin(), unit.end(), [](char c) { return c == '\n' || c == '\r'; }));
  size_t repeats =
      std::min((kAmplifiedBytes + unit.size() - 1) / unit.size(), kAmplifiedLinesMax / unit_lines);
  std::string stream(kAmplifyMarker);
  for (size_t i = 0; i < repeats; ++i) stream += unit;
  std::vector<std::string_view> chunks{std::string_view(stream).substr(0, kAmplifyMarker.size())};
  for (size_t i = 0; i < repeats; ++i) {
    chunks.push_back(
        std::string_view(stream).substr(kAmplifyMarker.size() + i * unit.size(), unit.size()));
  }
  Outcome fed = feed_all(chunks);
  check_limits(fed);
  check(Reference().read(stream) == fed, "the parser agrees with the reference reading");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input = tollgate::fuzz::as_text(data, size);
  if (!input.starts_with(kAmplifyMarker)) {
    check_stream(input);
  } else if (input.size() > kAmplifyMarker.size()) {
    check_amplified(input.substr(kAmplifyMarker.size()));
  }
  return 0;
}
