#include "server/api/health.h"

#include "server/http/error_response.h"
#include "server/version.h"

namespace tollgate::server {

void add_health_routes(Router& router, Store& store) {
  router.add(http::verb::get, "/healthz", [&store](const Request&) {
    if (auto ping = store.ping(); !ping) {
      return error_response(fail(ErrorCode::kStoreUnavailable, "the store does not answer"));
    }
    return json_response(http::status::ok,
                         {{"ok", true}, {"version", kVersion}, {"store", store.kind()}});
  });
  router.describe(
      http::verb::get, "/healthz",
      public_route_doc("Liveness and a store round trip (503 when the store does not answer)",
                       "Health"));
}

}  // namespace tollgate::server
