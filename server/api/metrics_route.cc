// GET /metrics: what the server counted (server/metrics/metrics.h), in Prometheus's text format,
// for the instance admin token only: route templates, provider names and spend are the
// operator's business, not a tenant's.
#include "server/api/api.h"
#include "server/api/route.h"
#include "server/http/error_response.h"

namespace tollgate::server {

void add_metrics_routes(Router& router, ApiContext& api) {
  add_route(router, api,
            {http::verb::get, "/metrics", Who::kAdmin,
             "What the server counted, in the Prometheus text format", "PrometheusText"},
            [&api](const Call&) -> Result<Response> {
              if (api.metrics == nullptr)
                return fail(ErrorCode::kNotFound, "this server keeps no metrics");
              Response response{http::status::ok, 11};
              response.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
              response.set(http::field::cache_control, "no-store");
              response.body() = api.metrics->render();
              return response;
            });
}

}  // namespace tollgate::server
