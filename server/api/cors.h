// CORS for the browser routes, decided in one place: which origin, if any, may read an answer.
//
// A browser route is registered with add_browser_streaming() (server/api/route.h does it); its
// handler gets the request's BrowserAccess and calls admit() as soon as it knows the caller. Every
// response the handler sends from then on, errors included, carries the decision:
//   - the secret key: no Access-Control-Allow-Origin, whatever the Origin (a backend's call);
//   - a browser credential (the publishable key, a keyless demo call, a runtime token) without
//     an Origin header: none either (not a browser, or a same-origin GET);
//   - a browser credential from an origin the project allows (its allowedOrigins; for the demo
//     project also the server's own origins in --demo mode): that origin, with Vary: Origin;
//   - a browser credential from any other origin, "null" included: refused with 403 (param
//     "origin") before anything runs, since the browser would not let the page read the answer.
// Before admit() (a bad key, a malformed request) no origin is allowed. A runtime token's
// feature may narrow the origins further (its own allowedOrigins, checked by the invoke route).
//
// The router strips Access-Control-Allow-Origin from every other route (server/http/router.h);
// preflights are answered by server/http/cors.h.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "server/api/api.h"

namespace tollgate::server {

class BrowserAccess {
 public:
  BrowserAccess(const ApiContext& api, const Request& request);

  // Decides for a caller with an API key (or a keyless demo call); kForbidden as above.
  Result<void> admit(const Caller& caller);
  // Decides for a runtime token of `project`, always a browser credential.
  Result<void> admit_runtime(const Project& project);

  // Adds the decision to a response of this request.
  void apply(Response& response) const;

 private:
  Result<void> admit_browser(const Project& project);

  const std::vector<std::string>& demo_origins_;
  std::optional<std::string> origin_;   // the request's Origin header, if it sent one
  std::optional<std::string> allowed_;  // the origin answers allow, once admitted
};

// A browser route's handler: as a StreamingHandler, plus the request's BrowserAccess, which
// lives until the last response is sent.
using BrowserStreamingHandler =
    std::function<void(const Request&, const PathParams&, Respond, OpenStream, BrowserAccess&)>;

void add_browser_streaming(Router& router, ApiContext& api, http::verb method,
                           std::string_view path, BrowserStreamingHandler handler);

}  // namespace tollgate::server
