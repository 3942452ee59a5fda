// Turns the bytes of one HTTP/1.1 connection into requests, under limits and with the framing
// rules of RFC 9112, without touching a socket (Session feeds it; so does the HTTP fuzz target).
//
// It owns the read buffer (never above buffer_bytes_max(); reads are sized by read_bytes_max()),
// Beast's request_parser, and these rules, every break of which is answered and then closes:
// - the header section (request line and fields) is at most header_bytes_max: 431;
// - Transfer-Encoding: a coding list whose last coding is `chunked`, appearing once, or 400;
//   a coding other than chunked before it is 501; with Content-Length, or in HTTP/1.0, 400;
// - chunk extensions: at most chunk_extension_bytes_max per request, or 400;
// - trailer fields count against header_bytes_max together with the header section (431), and
//   are dropped once read: they never reach the request's fields (RFC 9110 section 6.5.1);
// - the body is at most body_bytes_max (413, known at the header for Content-Length);
// - time: from a request's first byte, its header must be whole within header_timeout and the
//   request within request_timeout; after body_rate_grace the body must have averaged
//   body_rate_min_bytes_per_s (408).
//
// Not thread-safe: one connection, one strand. Never throws on any input.
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "server/http/types.h"

namespace tollgate::server {

struct ReaderLimits {
  size_t header_bytes_max = size_t{16} * 1024;
  size_t body_bytes_max = size_t{1024} * 1024;
  size_t chunk_extension_bytes_max = size_t{4} * 1024;
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds request_timeout{300'000};
  int64_t body_rate_min_bytes_per_s = 1024;  // 0 turns the minimum off
  std::chrono::milliseconds body_rate_grace{5'000};
};

// header_bytes_max may not exceed this: Beast stores each field's length in 16 bits and throws
// std::length_error beyond it.
inline constexpr size_t kHeaderBytesCeiling = size_t{60} * 1024;
// A chunk-size line may hold this much besides its extensions (hex digits, leading zeros, BWS).
inline constexpr size_t kChunkSizeLineBytesMax = 64;
// Room the buffer keeps beyond the largest unit it must hold whole (a header section, or a chunk
// line plus a trailer section), so one socket read of kReadBytesMax always fits.
inline constexpr size_t kReadBytesMax = size_t{16} * 1024;

// Why a request could not be read, and what to answer.
struct ReadFailure {
  http::status status = http::status::bad_request;  // 400, 408, 413, 431 or 501
  std::string message;      // for the client; names the rule or limit, never echoes request bytes
  std::string_view reason;  // a short tag for the log line ("header_limit", "transfer_encoding")
  bool close = true;        // after any of these the stream is not at a request boundary
};

class RequestReader {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Status {
    kNeedMore,  // read at most read_bytes_max() more bytes, then parse() again
    kReady,     // request() holds a whole request
    kFailed,    // failure() says what to answer
  };

  explicit RequestReader(const ReaderLimits& limits);
  RequestReader(const RequestReader&) = delete;
  RequestReader& operator=(const RequestReader&) = delete;

  // Begins the next request. Bytes already buffered (a pipelined request) stay and count as its
  // first bytes at `now`.
  void start(Clock::time_point now);

  // Room for the next socket read: `bytes` capped at read_bytes_max(). Then commit() what arrived.
  boost::asio::mutable_buffer prepare(size_t bytes);
  void commit(size_t bytes);

  // Parses what is buffered. Once kReady or kFailed, it returns the same until start().
  Status parse(Clock::time_point now);

  // When the current request fails with 408 if it is not whole by then; nullopt before its
  // first byte (waiting between requests is the caller's timeout) and once it is ready.
  std::optional<Clock::time_point> deadline() const;

  // The failure for a read that stopped with the request unfinished: the deadline that passed,
  // or else "no bytes for `silence`" (the caller's idle timeout).
  ReadFailure timed_out(Clock::time_point now, std::chrono::milliseconds silence) const;

  // How many more bytes the buffer can take; 0 only while a request is ready or failed.
  size_t read_bytes_max() const;
  size_t buffered_bytes() const { return buffer_.size(); }
  size_t buffer_bytes_max() const { return buffer_.max_size(); }

  bool got_some() const;  // any byte of the current request, buffered or parsed
  bool header_done() const { return parser_->is_header_done(); }
  Status status() const { return status_; }
  const ReadFailure& failure() const { return failure_; }

  // The request, valid from kReady until start(). Trailer fields are not in it.
  Request& request() { return parser_->get(); }
  const Request& request() const { return parser_->get(); }

 private:
  enum class Scan { kOk, kNeedMore, kLineTooLong, kTrailerTooLarge };
  Status fail(http::status status, std::string message, std::string_view reason);
  Status ready();
  Status need_more(Clock::time_point now);
  Status check_framing();
  Status map_parser_error(boost::beast::error_code ec);
  Scan scan_chunk_boundary(std::string_view bytes) const;
  size_t trailer_bytes_allowed() const;
  void reset_parser();

  ReaderLimits limits_;
  boost::beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  // Beast keeps references to these two callbacks, so they live as long as the reader.
  std::function<void(uint64_t, std::string_view, boost::beast::error_code&)> on_chunk_header_;
  std::function<size_t(uint64_t, std::string_view, boost::beast::error_code&)> on_chunk_body_;

  Status status_ = Status::kNeedMore;
  ReadFailure failure_;
  std::optional<Clock::time_point> first_byte_at_;
  Clock::time_point header_done_at_{};
  size_t header_bytes_ = 0;     // the header section of this request, as parsed
  size_t header_fields_ = 0;    // fields in it; any after these are trailers
  size_t body_wire_bytes_ = 0;  // bytes after the header, framing included
  size_t chunk_extension_bytes_ = 0;
  uint64_t chunk_remaining_bytes_ = 0;  // of the chunk being read; 0 at a chunk boundary
  bool chunk_seen_ = false;             // a chunk was read, so a CRLF precedes the next chunk line
  bool extensions_over_ = false;
};

}  // namespace tollgate::server
