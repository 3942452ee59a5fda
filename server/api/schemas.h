// What each route answers, as named JSON Schemas (OpenAPI 3.1's dialect, JSON Schema 2020-12):
// the components of GET /openapi.json that a RouteSpec's `response` names. Objects list every
// field and allow no others, so a field added to a response without its schema fails the Jest
// suites, which check every answer they get against the spec (tests/js/helpers/api.js).
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

namespace tollgate::server {

// Every response schema, by name (the names RouteSpec::response takes).
const nlohmann::ordered_json& response_schemas();

// The media type a named response is sent as: application/json, or the text/plain of /metrics.
std::string_view response_media_type(std::string_view name);

}  // namespace tollgate::server
