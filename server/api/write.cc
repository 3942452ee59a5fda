#include "server/api/api.h"
#include "server/api/input.h"

namespace tollgate::server {

Result<Write> authenticated_write(ApiContext& api, const Request& request, Access access) {
  auto body = json_object_body(request);
  auto caller = api.auth.authenticate(request, body ? &body.value() : nullptr, access);
  if (!caller) return caller.error();
  if (!body) return body.error();
  return Write{std::move(caller).value(), std::move(body).value()};
}

}  // namespace tollgate::server
