// The upstream client against real sockets on loopback: the guard applied at connect time to
// what a name resolves to, and one caller-visible failure for every way of not reaching the
// provider.
#include "server/ai/http_client.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <future>

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

}  // namespace
}  // namespace tollgate::server
