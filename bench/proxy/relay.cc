// The floor for bench/proxy: the least any HTTP proxy can add on this machine. One thread, blocking
// I/O, one client at a time: it reads a request, sends it unchanged to the provider over one
// kept-alive connection, reads the answer whole and sends it back. No routing, no auth, no JSON,
// no ledger. A proxy that does real work adds at least this much per request.
//
//   bench_relay UPSTREAM_PORT      (prints {"port":N} once listening on 127.0.0.1)
//
// Concurrency 1 only: bench/proxy measures its latency, never its throughput.
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <string_view>

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr int kIoTimeoutSeconds = 10;          // any read or write; then the connection is dropped
constexpr size_t kBodyBytesMax = 1024 * 1024;  // request or answer body

void set_timeouts(tcp::socket& socket) {
  timeval timeout{kIoTimeoutSeconds, 0};
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  socket.set_option(tcp::no_delay(true));
}

// Relays requests from one client until it closes. False when the provider failed.
bool relay(tcp::socket& client, tcp::socket& upstream, boost::beast::flat_buffer& upstream_buffer) {
  boost::beast::flat_buffer client_buffer;
  boost::system::error_code ec;
  while (true) {
    http::request_parser<http::string_body> request;
    request.body_limit(kBodyBytesMax);
    http::read(client, client_buffer, request, ec);
    if (ec) return true;  // the client closed or sent nonsense: wait for the next one
    http::write(upstream, request.get(), ec);
    if (ec) return false;
    http::response_parser<http::string_body> answer;
    answer.body_limit(kBodyBytesMax);
    http::read(upstream, upstream_buffer, answer, ec);
    if (ec) return false;
    http::write(client, answer.get(), ec);
    if (ec) return true;
  }
}

}  // namespace

int main(int argc, char** argv) {
  unsigned short upstream_port = 0;
  std::string_view arg = argc == 2 ? argv[1] : "";
  auto [end, parse_error] = std::from_chars(arg.data(), arg.data() + arg.size(), upstream_port);
  if (arg.empty() || parse_error != std::errc() || end != arg.data() + arg.size() ||
      upstream_port == 0) {
    std::fprintf(stderr, "{\"error\":{\"type\":\"invalid_request_error\",\"code\":\"invalid_argument\","
                         "\"message\":\"usage: bench_relay UPSTREAM_PORT (1 to 65535)\",\"param\":\"UPSTREAM_PORT\"}}\n");
    return 2;
  }
  net::io_context ioc;
  auto loopback = net::ip::make_address("127.0.0.1");
  tcp::acceptor acceptor(ioc, {loopback, 0});
  tcp::socket upstream(ioc);
  boost::system::error_code ec;
  upstream.connect({loopback, upstream_port}, ec);
  if (ec) {
    std::fprintf(stderr, "bench_relay: cannot connect to 127.0.0.1:%u: %s\n",
                 static_cast<unsigned>(upstream_port), ec.message().c_str());
    return 1;
  }
  set_timeouts(upstream);
  std::printf("{\"port\":%u}\n", static_cast<unsigned>(acceptor.local_endpoint().port()));
  std::fflush(stdout);
  boost::beast::flat_buffer upstream_buffer;
  while (true) {
    tcp::socket client(ioc);
    acceptor.accept(client, ec);
    if (ec) continue;
    set_timeouts(client);
    if (!relay(client, upstream, upstream_buffer)) {
      std::fprintf(stderr, "bench_relay: the provider connection failed\n");
      return 1;
    }
  }
}
