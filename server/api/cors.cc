#include "server/api/cors.h"

#include <algorithm>
#include <memory>

#include "server/api/input.h"
#include "server/http/cors.h"

namespace tollgate::server {
namespace {

bool listed(const std::vector<std::string>& origins, std::string_view origin) {
  return std::find(origins.begin(), origins.end(), origin) != origins.end();
}

}  // namespace

BrowserAccess::BrowserAccess(const ApiContext& api, const Request& request)
    : demo_origins_(api.demo_origins) {
  if (auto origin = request.find(http::field::origin); origin != request.end())
    origin_ = std::string(origin->value());
}

Result<void> BrowserAccess::admit(const Caller& caller) {
  if (caller.kind == KeyKind::kSecret) return {};
  return admit_browser(caller.project);
}

Result<void> BrowserAccess::admit_runtime(const Project& project) { return admit_browser(project); }

Result<void> BrowserAccess::admit_browser(const Project& project) {
  if (!origin_) return {};
  bool allowed = echoable_origin(*origin_) && (listed(project.settings.allowed_origins, *origin_) ||
                                               (project.demo && listed(demo_origins_, *origin_)));
  if (!allowed) {
    return fail(ErrorCode::kForbidden,
                "this project does not allow browser calls from the origin " +
                    origin_->substr(0, kOriginBytesMax) +
                    "; add it to the project's 'allowedOrigins'",
                "origin");
  }
  allowed_ = origin_;
  return {};
}

void BrowserAccess::apply(Response& response) const {
  response.set(http::field::vary, "Origin");
  if (!allowed_) return;
  response.set(http::field::access_control_allow_origin, *allowed_);
  response.set(http::field::access_control_expose_headers, kCorsExposedHeaders);
}

void add_browser_streaming(Router& router, ApiContext& api, http::verb method,
                           std::string_view path, BrowserStreamingHandler handler) {
  router.add_streaming(
      method, path,
      [&api, handler = std::move(handler)](const Request& request, const PathParams& params,
                                           Respond respond, OpenStream open_stream) {
        auto access = std::make_shared<BrowserAccess>(api, request);
        Respond answer = [access, respond = std::move(respond)](Response response) {
          access->apply(response);
          respond(std::move(response));
        };
        OpenStream open;
        if (open_stream) {
          open = [access, open_stream = std::move(open_stream)](
                     Response head, std::function<void(std::shared_ptr<ResponseStream>)> ready) {
            access->apply(head);
            open_stream(std::move(head), std::move(ready));
          };
        }
        handler(request, params, std::move(answer), std::move(open), *access);
      },
      RouteKind::kBrowser);
}

}  // namespace tollgate::server
