#include "server/http/router.h"

#include <exception>

#include "server/http/error_response.h"

namespace tollgate::server {

std::string_view target_path(std::string_view target) { return target.substr(0, target.find('?')); }

void Router::add(http::verb method, std::string path, Handler handler) {
  routes_[std::move(path)][method] = std::move(handler);
}

Response Router::route(const Request& request) const {
  std::string_view path = target_path(request.target());
  auto route = routes_.find(path);
  if (route == routes_.end()) {
    return error_response(fail(ErrorCode::kNotFound, "no route for " + std::string(path)));
  }
  auto handler = route->second.find(request.method());
  if (handler == route->second.end()) {
    std::string allow;
    for (const auto& [verb, unused] : route->second) {
      allow += (allow.empty() ? "" : ", ") + std::string(http::to_string(verb));
    }
    Response res = error_response(fail(
        ErrorCode::kMethodNotAllowed, std::string(request.method_string()) + " is not allowed on " +
                                          std::string(path) + "; allowed: " + allow));
    res.set(http::field::allow, allow);
    return res;
  }
  try {
    return handler->second(request);
  } catch (const std::exception&) {
    // Never echo exception text: it may carry internal detail.
    return error_response(fail(ErrorCode::kInternal, "internal error"));
  }
}

}  // namespace tollgate::server
