// Routes declared as data: each route says who may call it, whether it takes a JSON body or an
// Idempotency-Key, and which fields it reads, and the pipeline here does the rest once, in this
// order, for every route:
//
//   admin token (admin routes) → JSON body → API key (which may travel in the body) or runtime
//   token → the route's own check of the key → browser origin (browser routes) → unknown fields
//   → each declared field's type and bounds → Idempotency-Key → the handler → the error shape →
//   the project id for the request's log line
//
// so a handler only does its own work and returns Result<Response>: an Error becomes the JSON
// error shape (server/http/error_response.h) here, and nothing was written. A bad key is 401
// even when the body is bad too; fields are checked in the order they are declared, so the first
// bad one is named.
//
// The same declaration documents the route in GET /openapi.json (server/http/openapi.h).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/api/api.h"
#include "server/api/cors.h"
#include "server/api/input.h"
#include "server/api/runtime_auth.h"
#include "server/http/router.h"

namespace tollgate::server {

// Who may call a route.
enum class Who {
  kNone,       // anyone
  kAdmin,      // the instance admin token (Authorization: Bearer tgadm_…)
  kSecretKey,  // the project's secret key
  kAnyKey,     // either project key (in --demo mode also no key)
  // A runtime token (Authorization: Bearer tg_rt_…; server/api/runtime_auth.h). Its scope and
  // the feature's own origins are the handler's to check: they depend on the feature it names.
  kRuntimeToken,
  kUserKey,             // a user key (tgk_…; server/auth/auth.h)
  kUserKeyOrSecretKey,  // a user key, or the project's secret key
};

enum class FieldType { kString, kInteger, kBoolean, kObject, kArray, kAny };

// One request field: a body field for routes with a body, else a query parameter. Body fields
// are checked before the handler runs: presence when `required`, the JSON type, the bounds
// (bytes for strings, min..max for integers), `one_of` for strings. kAny is listed (so it is not
// refused as unknown) and documented, and its handler checks it. A query parameter is only
// documented here; its handler reads it with the checked readers in server/api/input.h.
struct Field {
  std::string_view name;
  FieldType type = FieldType::kAny;
  bool required = false;
  int64_t min = 0;        // integers: the least value
  int64_t max = 0;        // strings: most bytes; integers: the greatest value
  bool nullable = false;  // null is allowed (and means "clear it")
  std::vector<std::string_view> one_of = {};
  std::string_view description = {};
};

enum class Body {
  kNone,         // no body is read (GET, DELETE)
  kJson,         // a JSON object, Content-Type: application/json
  kJsonOrEmpty,  // as kJson, or no body at all (read as {})
};

// A route's own check of the key, after it is authenticated and before the browser origin is
// admitted: e.g. a publishable key mints runtime sessions only where the project allows it.
using KeyCheck = std::function<Result<void>(const Caller& caller, const Request& request)>;

// How a route's errors are answered, where not in the usual shape (error_response()): the
// gateway answers in its clients' own wire formats.
using ErrorRender = std::function<Response(const Error& error)>;

struct RouteSpec {
  http::verb method;
  std::string_view path;
  Who who;
  std::string_view summary;
  std::string_view response;  // what a success answers: a schema of server/api/schemas.h
  Body body = Body::kNone;
  bool browser = false;     // answers CORS for browser credentials (server/api/cors.h)
  bool idempotent = false;  // takes an Idempotency-Key
  std::vector<Field> fields = {};
  KeyCheck key_check = {};
  ErrorRender error_render = {};
  http::status success = http::status::ok;  // what a success answers: 200, or 201 (created)
  std::string_view error_schema = "Error";  // what an error answers (with error_render)
};

// What the pipeline established, for the handler.
struct Call {
  const Request& request;
  const PathParams& params;
  const QueryParams& query;
  const json& body;                         // {} without a body
  const Caller* caller;                     // for key routes; null for the others
  const RuntimeCaller* runtime;             // for kRuntimeToken routes; null for the others
  std::optional<Idempotency> idempotency;   // for idempotent routes with the header
  const UserKeyCaller* user_key = nullptr;  // for user-key routes called with one

  // Body fields, already checked: the value, or the fallback when absent (or null).
  std::string text(std::string_view name) const;
  std::optional<std::string> optional_text(std::string_view name) const;
  int64_t integer(std::string_view name, int64_t fallback = 0) const;
  bool flag(std::string_view name, bool fallback = false) const;
  bool has(std::string_view name) const { return body.contains(name); }
  // A path parameter (always present: the route matched).
  const std::string& param(std::string_view name) const;
};

using Reply = std::function<void(Result<Response>)>;
using CallHandler = std::function<Result<Response>(const Call&)>;
// The Call lives until the handler returns; an async handler copies what it keeps.
using AsyncCallHandler = std::function<void(const Call&, Reply)>;
// As an async handler, which may instead answer with a stream (`open_stream` is empty where the
// connection cannot stream).
using StreamingCallHandler = std::function<void(const Call&, Reply, const OpenStream& open_stream)>;

void add_route(Router& router, ApiContext& api, RouteSpec spec, CallHandler handler);
void add_async_route(Router& router, ApiContext& api, RouteSpec spec, AsyncCallHandler handler);
void add_streaming_route(Router& router, ApiContext& api, RouteSpec spec,
                         StreamingCallHandler handler);

// Documents a route registered with its own pipeline, as add_route would have.
void describe_route(Router& router, const RouteSpec& spec);

// Query parameters of the list routes: limit and starting_after.
extern const std::vector<Field> kPageFields;
// The page a list route reads: `limit` + 1 rows (one extra tells whether there is a next page)
// after starting_after.
Page page_of(int64_t limit, const QueryParams& query);

// The checks the pipeline runs on a body, exposed for tests: unknown fields, then each field.
Result<void> check_fields(const json& body, const std::vector<Field>& fields);

// The OpenAPI description of a spec: security, parameters, request and response schemas.
// `streams` adds text/event-stream as a second success media type.
RouteDoc route_doc(const RouteSpec& spec, bool streams = false);

}  // namespace tollgate::server
