// Maps (method, path) to a handler. Paths are exact ("/v1/meter") or patterns whose `{name}`
// segments capture one percent-decoded path segment ("/v1/accounts/{userId}/credits"). Unknown
// paths get 404 and known paths with another method get 405 with an Allow header, both in the
// JSON error shape.
//
// Handlers may answer later: an async handler gets a Respond callback it must call exactly once,
// from any thread (the ledger answers from its writer thread after the batch commits).
//
// Routes have a kind: only a browser route's responses may carry Access-Control-Allow-Origin
// (its handler decides, knowing the caller: server/api/cors.h), and only paths with a browser
// route get a CORS preflight answer that lets a browser go on (server/http/cors.h). Any other
// route's responses have that header removed here, whatever the handler set.
//
// Not thread-safe to modify; build it fully before the server starts, then share it read-only.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/http/types.h"

namespace tollgate::server {

using PathParams = std::map<std::string, std::string, std::less<>>;
using Respond = std::function<void(Response)>;

// A response body written over time (server-sent events), chunked. Thread-safe.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  // Queues bytes for the client; dropped once the client is gone.
  virtual void write(std::string data) = 0;
  // Ends the body; nothing may be written after.
  virtual void finish() = 0;
  // `callback` runs once if the client disconnects before finish() (at once if it already has).
  virtual void on_disconnect(std::function<void()> callback) = 0;
};

// Sends `head` (its status and headers; the body is streamed) and then hands the handler the
// stream. A handler answers either with Respond or with OpenStream, once.
using OpenStream =
    std::function<void(Response head, std::function<void(std::shared_ptr<ResponseStream>)> ready)>;
using Handler = std::function<Response(const Request&)>;
using ParamHandler = std::function<Response(const Request&, const PathParams&)>;
using AsyncHandler = std::function<void(const Request&, const PathParams&, Respond)>;
// `open_stream` is empty where streaming is not possible (Router::route without one).
using StreamingHandler =
    std::function<void(const Request&, const PathParams&, Respond, OpenStream open_stream)>;

// Who may call a route from a web page on another origin: kServer routes (the default) are for
// backends and never answer with CORS headers; kBrowser routes take a browser credential (the
// publishable key or a runtime token).
enum class RouteKind { kServer, kBrowser };

// The response header a handler's answer carries to the request's log line and no further: the
// project the request was authenticated to. The session removes it before sending.
inline constexpr std::string_view kProjectLogHeader = "x-tollgate-log-project";

// What GET /openapi.json says of a route beyond its method and path (server/http/openapi.h).
struct RouteDoc {
  std::string summary;
  // The OpenAPI security scheme names that may call it ("adminToken", "secretKey",
  // "publishableKey", "runtimeToken"); empty for a route anyone may call.
  std::vector<std::string> security;
  nlohmann::ordered_json parameters = nlohmann::ordered_json::array();  // query parameters
  nlohmann::ordered_json request_schema;  // the JSON body's schema; null without a body
  bool body_required = false;
  bool idempotent = false;  // takes an Idempotency-Key header
  bool browser = false;     // answers CORS for browser credentials
  // What a success answers: a schema in the document's components, and its media type; with
  // `streams`, text/event-stream as well.
  std::string response_schema;
  std::string response_media_type = "application/json";
  bool streams = false;
  unsigned success_status = 200;       // 201 for a route that creates
  std::string error_schema = "Error";  // what an error answers: a schema in the components
};

// The description of a route anyone may call, without a body or parameters.
inline RouteDoc public_route_doc(std::string summary, std::string response_schema) {
  RouteDoc doc;
  doc.summary = std::move(summary);
  doc.response_schema = std::move(response_schema);
  return doc;
}

class Router {
 public:
  void add(http::verb method, std::string_view path, Handler handler);
  void add(http::verb method, std::string_view path, ParamHandler handler);
  void add_async(http::verb method, std::string_view path, AsyncHandler handler);
  void add_streaming(http::verb method, std::string_view path, StreamingHandler handler,
                     RouteKind kind = RouteKind::kServer);

  // The methods of the browser routes at `path` (a request path, matched as route() would),
  // in registration order; empty when it has none.
  std::vector<http::verb> browser_methods(std::string_view path) const;

  // One registered (method, path template) pair, as the route table lists it.
  struct Entry {
    http::verb method;
    std::string path;               // the template as registered, "/v1/accounts/{userId}"
    const RouteDoc* doc = nullptr;  // null when the route was not described
  };
  // Documents a registered route (the last description of a method and path wins).
  void describe(http::verb method, std::string_view path, RouteDoc doc);

  // Every registered route, in registration order of its path, methods in verb order.
  std::vector<Entry> table() const;

  // The template of the route `path` (a request path) matches, e.g. "/v1/accounts/{userId}";
  // nullopt when no route matches. Logs name routes by template, never by raw path.
  std::optional<std::string> template_of(std::string_view path) const;

  // Runs the matching handler, which calls `respond` once. An exception from a handler before
  // it responds becomes a 500 without details.
  void route(const Request& request, Respond respond, OpenStream open_stream = {}) const;

  // For handlers that answer at once (tests, simple routes).
  Response route(const Request& request) const;

 private:
  struct Route {
    std::vector<std::string> segments;  // "{name}" captures
    std::string path;                   // the template as registered
    std::map<http::verb, StreamingHandler> handlers;
    std::vector<http::verb> browser;  // the methods registered as RouteKind::kBrowser
    std::map<http::verb, RouteDoc> docs;
  };
  const Route* match(std::string_view path, PathParams& params) const;

  std::vector<Route> routes_;
};

// The path of a request target without its query string.
std::string_view target_path(std::string_view target);

// Splits "/a/b/c" into {"a","b","c"}; the empty path gives {}.
std::vector<std::string_view> path_segments(std::string_view path);

// Decodes %XX escapes; nullopt for a malformed escape.
std::optional<std::string> percent_decode(std::string_view text);

}  // namespace tollgate::server
