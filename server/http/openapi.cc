#include "server/http/openapi.h"

#include <cctype>
#include <memory>
#include <nlohmann/json.hpp>

namespace tollgate::server {

namespace {

using Json = nlohmann::ordered_json;

Json error_schema() {
  return {{"type", "object"},
          {"required", {"error"}},
          {"properties",
           {{"error",
             {{"type", "object"},
              {"required", {"type", "code", "message", "param"}},
              {"properties",
               {{"type", {{"type", "string"}}},
                {"code", {{"type", "string"}}},
                {"message", {{"type", "string"}}},
                {"param", {{"type", {"string", "null"}}}}}}}}}}};
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

Json operation(http::verb method, const std::string& path) {
  Json op = {{"operationId", operation_id(method, path)}};
  Json parameters = Json::array();
  for (std::string_view segment : path_segments(path)) {
    if (segment.size() > 2 && segment.front() == '{' && segment.back() == '}') {
      parameters.push_back({{"name", std::string(segment.substr(1, segment.size() - 2))},
                            {"in", "path"},
                            {"required", true},
                            {"schema", {{"type", "string"}}}});
    }
  }
  if (!parameters.empty()) op["parameters"] = std::move(parameters);
  if (method == http::verb::post || method == http::verb::put || method == http::verb::patch) {
    op["requestBody"] = {{"required", false},
                         {"content", {{"application/json", {{"schema", {{"type", "object"}}}}}}}};
  }
  op["responses"] = {
      {"200",
       {{"description", "Success"},
        {"content", {{"application/json", {{"schema", {{"type", "object"}}}}}}}}},
      {"default",
       {{"description", "An error in the JSON error shape"},
        {"content",
         {{"application/json", {{"schema", {{"$ref", "#/components/schemas/Error"}}}}}}}}}};
  return op;
}

}  // namespace

std::string openapi_document(const Router& router, std::string_view version) {
  Json paths = Json::object();
  for (const Router::Entry& entry : router.table()) {
    std::string method(http::to_string(entry.method));
    for (auto& c : method) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    paths[entry.path][method] = operation(entry.method, entry.path);
  }
  Json document = {{"openapi", "3.1.0"},
                   {"info", {{"title", "Tollgate API"}, {"version", std::string(version)}}},
                   {"paths", std::move(paths)},
                   {"components", {{"schemas", {{"Error", error_schema()}}}}}};
  return document.dump();
}

void add_openapi_route(Router& router, std::string_view version) {
  // Registered first with a placeholder so the document lists this route too.
  router.add(http::verb::get, kOpenApiPath, [](const Request&) { return Response{}; });
  auto text = std::make_shared<const std::string>(openapi_document(router, version));
  router.add(http::verb::get, kOpenApiPath, [text](const Request&) {
    Response res{http::status::ok, 11};
    res.set(http::field::content_type, "application/json");
    res.set(http::field::cache_control, "no-store");
    res.body() = *text;
    return res;
  });
}

}  // namespace tollgate::server
