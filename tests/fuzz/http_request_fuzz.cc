// libFuzzer target for RequestReader, driven as Session drives it: reads of varying sizes into
// the reader's buffer, parse() after each, the next request started after each one read whole,
// and a fake clock that moves between reads so the deadlines are reached too.
//
// Input: byte 0 is n (mod 16); the next n bytes set the read sizes (used in turn) and how far
// the clock moves per read; the rest is what the client sends.
//
// Invariants: no exception; the buffer never above its maximum and reads never asked beyond
// it; a request read whole has a body within body_bytes_max; a failure is one of the statuses
// the reader documents, and closes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include "server/http/request_reader.h"

namespace {

using tollgate::server::ReaderLimits;
using tollgate::server::RequestReader;
using tollgate::server::http::status;

// Small limits, so that short inputs reach every one of them.
ReaderLimits fuzz_limits() {
  ReaderLimits limits;
  limits.header_bytes_max = 1024;
  limits.body_bytes_max = 4096;
  limits.chunk_extension_bytes_max = 64;
  limits.header_timeout = std::chrono::milliseconds(500);
  limits.request_timeout = std::chrono::milliseconds(2'000);
  limits.body_rate_min_bytes_per_s = 100;
  limits.body_rate_grace = std::chrono::milliseconds(100);
  return limits;
}

void check(bool condition) {
  if (!condition) std::abort();
}

bool documented(status failure) {
  return failure == status::bad_request || failure == status::request_timeout ||
         failure == status::payload_too_large ||
         failure == status::request_header_fields_too_large || failure == status::not_implemented;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t steps = data[0] % 16;
  if (size < 1 + steps) return 0;
  std::vector<uint8_t> plan(data + 1, data + 1 + steps);
  std::string_view wire(reinterpret_cast<const char*>(data + 1 + steps), size - 1 - steps);

  const ReaderLimits limits = fuzz_limits();
  RequestReader reader(limits);
  auto now = RequestReader::Clock::time_point{} + std::chrono::hours(1);
  reader.start(now);
  size_t offset = 0;
  size_t read = 0;
  while (true) {
    RequestReader::Status result = reader.parse(now);
    check(reader.buffered_bytes() <= reader.buffer_bytes_max());
    if (result == RequestReader::Status::kReady) {
      check(reader.request().body().size() <= limits.body_bytes_max);
      bool keep_alive = reader.request().keep_alive();
      if (!keep_alive) return 0;  // Session closes after answering
      reader.start(now);
      continue;
    }
    if (result == RequestReader::Status::kFailed) {
      check(documented(reader.failure().status));
      check(reader.failure().close);
      check(!reader.failure().message.empty());
      return 0;
    }
    if (offset == wire.size()) {
      // The client went quiet: what Session would answer when its timer fires.
      if (reader.got_some()) {
        check(reader.timed_out(now, std::chrono::milliseconds(1'000)).status ==
              status::request_timeout);
      }
      return 0;
    }
    uint8_t step = plan.empty() ? 0xFF : plan[read % plan.size()];
    ++read;
    size_t want = 1 + static_cast<size_t>(step) * step / 4;  // 1 byte to ~16 KiB
    size_t room = reader.read_bytes_max();
    auto buffer = reader.prepare(want);
    check(buffer.size() <= room && buffer.size() <= want);
    check(buffer.size() > 0);  // kNeedMore always leaves room for a read
    size_t bytes = std::min(buffer.size(), wire.size() - offset);
    std::memcpy(buffer.data(), wire.data() + offset, bytes);
    reader.commit(bytes);
    offset += bytes;
    now += std::chrono::milliseconds(step % 64);
  }
}
