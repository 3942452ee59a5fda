// The upstream client against real sockets on loopback: the guard applied at connect time to
// what a name resolves to, and one caller-visible failure for every way of not reaching the
// provider; then, against a provider served by the test itself (LoopbackProvider), the pool,
// the retry rules, the deadlines and the body limits.
#include "server/ai/http_client.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

namespace tollgate::server {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr auto kWait = std::chrono::seconds(20);

UpstreamTimeouts short_timeouts() {
  UpstreamTimeouts timeouts;
  timeouts.connect = std::chrono::milliseconds(2'000);
  timeouts.first_byte = std::chrono::milliseconds(2'000);
  return timeouts;
}

// Posts to `url` and waits for the end: the failure, or nullopt for success.
std::optional<UpstreamFailure> post_and_wait(HttpClient& client, const std::string& url) {
  std::promise<std::optional<UpstreamFailure>> done;
  auto future = done.get_future();
  UpstreamHandlers handlers;
  handlers.on_body = [](std::string_view) {};
  handlers.on_done = [&done](std::optional<UpstreamFailure> failure) {
    done.set_value(std::move(failure));
  };
  auto exchange = client.post({url, {}, "{}"}, std::move(handlers));
  EXPECT_EQ(future.wait_for(kWait), std::future_status::ready) << url;
  return future.get();
}

// A listening socket on 127.0.0.1 that never accepts: whether anyone connected is read from
// its backlog afterwards.
struct Listener {
  net::io_context ioc;
  tcp::acceptor acceptor{ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)};

  uint16_t port() const { return acceptor.local_endpoint().port(); }
  bool someone_connected() {
    acceptor.non_blocking(true);
    tcp::socket peer(ioc);
    boost::system::error_code ec;
    acceptor.accept(peer, ec);
    return !ec;
  }
};

// A port with nothing listening on it (one just released).
uint16_t closed_port() {
  net::io_context ioc;
  tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

TEST(HttpClientGuard, ANameResolvingToLoopbackIsRefusedAtConnectTime) {
  Listener listener;
  HttpClient client(OutboundGuard(false), short_timeouts());
  std::string url = "https://localhost:" + std::to_string(listener.port()) + "/v1";
  ASSERT_TRUE(client.guard().check_url(url).ok()) << "a name passes the static check";
  auto failure = post_and_wait(client, url);
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->status, 0);
  EXPECT_EQ(failure->error.code, ErrorCode::kUpstreamError);
  EXPECT_EQ(failure->error.message, kUpstreamUnreachable);
  EXPECT_NE(failure->detail.find("every address of localhost is refused"), std::string::npos)
      << failure->detail;
  EXPECT_NE(failure->detail.find("loopback"), std::string::npos) << failure->detail;
  EXPECT_FALSE(listener.someone_connected());
}

TEST(HttpClientGuard, TheSameNameIsCalledWhenPrivateUpstreamsAreAllowed) {
  Listener listener;
  UpstreamTimeouts timeouts = short_timeouts();
  timeouts.connect = std::chrono::milliseconds(300);
  HttpClient client(OutboundGuard(true), timeouts);
  // TLS to a socket that never answers: the connect itself went through, then the handshake
  // timed out. The caller still sees only that the provider could not be reached.
  auto failure =
      post_and_wait(client, "https://localhost:" + std::to_string(listener.port()) + "/v1");
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->error.message, kUpstreamUnreachable);
  EXPECT_NE(failure->detail.find("TLS"), std::string::npos) << failure->detail;
  EXPECT_TRUE(listener.someone_connected());
}

TEST(HttpClientGuard, OneMessageForEveryWayOfNotReachingTheProvider) {
  HttpClient strict(OutboundGuard(false), short_timeouts());
  HttpClient loose(OutboundGuard(true), short_timeouts());
  std::string port = std::to_string(closed_port());
  struct Case {
    HttpClient* client;
    std::string url;
    const char* detail;  // what the owner's log says
  } cases[] = {
      {&loose, "http://127.0.0.1:" + port + "/v1", "connecting to 127.0.0.1"},
      {&loose, "https://tollgate-test.invalid/v1", "looking up tollgate-test.invalid"},
      {&strict, "https://tollgate-test.invalid/v1", "looking up tollgate-test.invalid"},
      {&strict, "https://localhost:" + port + "/v1", "is refused"},
      {&strict, "http://127.0.0.1:" + port + "/v1", "the URL is refused"},
      {&strict, "https://127.1:" + port + "/v1", "the URL is refused"},
  };
  for (const Case& c : cases) {
    auto failure = post_and_wait(*c.client, c.url);
    ASSERT_TRUE(failure) << c.url;
    EXPECT_EQ(failure->status, 0) << c.url;
    EXPECT_EQ(failure->error.code, ErrorCode::kUpstreamError) << c.url;
    EXPECT_EQ(failure->error.message, kUpstreamUnreachable) << c.url;
    EXPECT_NE(failure->detail.find(c.detail), std::string::npos)
        << c.url << ": " << failure->detail;
  }
}

// ---- Against a provider on loopback ------------------------------------------------------------

using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A provider on 127.0.0.1 served by the test: a thread accepts, one thread a connection reads
// each request and answers it as the script says, by the request's number (from 1, across all
// connections). Connections and requests are counted.
class LoopbackProvider {
 public:
  enum class Then {
    kKeepOpen,  // read the next request on this connection
    kClose,     // end the connection (FIN) after the reply
    kHang,      // send nothing more, keep the connection open until the provider stops
    kTrickle,   // send a one-byte chunk every 50 ms until the client leaves
  };
  struct Reply {
    std::string raw;  // written as is: status line, headers, body
    Then then = Then::kKeepOpen;
  };
  using Script = std::function<Reply(int request)>;

