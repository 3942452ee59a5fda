// GET /healthz: liveness plus a store round trip, so a load balancer stops sending traffic to a
// process whose database does not answer.
#pragma once

#include "server/http/router.h"
#include "server/store/store.h"

namespace tollgate::server {

// Registers the health routes. `store` must outlive the router.
void add_health_routes(Router& router, Store& store);

}  // namespace tollgate::server
