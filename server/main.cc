// The tollgate binary: parses the command line and runs the chosen command.
//
// Failures print exactly one JSON error line on stderr and exit non-zero: 2 for bad usage,
// 1 for a runtime failure (port taken, data directory unwritable).
#include <cstdio>
#include <iostream>
#include <string_view>
#include <vector>

#include "server/api/health.h"
#include "server/config/config.h"
#include "server/http/error_response.h"
#include "server/http/server.h"
#include "server/log/logger.h"
#include "server/store/store.h"
#include "server/version.h"

namespace {

using namespace tollgate;
using namespace tollgate::server;

int exit_with(const Error& error) {
  std::cerr << error_body(error).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
            << std::endl;
  return error.code == ErrorCode::kInvalidArgument ? 2 : 1;
}

int serve(const ServeConfig& config) {
  Logger log(stdout);
  auto store = open_store({config.data_dir});
  if (!store) return exit_with(store.error());

  Router router;
  add_health_routes(router, *store.value());

  auto server = Server::create(config, std::move(router), log);
  if (!server) return exit_with(server.error());
  log.info("listening",
           {{"host", config.host},
            {"port", server.value()->port()},
            {"url", "http://" + config.host + ":" + std::to_string(server.value()->port())},
            {"store", store.value()->kind()},
            {"data_dir", config.data_dir},
            {"version", kVersion},
            {"threads", config.threads}});
  server.value()->run();
  log.info("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  auto invocation = parse_invocation(args, process_environment());
  if (!invocation) return exit_with(invocation.error());
  switch (invocation.value().command) {
    case Command::kHelp:
      std::cout << usage();
      return 0;
    case Command::kVersion:
      std::cout << "tollgate " << kVersion << "\n";
      return 0;
    case Command::kServe:
      return serve(invocation.value().serve);
  }
  return 1;
}
