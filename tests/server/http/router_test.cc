#include "server/http/router.h"

#include <gtest/gtest.h>

#include <algorithm>

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "server/http/error_response.h"

namespace tollgate::server {
namespace {

Request request(http::verb method, std::string target) { return Request{method, target, 11}; }

Router sample_router() {
  Router router;
  router.add(http::verb::get, "/thing", [](const Request&) {
    return json_response(http::status::ok, {{"got", 1}});
  });
  router.add(http::verb::post, "/thing",
             [](const Request&) { return json_response(http::status::created, {}); });
  router.add(http::verb::get, "/boom",
             [](const Request&) -> Response { throw std::runtime_error("secret detail"); });
  return router;
}

TEST(Router, DispatchesByMethodAndIgnoresQuery) {
  Router router = sample_router();
  EXPECT_EQ(router.route(request(http::verb::get, "/thing?key=sk_x")).result(), http::status::ok);
  EXPECT_EQ(router.route(request(http::verb::post, "/thing")).result(), http::status::created);
}

TEST(Router, UnknownPathIs404Json) {
  Response res = sample_router().route(request(http::verb::get, "/nothing"));
  EXPECT_EQ(res.result(), http::status::not_found);
  EXPECT_EQ(nlohmann::json::parse(res.body())["error"]["code"], "not_found");
}

TEST(Router, WrongMethodIs405WithAllow) {
  Response res = sample_router().route(request(http::verb::delete_, "/thing"));
  EXPECT_EQ(res.result(), http::status::method_not_allowed);
  EXPECT_EQ(res[http::field::allow], "GET, POST");
  EXPECT_EQ(nlohmann::json::parse(res.body())["error"]["code"], "method_not_allowed");
}

TEST(Router, HandlerExceptionIs500WithoutDetail) {
  Response res = sample_router().route(request(http::verb::get, "/boom"));
  EXPECT_EQ(res.result(), http::status::internal_server_error);
  EXPECT_EQ(res.body().find("secret detail"), std::string::npos);
}

// Only a browser route's answer may let another origin read it; the router enforces that
// whatever a handler sets.
TEST(Router, OnlyBrowserRoutesKeepAccessControlAllowOrigin) {
  Router router;
  auto allowing = [](const Request&, const PathParams&, Respond respond, const OpenStream&) {
    Response response = json_response(http::status::ok, {});
    response.set(http::field::access_control_allow_origin, "https://app.example.com");
    respond(std::move(response));
  };
  router.add_streaming(http::verb::get, "/v1/accounts/{userId}", allowing, RouteKind::kBrowser);
  router.add_streaming(http::verb::patch, "/v1/accounts/{userId}", allowing);
  router.add_streaming(http::verb::get, "/v1/ledger", allowing);
  auto origin_of = [&](http::verb method, std::string target) {
    Response response = router.route(request(method, std::move(target)));
    return std::string(response[http::field::access_control_allow_origin]);
  };
  EXPECT_EQ(origin_of(http::verb::get, "/v1/accounts/alice"), "https://app.example.com");
  EXPECT_EQ(origin_of(http::verb::patch, "/v1/accounts/alice"), "");
  EXPECT_EQ(origin_of(http::verb::get, "/v1/ledger"), "");
  EXPECT_EQ(router.browser_methods("/v1/accounts/alice?x=1"),
            std::vector<http::verb>{http::verb::get});
  EXPECT_TRUE(router.browser_methods("/v1/ledger").empty());
  EXPECT_TRUE(router.browser_methods("/v1/nothing").empty());
  // Registering a method again as a server route takes back its browser kind.
  router.add_streaming(http::verb::get, "/v1/accounts/{userId}", allowing);
  EXPECT_TRUE(router.browser_methods("/v1/accounts/alice").empty());
  EXPECT_EQ(origin_of(http::verb::get, "/v1/accounts/alice"), "");
}

TEST(Router, TargetPathStripsQuery) {
  EXPECT_EQ(target_path("/a/b?x=1&y=2"), "/a/b");
  EXPECT_EQ(target_path("/a"), "/a");
}

TEST(Router, TableListsEveryRouteByTemplate) {
  Router router;
  auto ok = [](const Request&) { return json_response(http::status::ok, {}); };
  router.add(http::verb::get, "/v1/accounts/{userId}", ok);
  router.add(http::verb::patch, "/v1/accounts/{userId}", ok);
  router.add(http::verb::get, "/v1/accounts/stats", ok);
  std::vector<std::pair<http::verb, std::string>> got;
  for (const Router::Entry& entry : router.table()) got.emplace_back(entry.method, entry.path);
  std::vector<std::pair<http::verb, std::string>> want = {
      {http::verb::get, "/v1/accounts/{userId}"},
      {http::verb::patch, "/v1/accounts/{userId}"},
      {http::verb::get, "/v1/accounts/stats"}};
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
}

TEST(Router, TemplateOfNamesTheRouteNeverTheRawPath) {
  Router router;
  auto ok = [](const Request&) { return json_response(http::status::ok, {}); };
  router.add(http::verb::get, "/v1/accounts/{userId}", ok);
  router.add(http::verb::get, "/v1/accounts/stats", ok);
  router.add(http::verb::get, "/healthz", ok);
  EXPECT_EQ(router.template_of("/v1/accounts/a%40b.example?key=sk_x"), "/v1/accounts/{userId}");
  EXPECT_EQ(router.template_of("/v1/accounts/stats"), "/v1/accounts/stats");
  EXPECT_EQ(router.template_of("/healthz"), "/healthz");
  EXPECT_EQ(router.template_of("/v1/nowhere"), std::nullopt);
  EXPECT_EQ(router.template_of("/v1/accounts/%zz"), std::nullopt);
}

}  // namespace
}  // namespace tollgate::server
