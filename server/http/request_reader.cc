#include "server/http/request_reader.h"

#include <algorithm>
#include <iterator>
#include <vector>

#include "tollgate/core/result.h"

namespace tollgate::server {
namespace {

namespace beast = boost::beast;

constexpr std::string_view kCrlf = "\r\n";
constexpr std::string_view kEndOfFields = "\r\n\r\n";

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_ows(char c) { return c == ' ' || c == '\t'; }

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

std::string_view trim_ows(std::string_view text) {
  while (!text.empty() && is_ows(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_ows(text.back())) text.remove_suffix(1);
  return text;
}

// transfer-coding = token *( OWS ";" OWS token "=" token ), as RFC 9110 section 10.1.4 has it
// but without quoted-string parameter values (no coding Tollgate knows takes one). Sets
// `has_parameters`; false for anything else.
bool parse_coding(std::string_view element, std::string_view& name, bool& has_parameters) {
  size_t end = 0;
  while (end < element.size() && is_tchar(element[end])) ++end;
  if (end == 0) return false;
  name = element.substr(0, end);
  std::string_view rest = trim_ows(element.substr(end));
  has_parameters = !rest.empty();
  while (!rest.empty()) {
    if (rest.front() != ';') return false;
    rest = trim_ows(rest.substr(1));
    size_t key = 0;
    while (key < rest.size() && is_tchar(rest[key])) ++key;
    if (key == 0 || key == rest.size() || rest[key] != '=') return false;
    size_t value = key + 1;
    while (value < rest.size() && is_tchar(rest[value])) ++value;
    if (value == key + 1) return false;
    rest = trim_ows(rest.substr(value));
  }
  return true;
}

// Appends the codings of one Transfer-Encoding field value (a #list: empty elements and OWS
// allowed) to `codings`. False when an element is not a transfer-coding, or is `chunked` with
// parameters (chunked takes none).
bool parse_codings(std::string_view value, std::vector<std::string_view>& codings) {
  while (true) {
    size_t comma = value.find(',');
    std::string_view element = trim_ows(value.substr(0, comma));
    if (!element.empty()) {
      std::string_view name;
      bool has_parameters = false;
      if (!parse_coding(element, name, has_parameters)) return false;
      if (has_parameters && iequals(name, "chunked")) return false;
      codings.push_back(name);
    }
    if (comma == std::string_view::npos) return true;
    value.remove_prefix(comma + 1);
  }
}

std::string bytes_text(size_t bytes) { return std::to_string(bytes) + " bytes"; }

std::string ms_text(std::chrono::milliseconds ms) { return std::to_string(ms.count()) + " ms"; }

}  // namespace

RequestReader::RequestReader(const ReaderLimits& limits)
    : limits_(limits),
      buffer_(limits.header_bytes_max + limits.chunk_extension_bytes_max + kChunkSizeLineBytesMax +
              kReadBytesMax) {
  require(limits.header_bytes_max > 0 && limits.header_bytes_max <= kHeaderBytesCeiling);
  on_chunk_header_ = [this](uint64_t size, std::string_view extensions, beast::error_code& ec) {
    chunk_extension_bytes_ += extensions.size();
    if (chunk_extension_bytes_ > limits_.chunk_extension_bytes_max) {
      extensions_over_ = true;
      ec = http::error::bad_chunk_extension;
      return;
    }
    chunk_remaining_bytes_ = size;
    if (size > 0) chunk_seen_ = true;
  };
  // Setting this callback means Beast no longer stores chunk data in the body: it does here.
  on_chunk_body_ = [this](uint64_t remaining, std::string_view data, beast::error_code&) {
    parser_->get().body().append(data.data(), data.size());
    chunk_remaining_bytes_ = remaining - data.size();
    return data.size();
  };
  reset_parser();
}

void RequestReader::reset_parser() {
  parser_.emplace();
  // One step per put(): the framing is checked between the header and the first body byte.
  parser_->eager(false);
  parser_->header_limit(static_cast<uint32_t>(limits_.header_bytes_max));
  parser_->body_limit(limits_.body_bytes_max);
  parser_->on_chunk_header(on_chunk_header_);
  parser_->on_chunk_body(on_chunk_body_);
}

void RequestReader::start(Clock::time_point now) {
  reset_parser();
  status_ = Status::kNeedMore;
  failure_ = {};
  first_byte_at_.reset();
  if (buffer_.size() > 0) first_byte_at_ = now;
  header_done_at_ = {};
  header_bytes_ = 0;
  header_fields_ = 0;
  body_wire_bytes_ = 0;
  chunk_extension_bytes_ = 0;
  chunk_remaining_bytes_ = 0;
  chunk_seen_ = false;
  extensions_over_ = false;
}

size_t RequestReader::read_bytes_max() const { return buffer_.max_size() - buffer_.size(); }

boost::asio::mutable_buffer RequestReader::prepare(size_t bytes) {
  // flat_buffer::prepare throws std::length_error past max_size(): never ask for more than is left.
  return buffer_.prepare(std::min(bytes, read_bytes_max()));
}

void RequestReader::commit(size_t bytes) { buffer_.commit(bytes); }

bool RequestReader::got_some() const { return first_byte_at_.has_value() || buffer_.size() > 0; }

RequestReader::Status RequestReader::fail(http::status status, std::string message,
                                          std::string_view reason) {
  status_ = Status::kFailed;
  failure_ = ReadFailure{status, std::move(message), reason, true};
  return status_;
}

RequestReader::Status RequestReader::ready() {
  if (parser_->chunked()) {
    // Trailer fields were parsed into the same fields as the header: drop them.
    Request& request = parser_->get();
    auto field = request.begin();
    for (size_t i = 0; i < header_fields_ && field != request.end(); ++i) ++field;
    while (field != request.end()) field = request.erase(field);
  }
  status_ = Status::kReady;
  return status_;
}

RequestReader::Status RequestReader::need_more(Clock::time_point now) {
  if (auto when = deadline(); when && now >= *when) {
    failure_ = timed_out(now, std::chrono::milliseconds(0));
    status_ = Status::kFailed;
    return status_;
  }
  // Unreachable with the limits below (each unit the buffer must hold whole is checked first);
  // kept so that a full buffer can never mean waiting forever.
  if (read_bytes_max() == 0) {
    return fail(http::status::bad_request, "the request's framing does not fit the read buffer",
                "read_buffer_full");
  }
  return Status::kNeedMore;
}

RequestReader::Status RequestReader::parse(Clock::time_point now) {
  if (status_ != Status::kNeedMore) return status_;
  if (!first_byte_at_ && buffer_.size() > 0) first_byte_at_ = now;
  while (!parser_->is_done()) {
    std::string_view bytes(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    if (bytes.empty()) return need_more(now);
    bool header_was_done = parser_->is_header_done();
    if (!header_was_done && !parser_->got_some() && bytes.substr(0, kCrlf.size()) == kCrlf) {
      // Empty lines before a request line are ignored (RFC 9112 section 2.2): some clients send
      // a CRLF after a body. The header deadline, running since the first of them, bounds these.
      buffer_.consume(kCrlf.size());
      continue;
    }
    if (!header_was_done) {
      // Beast parses complete fields as they come and applies its header limit to each put()
      // alone; giving it only a whole header section bounds the section itself.
      size_t window = std::min(bytes.size(), limits_.header_bytes_max);
      if (bytes.substr(0, window).find(kEndOfFields) == std::string_view::npos) {
        // Not HTTP at all (a TLS hello, binary junk) is known from its first bytes: say so now
        // rather than at the header deadline.
        size_t method = 0;
        while (method < bytes.size() && is_tchar(bytes[method])) ++method;
        bool empty_line_begun = bytes == "\r";
        if (method < bytes.size() && (method == 0 || bytes[method] != ' ') && !empty_line_begun) {
          return fail(http::status::bad_request, "malformed HTTP request: bad method",
                      "bad_request");
        }
        if (bytes.size() >= limits_.header_bytes_max) {
          return fail(http::status::request_header_fields_too_large,
                      "request headers exceed " + bytes_text(limits_.header_bytes_max),
                      "header_limit");
        }
        return need_more(now);
      }
    } else if (parser_->chunked() && chunk_remaining_bytes_ == 0) {
      switch (scan_chunk_boundary(bytes)) {
        case Scan::kNeedMore:
          return need_more(now);
        case Scan::kLineTooLong:
          return fail(http::status::bad_request,
                      "chunk extensions exceed " + bytes_text(limits_.chunk_extension_bytes_max),
                      "chunk_extension_limit");
        case Scan::kTrailerTooLarge:
          return fail(
              http::status::request_header_fields_too_large,
              "request header and trailer fields exceed " + bytes_text(limits_.header_bytes_max),
              "trailer_limit");
        case Scan::kOk:
          break;
      }
    }
    beast::error_code ec;
    size_t used = parser_->put(buffer_.data(), ec);
    buffer_.consume(used);
    if (header_was_done) body_wire_bytes_ += used;
    if (ec == http::error::body_limit && !header_was_done) {
      // A Content-Length over the limit fails before the header is marked done; a framing error
      // in the same header says more (and is what a smuggling probe should be told).
      if (check_framing() == Status::kFailed) return status_;
    }
    if (ec && ec != http::error::need_more) return map_parser_error(ec);
    if (!header_was_done && parser_->is_header_done()) {
      header_bytes_ = used;
      header_done_at_ = now;
      const Request& request = parser_->get();
      header_fields_ = static_cast<size_t>(std::distance(request.begin(), request.end()));
      if (check_framing() == Status::kFailed) return status_;
    }
    if (used == 0 && !parser_->is_done()) return need_more(now);
  }
  return ready();
}

RequestReader::Status RequestReader::check_framing() {
  const Request& request = parser_->get();
  bool has_transfer_encoding = false;
  bool codings_valid = true;
  std::vector<std::string_view> codings;
  for (const auto& field : request) {
    if (field.name() != http::field::transfer_encoding) continue;
    has_transfer_encoding = true;
    if (!parse_codings(field.value(), codings)) codings_valid = false;
  }
  if (!has_transfer_encoding) {
    if (!parser_->chunked()) return status_;
    return fail(http::status::bad_request, "the request's framing is ambiguous",
                "transfer_encoding");
  }
  if (request.version() < 11) {
    return fail(http::status::bad_request,
                "Transfer-Encoding is not allowed in an HTTP/1.0 request", "transfer_encoding");
  }
  if (request.count(http::field::content_length) > 0) {
    return fail(http::status::bad_request,
                "Transfer-Encoding and Content-Length must not both be sent", "transfer_encoding");
  }
  if (!codings_valid || codings.empty()) {
    return fail(http::status::bad_request, "Transfer-Encoding is not a list of transfer codings",
                "transfer_encoding");
  }
  size_t chunked = static_cast<size_t>(std::count_if(
      codings.begin(), codings.end(), [](std::string_view c) { return iequals(c, "chunked"); }));
  if (chunked != 1 || !iequals(codings.back(), "chunked")) {
    return fail(http::status::bad_request,
                "the last transfer coding must be chunked, and chunked must appear once",
                "transfer_encoding");
  }
  if (codings.size() > 1) {
    return fail(http::status::not_implemented,
                "only the chunked transfer coding is implemented; send the body without others",
                "transfer_coding_unknown");
  }
  // Beast decides chunked-ness on its own reading of the same fields: both must agree, or the
  // body would be framed one way and checked another.
  if (!parser_->chunked()) {
    return fail(http::status::bad_request, "the request's framing is ambiguous",
                "transfer_encoding");
  }
  return status_;
}

RequestReader::Status RequestReader::map_parser_error(beast::error_code ec) {
  if (ec == http::error::body_limit) {
    return fail(http::status::payload_too_large,
                "request body exceeds " + bytes_text(limits_.body_bytes_max), "body_limit");
  }
  if (ec == http::error::header_limit) {
    return fail(http::status::request_header_fields_too_large,
                "request headers exceed " + bytes_text(limits_.header_bytes_max), "header_limit");
  }
  if (ec == http::error::bad_chunk_extension && extensions_over_) {
    return fail(http::status::bad_request,
                "chunk extensions exceed " + bytes_text(limits_.chunk_extension_bytes_max),
                "chunk_extension_limit");
  }
  // Beast's messages name the rule ("bad chunk", "bad Content-Length"), never the bytes.
  return fail(http::status::bad_request, "malformed HTTP request: " + ec.message(), "bad_request");
}

size_t RequestReader::trailer_bytes_allowed() const {
  return limits_.header_bytes_max > header_bytes_ ? limits_.header_bytes_max - header_bytes_ : 0;
}

// At a chunk boundary `bytes` starts with the CRLF that ends the previous chunk's data (after
// the first chunk), then a chunk-size line. Checks the line's length before Beast searches it,
// and for the last chunk the trailer section's, which Beast parses only once it is buffered
// whole and then without any limit of its own.
RequestReader::Scan RequestReader::scan_chunk_boundary(std::string_view bytes) const {
  size_t line = 0;
  if (chunk_seen_) {
    if (bytes.size() < kCrlf.size()) return Scan::kNeedMore;
    line = kCrlf.size();  // Beast checks that these are CRLF
  }
  size_t extensions_left = limits_.chunk_extension_bytes_max -
                           std::min(chunk_extension_bytes_, limits_.chunk_extension_bytes_max);
  size_t line_bytes_max = kChunkSizeLineBytesMax + extensions_left;
  size_t eol = bytes.find(kCrlf, line);
  if (eol == std::string_view::npos) {
    return bytes.size() - line > line_bytes_max + 1 ? Scan::kLineTooLong : Scan::kNeedMore;
  }
  if (eol - line > line_bytes_max) return Scan::kLineTooLong;
  size_t digits = line;
  while (digits < eol && is_hex(bytes[digits])) ++digits;
  bool last_chunk = digits > line && std::all_of(bytes.begin() + static_cast<ptrdiff_t>(line),
                                                 bytes.begin() + static_cast<ptrdiff_t>(digits),
                                                 [](char c) { return c == '0'; });
  if (!last_chunk) return Scan::kOk;  // a data chunk, or a bad size line Beast will refuse

  // The trailer section: field lines, each ending in CRLF, then an empty line.
  size_t trailer = eol + kCrlf.size();
  size_t allowed = trailer_bytes_allowed();
  if (bytes.size() < trailer + kCrlf.size()) return Scan::kNeedMore;
  if (bytes.substr(trailer, kCrlf.size()) == kCrlf) return Scan::kOk;  // no trailer fields
  size_t end = bytes.find(kEndOfFields, trailer);
  if (end == std::string_view::npos) {
    // A terminator could still start in the last three bytes; the fields would then hold at
    // least everything before it.
    return bytes.size() - trailer > allowed + 1 ? Scan::kTrailerTooLarge : Scan::kNeedMore;
  }
  return end + kCrlf.size() - trailer > allowed ? Scan::kTrailerTooLarge : Scan::kOk;
}

std::optional<RequestReader::Clock::time_point> RequestReader::deadline() const {
  if (!first_byte_at_ || status_ != Status::kNeedMore) return std::nullopt;
  Clock::time_point when = *first_byte_at_ + limits_.request_timeout;
  if (!parser_->is_header_done()) {
    return std::min(when, *first_byte_at_ + limits_.header_timeout);
  }
  if (limits_.body_rate_min_bytes_per_s > 0) {
    // The average falls below the minimum once elapsed > bytes / rate.
    auto earned = std::chrono::milliseconds(static_cast<int64_t>(body_wire_bytes_) * 1000 /
                                            limits_.body_rate_min_bytes_per_s);
    when = std::min(when, header_done_at_ + std::max(limits_.body_rate_grace, earned));
  }
  return when;
}

ReadFailure RequestReader::timed_out(Clock::time_point now,
                                     std::chrono::milliseconds silence) const {
  auto failure = [](std::string message, std::string_view reason) {
    return ReadFailure{http::status::request_timeout, std::move(message), reason, true};
  };
  if (first_byte_at_) {
    if (now >= *first_byte_at_ + limits_.request_timeout) {
      return failure("the request did not arrive whole within " + ms_text(limits_.request_timeout),
                     "request_timeout");
    }
    if (!parser_->is_header_done()) {
      if (now >= *first_byte_at_ + limits_.header_timeout) {
        return failure(
            "the request headers did not arrive within " + ms_text(limits_.header_timeout),
            "header_timeout");
      }
    } else if (auto when = deadline(); when && now >= *when) {
      return failure("the request body arrived slower than " +
                         std::to_string(limits_.body_rate_min_bytes_per_s) + " bytes/s",
                     "body_rate");
    }
  }
  return failure("no request bytes arrived for " + ms_text(silence), "idle_timeout");
}

}  // namespace tollgate::server
