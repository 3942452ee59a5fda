#include "server/http/server.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>

#include "server/http/error_response.h"

namespace tollgate::server {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

// A real Server on a loopback port 0, logging to a temporary file, run on its own thread.
class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log_file_ = std::tmpfile();
    ASSERT_NE(log_file_, nullptr);
    log_ = std::make_unique<Logger>(log_file_);
    Router router;
    router.add(http::verb::get, "/ok", [](const Request&) {
      return json_response(http::status::ok, {{"ok", true}});
    });
    // Answers, then an exception escapes a later completion handler on the server's threads.
    router.add_async(http::verb::get, "/throw-later",
                     [this](const Request&, const PathParams&, Respond respond) {
                       net::post(server_->io_context(), [] {
                         throw std::runtime_error("escaped; last read: 'request bytes'");
                       });
                       respond(json_response(http::status::ok, {{"ok", true}}));
                     });
    // Not a std::exception, so the router's own catch lets it through to the session.
    router.add(http::verb::get, "/throw-now", [](const Request&) -> Response { throw 42; });
    router.add(http::verb::get, "/unavailable", [](const Request&) {
      return error_response(fail(ErrorCode::kStoreUnavailable, "down"));
    });
    ServeConfig config;
    config.port = 0;
    config.threads = 1;
    auto created = Server::create(config, std::move(router), *log_);
    ASSERT_TRUE(created.ok());
    server_ = std::move(created).value();
    runner_ = std::thread([this] { server_->run(); });
  }

  void TearDown() override {
    if (server_) server_->io_context().stop();
    if (runner_.joinable()) runner_.join();
    server_.reset();
    log_.reset();
    if (log_file_ != nullptr) std::fclose(log_file_);
  }

  // One GET on a fresh connection.
  http::response<http::string_body> get(const std::string& target) {
    net::io_context ioc;
    tcp::socket socket(ioc);
    socket.connect({net::ip::make_address("127.0.0.1"), server_->port()});
    Request request{http::verb::get, target, 11};
    request.set(http::field::host, "x");
    http::write(socket, request);
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(socket, buffer, response);
    return response;
  }

  // Every log line written so far.
  std::vector<nlohmann::json> log_lines() {
    log_->flush();
    std::vector<nlohmann::json> lines;
    std::rewind(log_file_);
    char line[4096];
    while (std::fgets(line, sizeof line, log_file_) != nullptr) {
      lines.push_back(nlohmann::json::parse(line));
    }
    return lines;
  }

  std::FILE* log_file_ = nullptr;
  std::unique_ptr<Logger> log_;
  std::unique_ptr<Server> server_;
  std::thread runner_;
};

TEST_F(ServerTest, AnExceptionEscapingAHandlerIsLoggedAndTheServerServesOn) {
  EXPECT_EQ(get("/throw-later").result(), http::status::ok);
  // The same single thread that ran the throwing handler answers this.
  EXPECT_EQ(get("/ok").result(), http::status::ok);
  EXPECT_EQ(get("/ok").result(), http::status::ok);
  bool logged = false;
  for (const auto& line : log_lines()) {
    if (line["event"] != "unhandled_exception") continue;
    logged = true;
    EXPECT_EQ(line["level"], "error");
    EXPECT_EQ(line["what"], "escaped");  // the input excerpt is cut off
  }
  EXPECT_TRUE(logged);
}

TEST_F(ServerTest, ARouteThrowingSynchronouslyIs500JsonAndTheConnectionGoesOn) {
  auto response = get("/throw-now");
  EXPECT_EQ(response.result(), http::status::internal_server_error);
  auto body = nlohmann::json::parse(response.body());
  EXPECT_EQ(body["error"]["code"], "internal");
  EXPECT_EQ(body["error"]["message"], "internal error");
  EXPECT_EQ(get("/ok").result(), http::status::ok);
}

TEST_F(ServerTest, ResponsesFrom500UpAreLoggedAtError) {
  EXPECT_EQ(get("/unavailable").result(), http::status::service_unavailable);
  EXPECT_EQ(get("/ok").result(), http::status::ok);
  std::map<int, std::string> levels;
  for (const auto& line : log_lines()) {
    if (line["event"] == "http_request") levels[line["status"].get<int>()] = line["level"];
  }
  EXPECT_EQ(levels[503], "error");
  EXPECT_EQ(levels[200], "info");
}

TEST_F(ServerTest, TheOpenFilesLimitIsLogged) {
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  bool logged = false;
  for (const auto& line : log_lines()) {
    if (line["event"] != "open_files_limit") continue;
    logged = true;
    EXPECT_EQ(line["soft"].get<uint64_t>(), static_cast<uint64_t>(limit.rlim_cur));
    EXPECT_EQ(line["hard"].get<uint64_t>(), static_cast<uint64_t>(limit.rlim_max));
    EXPECT_GT(line["open"].get<uint64_t>(), 2u);
    EXPECT_GE(line["connections_max"].get<uint64_t>(), 1u);
  }
  EXPECT_TRUE(logged);
}

TEST(OpenFiles, TheSoftLimitIsRaisedToTheHardLimit) {
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  if (limit.rlim_max <= 256) GTEST_SKIP() << "hard limit too low to lower the soft one";
  rlimit lowered = limit;
  lowered.rlim_cur = 256;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &lowered), 0);
  OpenFilesLimit raised = raise_open_files_limit();
  rlimit now{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &now), 0);
  EXPECT_EQ(now.rlim_cur, now.rlim_max);
  EXPECT_EQ(raised.soft, static_cast<uint64_t>(now.rlim_cur));
  EXPECT_GT(raised.soft, 256u);
  (void)setrlimit(RLIMIT_NOFILE, &limit);
}

TEST(OpenFiles, ConnectionsMaxFitsWhatIsLeft) {
  EXPECT_EQ(connections_max_for({1000, 1000}, 36), (1000 - 36 - kFdHeadroom) / kFdsPerConnection);
  EXPECT_EQ(connections_max_for({50, 50}, 40), 1u);  // never 0
  EXPECT_EQ(connections_max_for({UINT64_MAX, UINT64_MAX}, 10),
            static_cast<size_t>(kConnectionsMaxCeiling));
}

}  // namespace
}  // namespace tollgate::server
