#include "server/api/api.h"
#include "server/api/input.h"

namespace tollgate::server {

Result<Write> authenticated_write(ApiContext& api, const Request& request, Access access,
                                  std::initializer_list<std::string_view> fields) {
  auto body = json_object_body(request);
  auto caller = api.auth.authenticate(request, body ? &body.value() : nullptr, access);
  if (!caller) return caller.error();
  if (!body) return body.error();
  if (auto known = only_fields(body.value(), fields); !known) return known.error();
  return Write{std::move(caller).value(), std::move(body).value()};
}

}  // namespace tollgate::server
