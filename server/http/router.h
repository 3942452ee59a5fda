// Maps (method, path) to a handler. Unknown paths get 404 and known paths with another method
// get 405 with an Allow header, both in the JSON error shape.
//
// Not thread-safe to modify; build it fully before the server starts, then share it read-only.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "server/http/types.h"

namespace tollgate::server {

using Handler = std::function<Response(const Request&)>;

class Router {
 public:
  // Registers a handler for an exact path (no query string).
  void add(http::verb method, std::string path, Handler handler);

  // Runs the matching handler; an exception from a handler becomes a 500 without details.
  Response route(const Request& request) const;

 private:
  std::map<std::string, std::map<http::verb, Handler>, std::less<>> routes_;
};

// The path of a request target without its query string.
std::string_view target_path(std::string_view target);

}  // namespace tollgate::server
