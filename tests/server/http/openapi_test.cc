#include "server/http/openapi.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "server/http/error_response.h"

namespace tollgate::server {
namespace {

Router documented_router() {
  Router router;
  auto ok = [](const Request&) { return json_response(http::status::ok, {{"ok", true}}); };
  router.add(http::verb::get, "/healthz", ok);
  router.add(http::verb::patch, "/v1/accounts/{userId}", ok);
  router.add(http::verb::delete_, "/v1/operations/{slug}", ok);
  return router;
}

TEST(OpenApi, DocumentListsEveryRouteWithItsPathParameters) {
  auto document = nlohmann::json::parse(openapi_document(documented_router(), "1.2.3", nlohmann::ordered_json::object()));
  EXPECT_EQ(document["openapi"], "3.1.0");
  EXPECT_EQ(document["info"]["version"], "1.2.3");
  ASSERT_EQ(document["paths"].size(), 3u);
  EXPECT_TRUE(document["paths"]["/healthz"].contains("get"));
  EXPECT_FALSE(document["paths"]["/healthz"]["get"].contains("parameters"));
  const auto& patch = document["paths"]["/v1/accounts/{userId}"]["patch"];
  ASSERT_EQ(patch["parameters"].size(), 1u);
  EXPECT_EQ(patch["parameters"][0]["name"], "userId");
  EXPECT_EQ(patch["parameters"][0]["in"], "path");
  EXPECT_TRUE(patch.contains("requestBody"));
  EXPECT_EQ(patch["responses"]["default"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Error");
  EXPECT_TRUE(document["paths"]["/v1/operations/{slug}"].contains("delete"));
  EXPECT_TRUE(document["components"]["schemas"].contains("Error"));
}

TEST(OpenApi, RouteServesTheDocumentIncludingItself) {
  Router router = documented_router();
  add_openapi_route(router, "1.2.3", nlohmann::ordered_json::object());
  Response res = router.route(Request{http::verb::get, "/openapi.json", 11});
  ASSERT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res[http::field::content_type], "application/json");
  auto document = nlohmann::json::parse(res.body());
  EXPECT_EQ(document["paths"].size(), 4u);
  EXPECT_TRUE(document["paths"]["/openapi.json"].contains("get"));
}

TEST(OpenApi, ADescribedResponseNamesItsSchemaAndTheComponentsHoldIt) {
  Router router = documented_router();
  RouteDoc doc = public_route_doc("Liveness", "Health");
  router.describe(http::verb::get, "/healthz", doc);
  doc.response_schema = "Account";
  doc.streams = true;
  router.describe(http::verb::patch, "/v1/accounts/{userId}", doc);
  nlohmann::ordered_json schemas = {{"Health", {{"type", "object"}}},
                                    {"Account", {{"type", "object"}}}};
  auto document = nlohmann::json::parse(openapi_document(router, "1.2.3", schemas));
  const auto& health = document["paths"]["/healthz"]["get"]["responses"]["200"]["content"];
  EXPECT_EQ(health["application/json"]["schema"]["$ref"], "#/components/schemas/Health");
  EXPECT_FALSE(health.contains("text/event-stream"));
  const auto& patch =
      document["paths"]["/v1/accounts/{userId}"]["patch"]["responses"]["200"]["content"];
  EXPECT_EQ(patch["application/json"]["schema"]["$ref"], "#/components/schemas/Account");
  EXPECT_TRUE(patch.contains("text/event-stream"));
  EXPECT_TRUE(document["components"]["schemas"].contains("Health"));
  EXPECT_TRUE(document["components"]["schemas"].contains("Error"));
}

}  // namespace
}  // namespace tollgate::server
