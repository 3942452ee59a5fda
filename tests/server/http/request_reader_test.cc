#include "server/http/request_reader.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace tollgate::server {
namespace {

using namespace std::chrono_literals;
using ReaderClock = RequestReader::Clock;
using Status = RequestReader::Status;

const ReaderClock::time_point kStart = ReaderClock::time_point{} + 1000s;

// What a connection's bytes came to: the requests read whole, then the failure if any.
struct Outcome {
  std::vector<std::string> requests;  // "METHOD target body"
  std::optional<http::status> failed;
  std::string reason;
  bool operator==(const Outcome&) const = default;
};

std::ostream& operator<<(std::ostream& out, const Outcome& outcome) {
  out << "{requests:";
  for (const auto& request : outcome.requests) out << " [" << request << "]";
  if (outcome.failed)
    out << " failed:" << static_cast<int>(*outcome.failed) << " " << outcome.reason;
  return out << "}";
}

// Feeds `wire` to a reader as Session does, at most `piece` bytes per read, with the clock
// standing still (no deadline passes), until the bytes run out or a request fails.
Outcome feed(std::string_view wire, size_t piece, const ReaderLimits& limits = {},
             std::vector<Request>* requests = nullptr) {
  RequestReader reader(limits);
  reader.start(kStart);
  Outcome out;
  size_t offset = 0;
  while (true) {
    Status status = reader.parse(kStart);
    EXPECT_LE(reader.buffered_bytes(), reader.buffer_bytes_max());
    if (status == Status::kReady) {
      const Request& request = reader.request();
      EXPECT_LE(request.body().size(), limits.body_bytes_max);
      out.requests.push_back(std::string(request.method_string()) + " " +
                             std::string(request.target()) + " " + request.body());
      if (requests != nullptr) requests->push_back(request);
      reader.start(kStart);
      continue;
    }
    if (status == Status::kFailed) {
      out.failed = reader.failure().status;
      out.reason = std::string(reader.failure().reason);
      EXPECT_TRUE(reader.failure().close);
      EXPECT_FALSE(reader.failure().message.empty());
      return out;
    }
    if (offset == wire.size()) return out;
    EXPECT_GT(reader.read_bytes_max(), 0u);
    auto buffer = reader.prepare(piece);
    size_t bytes = std::min(buffer.size(), wire.size() - offset);
    std::memcpy(buffer.data(), wire.data() + offset, bytes);
    reader.commit(bytes);
    offset += bytes;
  }
}

// The same outcome whether the bytes come one at a time, seven at a time, or in reads as large
// as the reader allows.
Outcome feed_every_way(std::string_view wire, const ReaderLimits& limits = {}) {
  Outcome whole = feed(wire, wire.size() + 1, limits);
  EXPECT_EQ(feed(wire, 1, limits), whole) << "byte by byte";
  EXPECT_EQ(feed(wire, 7, limits), whole) << "seven bytes at a time";
  return whole;
}

Outcome ok(std::vector<std::string> requests) { return Outcome{std::move(requests), {}, ""}; }
Outcome failed(std::vector<std::string> requests, http::status status, std::string reason) {
  return Outcome{std::move(requests), status, std::move(reason)};
}

const std::string kChunkedHello = "5\r\nhello\r\n0\r\n\r\n";

std::string post_te(std::string_view coding, std::string_view body = kChunkedHello) {
  return "POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + std::string(coding) + "\r\n\r\n" +
         std::string(body);
}

struct FramingCase {
  std::string name;
  std::string wire;
  Outcome expected;
};

class Framing : public ::testing::TestWithParam<FramingCase> {};

TEST_P(Framing, SameOutcomeHoweverTheBytesAreSplit) {
  EXPECT_EQ(feed_every_way(GetParam().wire), GetParam().expected);
}

const std::string kSmuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";

INSTANTIATE_TEST_SUITE_P(
    RequestReader, Framing,
    ::testing::Values(
        FramingCase{"get", "GET /a HTTP/1.1\r\nHost: x\r\n\r\n", ok({"GET /a "})},
        FramingCase{"content_length", "POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
                    ok({"POST /a hello"})},
        FramingCase{"pipelined_pair",
                    "GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 2\r\n"
                    "\r\nhi",
                    ok({"GET /a ", "POST /b hi"})},
        FramingCase{"empty_lines_before_a_request",
                    "\r\n\r\nGET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 2\r\n\r\n"
                    "hi\r\nGET /c HTTP/1.1\r\n\r\n",
                    ok({"GET /a ", "POST /b hi", "GET /c "})},
        FramingCase{"bare_cr_before_a_request", "\rGET /a HTTP/1.1\r\n\r\n",
                    failed({}, http::status::bad_request, "bad_request")},
        FramingCase{"chunked", post_te("chunked"), ok({"POST /p hello"})},
        FramingCase{"chunked_mixed_case", post_te("Chunked"), ok({"POST /p hello"})},
        FramingCase{"chunked_upper_case", post_te("CHUNKED"), ok({"POST /p hello"})},
        FramingCase{"chunked_with_ows", post_te("chunked \t"), ok({"POST /p hello"})},
        FramingCase{"empty_list_elements", post_te(" , ,chunked,"), ok({"POST /p hello"})},
        FramingCase{"chunked_then_pipelined", post_te("chunked") + kSmuggled,
                    ok({"POST /p hello", "GET /smuggled "})},
        FramingCase{"two_chunks_with_extension",
                    post_te("chunked", "2;a=b\r\nhe\r\n3;q=\"x\"\r\nllo\r\n0\r\n\r\n"),
                    ok({"POST /p hello"})},
        FramingCase{"leading_zeros", post_te("chunked", "0005\r\nhello\r\n000\r\n\r\n"),
                    ok({"POST /p hello"})},
        FramingCase{"small_trailer", post_te("chunked", "5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"),
                    ok({"POST /p hello"})},
        FramingCase{"unknown_coding_before_chunked", post_te("gzip, chunked"),
                    failed({}, http::status::not_implemented, "transfer_coding_unknown")},
        FramingCase{"unknown_coding_with_parameter", post_te("gzip;level=1, chunked"),
                    failed({}, http::status::not_implemented, "transfer_coding_unknown")},
        FramingCase{"chunked_not_last", post_te("chunked, gzip", kSmuggled),
                    failed({}, http::status::bad_request, "transfer_encoding")},
        FramingCase{"identity", post_te("identity", kSmuggled),
                    failed({}, http::status::bad_request, "transfer_encoding")},
        FramingCase{"gzip_alone", post_te("gzip", kSmuggled),
                    failed({}, http::status::bad_request, "transfer_encoding")},
        FramingCase{"chunked_twice", post_te("chunked, chunked", kSmuggled),
                    failed({}, http::status::bad_request, "transfer_encoding")},
        FramingCase{"chunked_with_parameter", post_te("chunked;x=1"),
                    failed({}, http::status::bad_request, "transfer_encoding")},
        FramingCase{"not_a_token", post_te("chu@nked"),
                    failed({}, http::status::bad_request, "transfer_encoding")},
        FramingCase{"empty_value", post_te("", kSmuggled),
                    failed({}, http::status::bad_request, "transfer_encoding")},
        FramingCase{"only_commas", post_te(" , ", kSmuggled),
                    failed({}, http::status::bad_request, "transfer_encoding")},
        FramingCase{"te_then_content_length",
                    "POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n" +
                        kChunkedHello,
                    failed({}, http::status::bad_request, "bad_request")},
        FramingCase{"content_length_then_te",
                    "POST /p HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" +
                        kChunkedHello,
                    failed({}, http::status::bad_request, "bad_request")},
        FramingCase{"identity_with_content_length",
                    "POST /p HTTP/1.1\r\nTransfer-Encoding: identity\r\nContent-Length: 5\r\n\r\n"
                    "hello" +
                        kSmuggled,
                    failed({}, http::status::bad_request, "transfer_encoding")},
        FramingCase{"identity_with_content_length_over_limit",
                    "POST /p HTTP/1.1\r\nTransfer-Encoding: identity\r\nContent-Length: "
                    "99999999\r\n\r\n",
                    failed({}, http::status::bad_request, "transfer_encoding")},
        FramingCase{"http10_with_te",
                    "POST /p HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n" + kChunkedHello,
                    failed({}, http::status::bad_request, "transfer_encoding")},
        FramingCase{"duplicate_te_headers",
                    "POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
                    "chunked\r\n\r\n" +
                        kChunkedHello,
                    failed({}, http::status::bad_request, "bad_request")},
        FramingCase{"split_te_headers",
                    "POST /p HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: "
                    "chunked\r\n\r\n" +
                        kChunkedHello,
                    failed({}, http::status::not_implemented, "transfer_coding_unknown")},
        FramingCase{"bad_chunk_size", post_te("chunked", "zz\r\nhello\r\n0\r\n\r\n"),
                    failed({}, http::status::bad_request, "bad_request")},
        FramingCase{"chunk_data_longer_than_its_size",
                    post_te("chunked", "3\r\nhello\r\n0\r\n\r\n"),
                    failed({}, http::status::bad_request, "bad_request")},
        FramingCase{"negative_content_length", "POST /p HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                    failed({}, http::status::bad_request, "bad_request")},
        FramingCase{"content_length_not_a_number",
                    "POST /p HTTP/1.1\r\nContent-Length: 5x\r\n\r\nhello",
                    failed({}, http::status::bad_request, "bad_request")},
        FramingCase{"two_different_content_lengths",
                    "POST /p HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
                    failed({}, http::status::bad_request, "bad_request")},
        FramingCase{"content_length_in_trailer",
                    post_te("chunked", "5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n"),
                    failed({}, http::status::bad_request, "bad_request")},
        FramingCase{"bare_lf_in_chunk_line", post_te("chunked", "5\nhello\r\n0\r\n\r\n"),
                    failed({}, http::status::bad_request, "bad_request")},
        FramingCase{"content_length_over_limit",
                    "POST /p HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n",
                    failed({}, http::status::payload_too_large, "body_limit")},
        FramingCase{"http2_preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
                    failed({}, http::status::bad_request, "bad_request")}),
    [](const ::testing::TestParamInfo<FramingCase>& tested) { return tested.param.name; });

TEST(RequestReader, TwoEqualContentLengthsAreOne) {
  // RFC 9110 section 8.6 allows a list of identical values; Beast accepts it as one length.
  EXPECT_EQ(feed_every_way("POST /p HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\nhello"),
            ok({"POST /p hello"}));
}

TEST(RequestReader, ChunkedBodyOverTheLimitIs413) {
  ReaderLimits limits;
  limits.body_bytes_max = 8;
  EXPECT_EQ(feed_every_way(post_te("chunked", "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n"), limits),
            failed({}, http::status::payload_too_large, "body_limit"));
  EXPECT_EQ(feed_every_way(post_te("chunked", "5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n"), limits),
            ok({"POST /p helloabc"}));
}

TEST(RequestReader, DeclaredBodyOverTheLimitFailsAtTheHeader) {
  ReaderLimits limits;
  limits.body_bytes_max = 10;
  // No body byte is needed to know.
  EXPECT_EQ(feed("POST /p HTTP/1.1\r\nContent-Length: 11\r\n\r\n", 1, limits),
            failed({}, http::status::payload_too_large, "body_limit"));
}

TEST(RequestReader, HeaderSectionOverTheLimitIs431) {
  ReaderLimits limits;
  limits.header_bytes_max = 1024;
  std::string head = "GET / HTTP/1.1\r\nX-Big: " + std::string(1100, 'a') + "\r\n\r\n";
  EXPECT_EQ(feed_every_way(head, limits),
            failed({}, http::status::request_header_fields_too_large, "header_limit"));
  // Many small fields count together.
  std::string many = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 100; ++i) many += "X-F" + std::to_string(i) + ": vvvvvvvv\r\n";
  EXPECT_EQ(feed_every_way(many + "\r\n", limits),
            failed({}, http::status::request_header_fields_too_large, "header_limit"));
  std::string fits = "GET / HTTP/1.1\r\nX-Big: " + std::string(900, 'a') + "\r\n\r\n";
  EXPECT_EQ(feed_every_way(fits, limits), ok({"GET / "}));
}

TEST(RequestReader, TrailerFieldsAreReadThenDropped) {
  std::vector<Request> requests;
  Outcome outcome = feed(post_te("chunked",
                                 "5\r\nhello\r\n0\r\nAuthorization: Bearer sk_x\r\n"
                                 "X-Trailer: 1\r\n\r\n"),
                         1, {}, &requests);
  ASSERT_EQ(outcome, ok({"POST /p hello"}));
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].count(http::field::authorization), 0u);
  EXPECT_EQ(requests[0].count("x-trailer"), 0u);
  EXPECT_EQ(requests[0][http::field::transfer_encoding], "chunked");
  EXPECT_EQ(requests[0][http::field::host], "x");
}