  explicit LoopbackProvider(Script script) : script_(std::move(script)) {
    accept_thread_ = std::thread([this] { accept_loop(); });
  }

  ~LoopbackProvider() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    stopped_.notify_all();
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);  // wakes the blocking accept
    accept_thread_.join();
    {
      std::lock_guard lock(mutex_);
      // Wakes reads and writes blocked on a connection; the sockets close when destroyed below.
      for (auto& socket : sockets_) ::shutdown(socket->native_handle(), SHUT_RDWR);
    }
    for (std::thread& thread : threads_) thread.join();
  }

  std::string url(std::string_view scheme = "http") const {
    std::string url(scheme);
    url.append("://127.0.0.1:").append(std::to_string(acceptor_.local_endpoint().port()));
    return url.append("/v1/chat");
  }
  int connections() {
    std::lock_guard lock(mutex_);
    return connections_;
  }
  int requests() {
    std::lock_guard lock(mutex_);
    return static_cast<int>(arrivals_.size());
  }
  // When each request arrived, in order.
  std::vector<SteadyClock::time_point> arrivals() {
    std::lock_guard lock(mutex_);
    return arrivals_;
  }

 private:
  void accept_loop() {
    for (;;) {
      auto socket = std::make_shared<tcp::socket>(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(*socket, ec);
      std::lock_guard lock(mutex_);
      if (stopping_ || ec) return;
      ++connections_;
      sockets_.push_back(socket);
      threads_.emplace_back([this, socket] { serve(*socket); });
    }
  }

  // Serves the connection; whatever ends it (the script, a request that is not HTTP, the client
  // leaving), the client then sees it closed. Shut, not closed: the descriptor stays this
  // socket's until the destructor, which may still shut it.
  void serve(tcp::socket& socket) {
    serve_requests(socket);
    ::shutdown(socket.native_handle(), SHUT_RDWR);
  }

  void serve_requests(tcp::socket& socket) {
    boost::beast::flat_buffer buffer;
    for (;;) {
      boost::beast::http::request<boost::beast::http::string_body> request;
      boost::system::error_code ec;
      boost::beast::http::read(socket, buffer, request, ec);
      if (ec) return;
      int number = 0;
      {
        std::lock_guard lock(mutex_);
        arrivals_.push_back(SteadyClock::now());
        number = static_cast<int>(arrivals_.size());
      }
      Reply reply = script_(number);
      net::write(socket, net::buffer(reply.raw), ec);
      if (ec) return;
      switch (reply.then) {
        case Then::kKeepOpen:
          continue;
        case Then::kClose:
          return;
        case Then::kHang:
          wait_for_stop(milliseconds::max());
          return;
        case Then::kTrickle:
          while (!ec && !wait_for_stop(milliseconds(50)))
            net::write(socket, net::buffer("1\r\nx\r\n", 6), ec);
          return;
      }
    }
  }

  // True once the provider is stopping; waits at most `timeout` for it.
  bool wait_for_stop(milliseconds timeout) {
    std::unique_lock lock(mutex_);
    if (timeout == milliseconds::max()) {
      stopped_.wait(lock, [this] { return stopping_; });
    } else {
      stopped_.wait_for(lock, timeout, [this] { return stopping_; });
    }
    return stopping_;
  }

  Script script_;
  net::io_context ioc_;
  tcp::acceptor acceptor_{ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)};
  std::thread accept_thread_;
  std::mutex mutex_;
  std::condition_variable stopped_;
  bool stopping_ = false;
  int connections_ = 0;
  std::vector<SteadyClock::time_point> arrivals_;
  std::vector<std::shared_ptr<tcp::socket>> sockets_;
  std::vector<std::thread> threads_;
};

