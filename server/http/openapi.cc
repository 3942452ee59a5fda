#include "server/http/openapi.h"

#include <cctype>
#include <memory>
#include <nlohmann/json.hpp>

namespace tollgate::server {

namespace {

using Json = nlohmann::ordered_json;

Json error_schema() {
  Json error = {{"type", "object"},
                {"required", {"type", "code", "message", "param"}},
                {"properties",
                 {{"type", {{"type", "string"}}},
                  {"code", {{"type", "string"}}},
                  {"message", {{"type", "string"}}},
                  {"param", {{"type", {"string", "null"}}}}}}};
  // A 402 adds what the call needed and what the user has.
  return {{"type", "object"},
          {"required", {"error"}},
          {"properties",
           {{"error", std::move(error)},
            {"allowed", {{"const", false}}},
            {"remaining", {{"type", "integer"}}},
            {"cost", {{"type", "integer"}}}}}};
}

std::string operation_id(http::verb method, std::string_view path) {
  std::string id(http::to_string(method));
  for (auto& c : id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (char c : path) {
    bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    id += word ? c : '_';
  }
  return id;
}

Json security_schemes() {
  auto bearer = [](std::string_view description) {
    return Json{{"type", "http"}, {"scheme", "bearer"}, {"description", std::string(description)}};
  };
  return {
      {"adminToken", bearer("The instance admin token, tgadm_…")},
      {"secretKey", bearer("A project's secret key, sk_… (also x-tollgate-key, a \"key\" "
                           "body field or ?key=)")},
      {"publishableKey", bearer("A project's publishable key, pk_…")},
      {"runtimeToken", bearer("A runtime token minted by POST /v1/runtime/sessions")},
      {"userKey", bearer("A user key (tgk_…) made by POST /v1/keys; also read from x-api-key")}};
}

Json operation(http::verb method, const std::string& path, const RouteDoc* doc) {
  Json op = {{"operationId", operation_id(method, path)}};
  if (doc != nullptr && !doc->summary.empty()) op["summary"] = doc->summary;
  if (doc != nullptr) {
    Json security = Json::array();
    for (const std::string& scheme : doc->security) security.push_back({{scheme, Json::array()}});
    op["security"] = std::move(security);
  }
  Json parameters = Json::array();
  for (std::string_view segment : path_segments(path)) {
    if (segment.size() > 2 && segment.front() == '{' && segment.back() == '}') {
      parameters.push_back({{"name", std::string(segment.substr(1, segment.size() - 2))},
                            {"in", "path"},
                            {"required", true},
                            {"schema", {{"type", "string"}}}});
    }
  }
  if (doc != nullptr) {
    for (const Json& parameter : doc->parameters) parameters.push_back(parameter);
    if (doc->idempotent) {
      parameters.push_back(
          {{"name", "Idempotency-Key"},
           {"in", "header"},
           {"required", false},
           {"description", "A retry with the same key and body gets the first answer again"},
           {"schema", {{"type", "string"}, {"minLength", 1}, {"maxLength", 255}}}});
    }
  }
  if (!parameters.empty()) op["parameters"] = std::move(parameters);
  if (doc != nullptr) {
    if (!doc->request_schema.is_null()) {
      op["requestBody"] = {{"required", doc->body_required},
                           {"content", {{"application/json", {{"schema", doc->request_schema}}}}}};
    }
  } else if (method == http::verb::post || method == http::verb::put ||
             method == http::verb::patch) {
    op["requestBody"] = {{"required", false},
                         {"content", {{"application/json", {{"schema", {{"type", "object"}}}}}}}};
  }
  Json success = Json::object();
  if (doc != nullptr && !doc->response_schema.empty()) {
    success[doc->response_media_type] = {
        {"schema", {{"$ref", "#/components/schemas/" + doc->response_schema}}}};
    if (doc->streams) {
      success["text/event-stream"] = {
          {"schema",
           {{"type", "string"},
            {"description",
             "Server-sent events; the last is `done` (the JSON answer) or "
             "`error` (the error shape)"}}}};
    }
  } else {
    success["application/json"] = {{"schema", {{"type", "object"}}}};
  }
  unsigned status = doc != nullptr ? doc->success_status : 200;
  std::string error_schema = doc != nullptr ? doc->error_schema : "Error";
  op["responses"] = {
      {std::to_string(status),
       {{"description", status == 201 ? "Created" : "Success"}, {"content", std::move(success)}}},
      {"default",
       {{"description", "An error in the JSON error shape"},
        {"content",
         {{"application/json",
           {{"schema", {{"$ref", "#/components/schemas/" + error_schema}}}}}}}}}};
  return op;
}

}  // namespace

std::string openapi_document(const Router& router, std::string_view version,
                             const nlohmann::ordered_json& schemas) {
  Json paths = Json::object();
  for (const Router::Entry& entry : router.table()) {
    std::string method(http::to_string(entry.method));
    for (auto& c : method) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    paths[entry.path][method] = operation(entry.method, entry.path, entry.doc);
  }
  Json components = schemas.is_object() ? schemas : Json::object();
  components["Error"] = error_schema();
  Json document = {{"openapi", "3.1.0"},
                   {"info", {{"title", "Tollgate API"}, {"version", std::string(version)}}},
                   {"paths", std::move(paths)},
                   {"components",
                    {{"schemas", std::move(components)}, {"securitySchemes", security_schemes()}}}};
  return document.dump();
}

void add_openapi_route(Router& router, std::string_view version,
                       const nlohmann::ordered_json& schemas) {
  // Registered first with a placeholder so the document lists this route too.
  router.add(http::verb::get, kOpenApiPath, [](const Request&) { return Response{}; });
  router.describe(
      http::verb::get, kOpenApiPath,
      public_route_doc("This document: every route the server answers, generated from its "
                       "route table",
                       "OpenApiDocument"));
  auto text = std::make_shared<const std::string>(openapi_document(router, version, schemas));
  router.add(http::verb::get, kOpenApiPath, [text](const Request&) {
    Response res{http::status::ok, 11};
    res.set(http::field::content_type, "application/json");
    res.set(http::field::cache_control, "no-store");
    res.body() = *text;
    return res;
  });
}

}  // namespace tollgate::server
