// CORS: what Tollgate tells browsers about reading its answers from another origin.
//
// Only browser routes (RouteKind::kBrowser: the publishable key, runtime tokens) ever allow an
// origin, and only one the caller's project lists (server/api/cors.h decides, per request, once
// it knows the caller). Never "null", never "*", never credentials: no cookie or other ambient
// authority is honoured, every call carries its key or token.
//
// A preflight (OPTIONS) carries no credentials, so it cannot know the project. It is answered
// with the request's origin echoed for any path that has a browser route, when the method asked
// for is one of that path's browser methods and every header asked for is one Tollgate reads.
// That lets the browser send the real request, whose answer then decides: it allows the origin
// only when the project does, and a browser credential from any other origin is refused (403)
// before anything runs. Paths without a browser route get a preflight answer without
// Access-Control-Allow-Origin, so browsers never send them cross-origin requests.
#pragma once

#include <array>
#include <string_view>

#include "server/http/router.h"
#include "server/http/types.h"

namespace tollgate::server {

// The request headers a browser may send cross-origin: the ones Tollgate reads.
inline constexpr std::array<std::string_view, 4> kCorsRequestHeaders = {
    "authorization", "content-type", "idempotency-key", "x-tollgate-key"};
// The response headers a page may read beyond the CORS-safelisted ones.
inline constexpr std::string_view kCorsExposedHeaders = "x-request-id, idempotent-replayed";
// How long a browser may reuse a preflight answer (it caches per origin and URL).
inline constexpr std::string_view kCorsPreflightMaxAgeSeconds = "600";
// At most this many headers are read from Access-Control-Request-Headers.
inline constexpr size_t kCorsRequestHeadersMax = 16;

// The answer to an OPTIONS request for `request`'s path, as described above: 204 either way.
Response preflight_response(const Router& router, const Request& request);

// True for an origin that may be echoed: "http://…" or "https://…" without a path, query or
// anything else (so never "null", the opaque origin of sandboxed frames and files).
bool echoable_origin(std::string_view origin);

}  // namespace tollgate::server
