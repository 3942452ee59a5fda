// The idle pool: per origin, newest first, at most kPoolIdlePerOriginMax, reused connections
// marked so a stale one can be replaced without counting as a retry.
#include "server/ai/upstream_pool.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <set>

#include "server/ai/http_client.h"

namespace tollgate::server {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

// A connection whose socket is open (an unconnected TCP socket: a real descriptor, no peer).
std::unique_ptr<Connection> open_connection(net::io_context& ioc) {
  auto connection = std::make_unique<Connection>();
  auto socket = std::make_unique<tcp::socket>(ioc);
  socket->open(tcp::v4());
  connection->stream = std::move(socket);
  return connection;
}

TEST(ConnectionPool, OriginKeysSeparateSchemeHostAndPort) {
  ParsedUrl url{true, "api.example.com", HostKind::kName, "443", "/v1"};
  EXPECT_EQ(origin_key(url), "https://api.example.com:443");
  url.tls = false;
  url.port = "8080";
  EXPECT_EQ(origin_key(url), "http://api.example.com:8080");
}

TEST(ConnectionPool, TakesTheNewestOfItsOriginAndMarksItReused) {
  net::io_context ioc;
  ConnectionPool pool;
  EXPECT_EQ(pool.take("https://a:443"), nullptr);
  auto first = open_connection(ioc);
  auto second = open_connection(ioc);
  Connection* newest = second.get();
  second->buffer.commit(net::buffer_copy(second->buffer.prepare(5), net::buffer("stale", 5)));
  pool.give_back("https://a:443", std::move(first));
  pool.give_back("https://a:443", std::move(second));
  EXPECT_EQ(pool.take("https://b:443"), nullptr);  // another origin shares nothing
  auto taken = pool.take("https://a:443");
  ASSERT_EQ(taken.get(), newest);
  EXPECT_TRUE(taken->reused);
  EXPECT_EQ(taken->buffer.size(), 0u);  // what was left in it is not read as the next answer
  EXPECT_TRUE(taken->socket().is_open());
  ASSERT_NE(pool.take("https://a:443"), nullptr);
  EXPECT_EQ(pool.take("https://a:443"), nullptr);
}

TEST(ConnectionPool, KeepsAtMostTheLimitPerOriginAndClosesTheRest) {
  net::io_context ioc;
  ConnectionPool pool;
  for (size_t i = 0; i < kPoolIdlePerOriginMax + 3; ++i) {
    pool.give_back("http://a:80", open_connection(ioc));
  }
  pool.give_back("http://b:80", open_connection(ioc));  // the limit is per origin
  std::set<Connection*> distinct;
  std::vector<std::unique_ptr<Connection>> taken;
  while (auto connection = pool.take("http://a:80")) {
    EXPECT_TRUE(connection->socket().is_open());
    distinct.insert(connection.get());
    taken.push_back(std::move(connection));
  }
  EXPECT_EQ(taken.size(), kPoolIdlePerOriginMax);
  EXPECT_EQ(distinct.size(), kPoolIdlePerOriginMax);
  EXPECT_NE(pool.take("http://b:80"), nullptr);
}

TEST(ConnectionPool, ClearEmptiesEveryOrigin) {
  net::io_context ioc;
  ConnectionPool pool;
  pool.give_back("http://a:80", open_connection(ioc));
  pool.give_back("http://b:80", open_connection(ioc));
  pool.clear();
  EXPECT_EQ(pool.take("http://a:80"), nullptr);
  EXPECT_EQ(pool.take("http://b:80"), nullptr);
}

}  // namespace
}  // namespace tollgate::server
