// GET /openapi.json: an OpenAPI 3.1 document generated from the router's table, so the spec
// lists exactly the routes the server answers. Every operation documents its path parameters
// and the JSON error shape (docs/api.md) for its error responses.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "server/http/router.h"

namespace tollgate::server {

// The path OpenAPI document is served at.
inline constexpr std::string_view kOpenApiPath = "/openapi.json";

// The OpenAPI 3.1 document for every route in `router`, as JSON text. `schemas` are the
// components the routes' response schemas name; the error shape is added as "Error".
std::string openapi_document(const Router& router, std::string_view version,
                             const nlohmann::ordered_json& schemas);

// Registers GET /openapi.json (no authentication). Call it after every other route: the
// document is built once, here, from the table as it stands (including this route).
void add_openapi_route(Router& router, std::string_view version,
                       const nlohmann::ordered_json& schemas);

}  // namespace tollgate::server
