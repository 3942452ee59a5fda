// The ceiling for POST /v1/meter: Tollgate's own HTTP stack (session, router, access log) with a
// constant answer and no store, auth or parsing. Nothing that meters can be faster than this.
//
//   bench_hello_server [--port N] [--threads N]
#include <cstdio>

#include "bench/meter/bench_server.h"
#include "server/http/error_response.h"

using namespace tollgate;
using namespace tollgate::server;

int main(int argc, char** argv) {
  auto flags = bench::parse_bench_flags(argc, argv, bench::tollgate_default_threads());
  if (!flags) return bench::exit_with(flags.error());

  // Built once; each request only serializes it (as every real handler must serialize its answer).
  static const nlohmann::ordered_json kAnswer = {{"allowed", true}, {"remaining", 1}, {"cost", 1}};
  Router router;
  router.add(http::verb::post, "/v1/meter",
             [](const Request&) { return json_response(http::status::ok, kAnswer); });

  Logger log(stdout);
  return bench::serve(flags.value().serve, std::move(router), log, {{"server", "ceiling"}});
}