// A whole answer with a Content-Length; `headers` are extra lines, each ending in \r\n.
std::string answer(int status, std::string_view body, std::string_view headers = "") {
  std::string raw = "HTTP/1.1 ";
  raw.append(std::to_string(status)).append(" Status\r\ncontent-type: application/json\r\n");
  raw.append("content-length: ").append(std::to_string(body.size())).append("\r\n");
  raw.append(headers).append("\r\n").append(body);
  return raw;
}

// The head of a chunked 200 and, when given, its first chunk.
std::string chunked_head(std::string_view first_chunk = "") {
  std::string raw = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n";
  raw.append("transfer-encoding: chunked\r\n\r\n");
  if (!first_chunk.empty()) {
    char size[20];
    int length = std::snprintf(size, sizeof size, "%zx\r\n", first_chunk.size());
    raw.append(size, static_cast<size_t>(length)).append(first_chunk).append("\r\n");
  }
  return raw;
}

struct Outcome {
  std::optional<UpstreamFailure> failure;
  std::string body;  // what on_body was given, in order
  milliseconds elapsed{0};
};

Outcome run_exchange(HttpClient& client, const std::string& url) {
  auto body = std::make_shared<std::string>();
  std::promise<std::optional<UpstreamFailure>> done;
  auto future = done.get_future();
  UpstreamHandlers handlers;
  handlers.on_body = [body](std::string_view piece) { body->append(piece); };
  handlers.on_done = [&done](std::optional<UpstreamFailure> failure) {
    done.set_value(std::move(failure));
  };
  auto start = SteadyClock::now();
  auto in_flight = client.post({url, {}, "{}"}, std::move(handlers));
  EXPECT_EQ(future.wait_for(kWait), std::future_status::ready) << url;
  Outcome outcome{future.get(), {}, {}};
  outcome.elapsed = std::chrono::duration_cast<milliseconds>(SteadyClock::now() - start);
  outcome.body = *body;
  return outcome;
}