TEST(RequestReader, TrailerOverTheHeaderLimitIs431WithoutGrowingTheBuffer) {
  // 64 KiB in one field: Beast would throw std::length_error storing it.
  std::string trailer = "X-Pad: " + std::string(64 * 1024, 'a') + "\r\n\r\n";
  std::string wire = post_te("chunked", "5\r\nhello\r\n0\r\n" + trailer);
  EXPECT_EQ(feed_every_way(wire),
            failed({}, http::status::request_header_fields_too_large, "trailer_limit"));
  // The header and the trailer share the limit.
  ReaderLimits limits;
  limits.header_bytes_max = 1024;
  std::string head =
      "POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\nX-H: " + std::string(700, 'h') +
      "\r\n\r\n";
  EXPECT_EQ(feed_every_way(head + "0\r\nX-T: " + std::string(400, 't') + "\r\n\r\n", limits),
            failed({}, http::status::request_header_fields_too_large, "trailer_limit"));
  EXPECT_EQ(feed_every_way(head + "0\r\nX-T: " + std::string(200, 't') + "\r\n\r\n", limits),
            ok({"POST /p "}));
}

TEST(RequestReader, UnterminatedTrailerFailsOnceItCannotFit) {
  ReaderLimits limits;
  limits.header_bytes_max = 1024;
  std::string wire = post_te("chunked", "0\r\nX-T: " + std::string(5000, 't'));
  EXPECT_EQ(feed_every_way(wire, limits),
            failed({}, http::status::request_header_fields_too_large, "trailer_limit"));
}

TEST(RequestReader, ChunkExtensionsAreLimitedPerRequest) {
  ReaderLimits limits;
  limits.chunk_extension_bytes_max = 100;
  // Small ones in many chunks add up.
  std::string body;
  for (int i = 0; i < 20; ++i) body += "1;name=value\r\nx\r\n";
  EXPECT_EQ(feed_every_way(post_te("chunked", body + "0\r\n\r\n"), limits),
            failed({}, http::status::bad_request, "chunk_extension_limit"));
  // One endless extension fails without waiting for its end.
  EXPECT_EQ(feed_every_way(post_te("chunked", "1;" + std::string(100'000, 'e')), limits),
            failed({}, http::status::bad_request, "chunk_extension_limit"));
  // Endless leading zeros too.
  EXPECT_EQ(feed_every_way(post_te("chunked", std::string(100'000, '0')), limits),
            failed({}, http::status::bad_request, "chunk_extension_limit"));
  // Within the limit.
  EXPECT_EQ(feed_every_way(post_te("chunked", "1;a=b\r\nx\r\n0;c=d\r\n\r\n"), limits),
            ok({"POST /p x"}));
}

TEST(RequestReader, EveryByteOffsetSplitsTheSameWay) {
  const std::string documents[] = {
      post_te("chunked", "2;ext=1\r\nhe\r\n3\r\nllo\r\n0\r\nX-T: 1\r\n\r\n") + kSmuggled,
      "POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\n\r\n",
      post_te("chunked, gzip", kSmuggled),
  };
  for (const std::string& wire : documents) {
    Outcome whole = feed(wire, wire.size());
    for (size_t cut = 0; cut <= wire.size(); ++cut) {
      RequestReader reader({});
      reader.start(kStart);
      Outcome out;
      for (std::string_view part :
           {std::string_view(wire).substr(0, cut), std::string_view(wire).substr(cut)}) {
        if (!part.empty()) {
          auto buffer = reader.prepare(part.size());
          ASSERT_EQ(buffer.size(), part.size());
          std::memcpy(buffer.data(), part.data(), part.size());
          reader.commit(part.size());
        }
        while (reader.parse(kStart) == Status::kReady) {
          out.requests.push_back(std::string(reader.request().method_string()) + " " +
                                 std::string(reader.request().target()) + " " +
                                 reader.request().body());
          reader.start(kStart);
        }
        if (reader.status() == Status::kFailed) {
          out.failed = reader.failure().status;
          out.reason = std::string(reader.failure().reason);
          break;
        }
      }
      EXPECT_EQ(out, whole) << "cut at " << cut;
    }
  }
}

TEST(RequestReader, NotHttpFailsAtItsFirstBytes) {
  // A TLS ClientHello's first bytes: no need to wait for a header that will never end.
  EXPECT_EQ(feed(std::string("\x16\x03\x01\x02\x00\x01", 6), 1),
            failed({}, http::status::bad_request, "bad_request"));
  EXPECT_EQ(feed("GE\x01", 1), failed({}, http::status::bad_request, "bad_request"));
  EXPECT_EQ(feed(" GET /", 1), failed({}, http::status::bad_request, "bad_request"));
  EXPECT_EQ(feed("GET /partial HT", 1), ok({}));  // still waiting
}

TEST(RequestReader, PrepareNeverAsksBeyondTheMaximum) {
  RequestReader reader({});
  reader.start(kStart);
  auto buffer = reader.prepare(size_t{1} << 30);
  EXPECT_EQ(buffer.size(), reader.buffer_bytes_max());
  std::memset(buffer.data(), 'a', buffer.size());
  reader.commit(buffer.size());
  EXPECT_EQ(reader.read_bytes_max(), 0u);
  EXPECT_EQ(reader.prepare(100).size(), 0u);
  EXPECT_EQ(reader.parse(kStart), Status::kFailed);
  EXPECT_EQ(reader.failure().status, http::status::request_header_fields_too_large);
}

// ---- Time ------------------------------------------------------------------------------------

void put(RequestReader& reader, std::string_view bytes) {
  auto buffer = reader.prepare(bytes.size());
  ASSERT_EQ(buffer.size(), bytes.size());
  std::memcpy(buffer.data(), bytes.data(), bytes.size());
  reader.commit(bytes.size());
}

TEST(RequestReader, NoDeadlineBeforeTheFirstByte) {
  RequestReader reader({});
  reader.start(kStart);
  EXPECT_FALSE(reader.got_some());
  EXPECT_EQ(reader.deadline(), std::nullopt);
  EXPECT_EQ(reader.parse(kStart + 1h), Status::kNeedMore);
}

TEST(RequestReader, HeadersMustArriveWithinTheHeaderTimeout) {
  ReaderLimits limits;
  limits.header_timeout = 10s;
  RequestReader reader(limits);
  reader.start(kStart);
  put(reader, "GET / HTTP/1.1\r\n");
  EXPECT_EQ(reader.parse(kStart), Status::kNeedMore);
  EXPECT_EQ(reader.deadline(), kStart + 10s);
  put(reader, "Host: x\r\n");
  EXPECT_EQ(reader.parse(kStart + 9s), Status::kNeedMore);  // progress does not extend it
  EXPECT_EQ(reader.deadline(), kStart + 10s);
  put(reader, "X-A: 1\r\n");
  EXPECT_EQ(reader.parse(kStart + 10s), Status::kFailed);
  EXPECT_EQ(reader.failure().status, http::status::request_timeout);
  EXPECT_EQ(reader.failure().reason, "header_timeout");
}

TEST(RequestReader, HeadersJustInTimeAreRead) {
  ReaderLimits limits;
  limits.header_timeout = 10s;
  RequestReader reader(limits);
  reader.start(kStart);
  put(reader, "GET / HTTP/1.1\r\n");
  EXPECT_EQ(reader.parse(kStart), Status::kNeedMore);
  put(reader, "\r\n");
  EXPECT_EQ(reader.parse(kStart + 9999ms), Status::kReady);
  EXPECT_EQ(reader.deadline(), std::nullopt);
}

TEST(RequestReader, BodyMustKeepTheMinimumRateAfterTheGrace) {
  ReaderLimits limits;
  limits.body_rate_min_bytes_per_s = 1000;
  limits.body_rate_grace = 2s;
  RequestReader reader(limits);
  reader.start(kStart);
  put(reader, "POST / HTTP/1.1\r\nContent-Length: 100000\r\n\r\n");
  EXPECT_EQ(reader.parse(kStart), Status::kNeedMore);
  EXPECT_EQ(reader.deadline(), kStart + 2s);  // the grace
  put(reader, std::string(3000, 'a'));        // 3 s worth at the minimum
  EXPECT_EQ(reader.parse(kStart + 1s), Status::kNeedMore);
  EXPECT_EQ(reader.deadline(), kStart + 3s);
  EXPECT_EQ(reader.parse(kStart + 2999ms), Status::kNeedMore);
  EXPECT_EQ(reader.parse(kStart + 3s), Status::kFailed);
  EXPECT_EQ(reader.failure().status, http::status::request_timeout);
  EXPECT_EQ(reader.failure().reason, "body_rate");
}

TEST(RequestReader, BodyRateOffWaitsForTheRequestTimeout) {
  ReaderLimits limits;
  limits.body_rate_min_bytes_per_s = 0;
  limits.request_timeout = 60s;
  RequestReader reader(limits);
  reader.start(kStart);
  put(reader, "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n");
  EXPECT_EQ(reader.parse(kStart), Status::kNeedMore);
  EXPECT_EQ(reader.deadline(), kStart + 60s);
  EXPECT_EQ(reader.parse(kStart + 60s), Status::kFailed);
  EXPECT_EQ(reader.failure().reason, "request_timeout");
}

TEST(RequestReader, SilenceWithoutAPassedDeadlineIsTheIdleTimeout) {
  RequestReader reader({});
  reader.start(kStart);
  put(reader, "GET / HTTP/1.1\r\n");
  EXPECT_EQ(reader.parse(kStart), Status::kNeedMore);
  ReadFailure failure = reader.timed_out(kStart + 1s, 1000ms);
  EXPECT_EQ(failure.status, http::status::request_timeout);
  EXPECT_EQ(failure.reason, "idle_timeout");
  EXPECT_NE(failure.message.find("1000 ms"), std::string::npos);
}

TEST(RequestReader, APipelinedRequestStartsItsClockAtStart) {
  ReaderLimits limits;
  limits.header_timeout = 10s;
  RequestReader reader(limits);
  reader.start(kStart);
  put(reader, "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n");
  EXPECT_EQ(reader.parse(kStart), Status::kReady);
  reader.start(kStart + 5s);
  EXPECT_TRUE(reader.got_some());
  EXPECT_EQ(reader.parse(kStart + 5s), Status::kNeedMore);
  EXPECT_EQ(reader.deadline(), kStart + 15s);
}

}  // namespace
}  // namespace tollgate::server