// The client for loopback providers: private addresses allowed, short timeouts.
UpstreamTimeouts loopback_timeouts() {
  UpstreamTimeouts timeouts;
  timeouts.connect = milliseconds(2'000);
  timeouts.first_byte = milliseconds(5'000);
  timeouts.idle = milliseconds(5'000);
  timeouts.total = milliseconds(15'000);
  return timeouts;
}

// ---- The pool --------------------------------------------------------------------------------

TEST(HttpClientPool, SequentialExchangesShareOneConnection) {
  LoopbackProvider provider([](int n) {
    return LoopbackProvider::Reply{answer(200, "{\"n\":" + std::to_string(n) + "}")};
  });
  HttpClient client(OutboundGuard(true), loopback_timeouts());
  for (int i = 1; i <= 5; ++i) {
    Outcome outcome = run_exchange(client, provider.url());
    EXPECT_FALSE(outcome.failure) << outcome.failure->error.message;
    EXPECT_EQ(outcome.body, "{\"n\":" + std::to_string(i) + "}");
  }
  EXPECT_EQ(provider.requests(), 5);
  EXPECT_EQ(provider.connections(), 1);
}

TEST(HttpClientPool, ConcurrentExchangesOpenTheirOwnThenReuseThem) {
  // Requests are answered in groups of kGroup: none until all of its group has arrived, so the
  // group's exchanges are in flight together and each needs a connection of its own.
  constexpr int kGroup = 4;
  std::atomic<int> arrived{0};
  LoopbackProvider provider([&arrived](int n) {
    ++arrived;
    int group_end = ((n - 1) / kGroup + 1) * kGroup;
    auto deadline = SteadyClock::now() + std::chrono::seconds(10);
    while (arrived < group_end && SteadyClock::now() < deadline)
      std::this_thread::sleep_for(milliseconds(2));
    return LoopbackProvider::Reply{answer(200, "{}")};
  });
  HttpClient client(OutboundGuard(true), loopback_timeouts());
  auto round = [&] {
    std::vector<std::future<Outcome>> outcomes;
    for (int i = 0; i < kGroup; ++i) {
      outcomes.push_back(
          std::async(std::launch::async, [&] { return run_exchange(client, provider.url()); }));
    }
    for (auto& outcome : outcomes) EXPECT_FALSE(outcome.get().failure);
  };
  round();
  EXPECT_EQ(provider.connections(), kGroup);
  round();  // every connection came back to the pool and is taken again
  EXPECT_EQ(provider.requests(), 2 * kGroup);
  EXPECT_EQ(provider.connections(), kGroup);
}

TEST(HttpClientPool, AConnectionTheProviderClosedIsReplacedWithoutCountingAsAnAttempt) {
  // The first answer keeps the connection alive, then the provider closes it anyway; every
  // later answer is a 503, so the second exchange makes all its attempts. The stale pooled
  // connection is replaced by a fresh one inside its first attempt: kUpstreamAttemptsMax
  // requests arrive for it, not one fewer.
  LoopbackProvider provider([](int n) {
    if (n == 1) return LoopbackProvider::Reply{answer(200, "{}"), LoopbackProvider::Then::kClose};
    return LoopbackProvider::Reply{answer(503, "busy")};
  });
  HttpClient client(OutboundGuard(true), loopback_timeouts());
  ASSERT_FALSE(run_exchange(client, provider.url()).failure);
  Outcome outcome = run_exchange(client, provider.url());
  ASSERT_TRUE(outcome.failure);
  EXPECT_EQ(outcome.failure->status, 503);
  EXPECT_EQ(provider.requests(), 1 + kUpstreamAttemptsMax);
  EXPECT_EQ(provider.connections(), 2);  // the 503s keep theirs alive: one fresh connection
}

// ---- Retries ---------------------------------------------------------------------------------

TEST(HttpClientRetry, TooManyRequestsAndServerErrorsAreRetriedAtMostkUpstreamAttemptsMaxTimes) {
  for (int status : {429, 500, 503}) {
    LoopbackProvider provider(
        [status](int) { return LoopbackProvider::Reply{answer(status, "{\"error\":\"e\"}")}; });
    HttpClient client(OutboundGuard(true), loopback_timeouts());
    Outcome outcome = run_exchange(client, provider.url());
    ASSERT_TRUE(outcome.failure) << status;
    EXPECT_EQ(outcome.failure->status, status);
    EXPECT_EQ(outcome.failure->error.code, ErrorCode::kUpstreamError);
    EXPECT_EQ(outcome.failure->error.message,
              "the provider answered HTTP " + std::to_string(status));
    EXPECT_EQ(outcome.failure->body, "{\"error\":\"e\"}");  // the last attempt's, for the adapter
    EXPECT_FALSE(outcome.failure->body_started);
    EXPECT_EQ(outcome.body, "");
    EXPECT_EQ(provider.requests(), kUpstreamAttemptsMax) << status;
    // Each wait is at most the backoff's cap.
    auto arrivals = provider.arrivals();
    for (size_t i = 1; i < arrivals.size(); ++i) {
      EXPECT_LE(arrivals[i] - arrivals[i - 1], kRetryBackoffCap + milliseconds(500)) << status;
    }
  }
}

TEST(HttpClientRetry, ARetryThatSucceedsHandsOnOnlyTheGoodAnswer) {
  LoopbackProvider provider([](int n) {
    return LoopbackProvider::Reply{n < kUpstreamAttemptsMax ? answer(502, "bad gateway")
                                                            : answer(200, "{\"ok\":true}")};
  });
  HttpClient client(OutboundGuard(true), loopback_timeouts());
  Outcome outcome = run_exchange(client, provider.url());
  EXPECT_FALSE(outcome.failure);
  EXPECT_EQ(outcome.body, "{\"ok\":true}");
  EXPECT_EQ(provider.requests(), kUpstreamAttemptsMax);
}

TEST(HttpClientRetry, OtherStatusesAreNotRetriedAndRedirectsAreNotFollowed) {
  for (int status : {400, 401, 404, 422, 301, 307}) {
    LoopbackProvider provider([status](int) {
      return LoopbackProvider::Reply{
          answer(status, "no", "location: http://127.0.0.1:1/elsewhere\r\n")};
    });
    HttpClient client(OutboundGuard(true), loopback_timeouts());
    Outcome outcome = run_exchange(client, provider.url());
    ASSERT_TRUE(outcome.failure) << status;
    EXPECT_EQ(outcome.failure->status, status);
    EXPECT_EQ(outcome.failure->body, "no");
    EXPECT_EQ(provider.requests(), 1) << status;
  }
}

TEST(HttpClientRetry, RetryAfterIsWaitedFor) {
  LoopbackProvider provider([](int n) {
    return LoopbackProvider::Reply{n == 1 ? answer(429, "slow down", "retry-after: 1\r\n")
                                          : answer(200, "{}")};
  });
  HttpClient client(OutboundGuard(true), loopback_timeouts());
  Outcome outcome = run_exchange(client, provider.url());
  EXPECT_FALSE(outcome.failure);
  auto arrivals = provider.arrivals();
  ASSERT_EQ(arrivals.size(), 2u);
  EXPECT_GE(arrivals[1] - arrivals[0], milliseconds(1'000));
  EXPECT_LT(arrivals[1] - arrivals[0], kRetryBackoffCap + milliseconds(500));
}

TEST(HttpClientRetry, AConnectionClosedBeforeAnyAnswerIsRetried) {
  LoopbackProvider provider([](int) {
    return LoopbackProvider::Reply{"", LoopbackProvider::Then::kClose};
  });
  HttpClient client(OutboundGuard(true), loopback_timeouts());
  Outcome outcome = run_exchange(client, provider.url());
  ASSERT_TRUE(outcome.failure);
  EXPECT_EQ(outcome.failure->status, 0);
  EXPECT_EQ(outcome.failure->error.code, ErrorCode::kUpstreamError);
  EXPECT_EQ(outcome.failure->error.message, "the provider closed the connection");
  EXPECT_EQ(provider.requests(), kUpstreamAttemptsMax);
  EXPECT_EQ(provider.connections(), kUpstreamAttemptsMax);
}

TEST(HttpClientRetry, NotReachingTheProviderIsRetriedUnderOneMessage) {
  // TLS to a plain HTTP server: each attempt connects and then fails its handshake, the same
  // path (`unreachable`) as a refused connect or a lookup that fails, where attempts cannot be
  // counted from outside.
  LoopbackProvider provider([](int) { return LoopbackProvider::Reply{answer(200, "{}")}; });
  HttpClient client(OutboundGuard(true), loopback_timeouts());
  Outcome outcome = run_exchange(client, provider.url("https"));
  ASSERT_TRUE(outcome.failure);
  EXPECT_EQ(outcome.failure->status, 0);
  EXPECT_EQ(outcome.failure->error.message, kUpstreamUnreachable);
  EXPECT_NE(outcome.failure->detail.find("TLS"), std::string::npos) << outcome.failure->detail;
  EXPECT_EQ(provider.connections(), kUpstreamAttemptsMax);
  EXPECT_EQ(provider.requests(), 0);
}

TEST(HttpClientRetry, AFirstByteTimeoutIsRetriedAndReportedAsATimeout) {
  LoopbackProvider provider([](int) {
    return LoopbackProvider::Reply{"", LoopbackProvider::Then::kHang};
  });
  UpstreamTimeouts timeouts = loopback_timeouts();
  timeouts.first_byte = milliseconds(200);
  HttpClient client(OutboundGuard(true), timeouts);
  Outcome outcome = run_exchange(client, provider.url());
  ASSERT_TRUE(outcome.failure);
  EXPECT_EQ(outcome.failure->error.code, ErrorCode::kUpstreamTimeout);
  EXPECT_EQ(outcome.failure->error.message, "the provider did not answer in time");
  EXPECT_EQ(provider.requests(), kUpstreamAttemptsMax);
  EXPECT_GE(outcome.elapsed, kUpstreamAttemptsMax * milliseconds(200));
}

TEST(HttpClientRetry, AnAnswerThatStartedIsNeverReplayed) {
  // Broken off after the first chunk, and stalled after it: each ends the exchange with what
  // arrived handed on, after one request.
  struct Case {
    LoopbackProvider::Then then;
    ErrorCode code;
    const char* message;
  } cases[] = {
      {LoopbackProvider::Then::kClose, ErrorCode::kUpstreamError,
       "the provider's answer broke off"},
      {LoopbackProvider::Then::kHang, ErrorCode::kUpstreamTimeout, "the provider stopped sending"},
  };
  for (const Case& c : cases) {
    LoopbackProvider provider([&c](int) {
      return LoopbackProvider::Reply{chunked_head("data: 1\n\n"), c.then};
    });
    UpstreamTimeouts timeouts = loopback_timeouts();
    timeouts.idle = milliseconds(300);
    HttpClient client(OutboundGuard(true), timeouts);
    Outcome outcome = run_exchange(client, provider.url());
    ASSERT_TRUE(outcome.failure) << c.message;
    EXPECT_EQ(outcome.failure->error.code, c.code);
    EXPECT_EQ(outcome.failure->error.message, c.message);
    EXPECT_EQ(outcome.failure->status, 200);
    EXPECT_TRUE(outcome.failure->body_started);
    EXPECT_EQ(outcome.body, "data: 1\n\n");
    EXPECT_EQ(provider.requests(), 1) << c.message;
  }
}

// ---- The total deadline -----------------------------------------------------------------------

TEST(HttpClientDeadline, TheWholeExchangeEndsOnTime) {
  struct Case {
    const char* what;
    LoopbackProvider::Reply reply;
  } cases[] = {
      {"no answer", {"", LoopbackProvider::Then::kHang}},
      // The provider asks for a wait longer than the time left: the deadline ends the wait.
      {"a retry's wait", {answer(503, "busy", "retry-after: 60\r\n")}},
      // A stream that never stops, each piece within the idle timeout.
      {"an endless stream", {chunked_head("x"), LoopbackProvider::Then::kTrickle}},
  };
  for (const Case& c : cases) {
    LoopbackProvider provider([&c](int) { return c.reply; });
    UpstreamTimeouts timeouts = loopback_timeouts();
    timeouts.total = milliseconds(400);
    HttpClient client(OutboundGuard(true), timeouts);
    Outcome outcome = run_exchange(client, provider.url());
    ASSERT_TRUE(outcome.failure) << c.what;
    EXPECT_EQ(outcome.failure->error.code, ErrorCode::kUpstreamTimeout) << c.what;
    EXPECT_EQ(outcome.failure->error.message, "the provider did not finish in time") << c.what;
    EXPECT_GE(outcome.elapsed, milliseconds(400)) << c.what;
    EXPECT_LT(outcome.elapsed, milliseconds(1'500)) << c.what;
    EXPECT_EQ(provider.requests(), 1) << c.what;
  }
}

// ---- Body limits -----------------------------------------------------------------------------

TEST(HttpClientLimits, AStreamedBodyStopsAtkResponseBodyBytesMax) {
  // A chunked body one chunk past the limit: what is handed on stays within it, then the
  // exchange fails as an answer that broke off (never replayed: the body had started).
  constexpr size_t kChunkBytes = size_t{1} << 20;
  std::string chunk(kChunkBytes, 'x');
  std::string body;
  char size[20];
  int length = std::snprintf(size, sizeof size, "%zx\r\n", kChunkBytes);
  for (size_t sent = 0; sent <= kResponseBodyBytesMax; sent += kChunkBytes) {
    body.append(size, static_cast<size_t>(length)).append(chunk).append("\r\n");
  }
  body.append("0\r\n\r\n");
  LoopbackProvider provider([&](int) { return LoopbackProvider::Reply{chunked_head() + body}; });
  HttpClient client(OutboundGuard(true), loopback_timeouts());
  Outcome outcome = run_exchange(client, provider.url());
  ASSERT_TRUE(outcome.failure);
  EXPECT_EQ(outcome.failure->error.message, "the provider's answer broke off");
  EXPECT_TRUE(outcome.failure->body_started);
  EXPECT_LE(outcome.body.size(), kResponseBodyBytesMax);
  EXPECT_GE(outcome.body.size(), kResponseBodyBytesMax - kChunkBytes);
  EXPECT_EQ(provider.requests(), 1);
}

// Beast refuses the head itself (error::body_limit while reading it), so the exchange fails as
// if the connection had closed, before any of the body is read.
TEST(HttpClientLimits, AContentLengthPastTheLimitHandsNothingOn) {
  std::string head = "HTTP/1.1 200 OK\r\ncontent-length: ";
  head.append(std::to_string(kResponseBodyBytesMax + 1)).append("\r\n\r\n");
  LoopbackProvider provider([&](int) {
    return LoopbackProvider::Reply{head, LoopbackProvider::Then::kHang};
  });
  HttpClient client(OutboundGuard(true), loopback_timeouts());
  Outcome outcome = run_exchange(client, provider.url());
  ASSERT_TRUE(outcome.failure);
  EXPECT_EQ(outcome.failure->error.code, ErrorCode::kUpstreamError);
  EXPECT_FALSE(outcome.failure->body_started);
  EXPECT_EQ(outcome.body, "");
}

TEST(HttpClientLimits, AnErrorBodyIsKeptUpTokErrorBodyBytesMax) {
  std::string large(kErrorBodyBytesMax + 1000, 'e');
  LoopbackProvider provider([&](int) { return LoopbackProvider::Reply{answer(400, large)}; });
  HttpClient client(OutboundGuard(true), loopback_timeouts());
  Outcome outcome = run_exchange(client, provider.url());
  ASSERT_TRUE(outcome.failure);
  EXPECT_EQ(outcome.failure->status, 400);
  EXPECT_EQ(outcome.failure->body, large.substr(0, kErrorBodyBytesMax));
}

}  // namespace
}  // namespace tollgate::server
