#include "server/api/runtime_auth.h"

#include <algorithm>

namespace tollgate::server {
namespace {

Error unauthenticated(std::string message) {
  return fail(ErrorCode::kUnauthenticated, std::move(message), "token");
}

}  // namespace

Result<RuntimeCaller> authenticate_runtime(ApiContext& api, const Request& request) {
  std::string_view presented = bearer_token(request);
  if (presented.empty()) {
    return unauthenticated(
        "send a runtime token as 'Authorization: Bearer tg_rt_…'; mint one "
        "with POST /v1/runtime/sessions");
  }
  if (!presented.starts_with(token::kRuntimeTokenPrefix)) {
    return unauthenticated("this endpoint takes a runtime token (tg_rt_…), not an API key");
  }
  auto claims = api.signing->verify(presented, api.now_ms());
  if (!claims) return claims.error();
  auto project = api.auth.project(claims.value().project_id);
  if (!project) {
    Error error = project.error();
    if (error.code == ErrorCode::kUnauthenticated) error.param = "token";  // revoked or gone
    return error;
  }
  return RuntimeCaller{std::move(claims.value()), std::move(project.value())};
}

std::string origin_of(const Request& request) {
  auto origin = request.find(http::field::origin);
  return origin == request.end() ? "" : std::string(origin->value());
}

Result<void> check_feature_origin(const Operation& op, const std::string& origin,
                                  std::string param) {
  const std::vector<std::string>& allowed = op.allowed_origins;
  if (origin.empty() || allowed.empty()) return {};
  if (std::find(allowed.begin(), allowed.end(), origin) != allowed.end()) return {};
  std::string message = "the feature '";
  message.append(op.slug).append("' may not be used from the origin ").append(origin);
  return fail(ErrorCode::kForbidden, std::move(message), std::move(param));
}

Result<Operation> project_feature(ApiContext& api, const std::string& project_id,
                                  const std::string& slug) {
  auto cached = api.runtime.feature(project_id, slug, [&]() -> Result<std::optional<Operation>> {
    auto record = api.store.get_operation(project_id, slug);
    if (!record) return record.error();
    if (!record.value()) return std::optional<Operation>();
    auto parsed = operation_from_record(*record.value());
    if (!parsed) return parsed.error();
    return std::optional<Operation>(std::move(parsed.value()));
  });
  if (!cached) return cached.error();
  if (!cached.value()) {
    return fail(ErrorCode::kNotFound, "no feature with slug '" + slug + "'", "operation");
  }
  Operation op = std::move(*cached.value());
  if (!op.active) {
    return fail(ErrorCode::kForbidden, "the feature '" + slug + "' is paused", "operation");
  }
  return op;
}

Result<Operation> runnable_operation(ApiContext& api, const RuntimeCaller& caller,
                                     const std::string& slug, const std::string& origin) {
  if (auto scoped = token::check_scope(caller.claims, slug); !scoped) {
    return fail(ErrorCode::kTokenScopeDenied,
                "this runtime token does not grant the feature '" + slug + "'", "operation");
  }
  auto op = project_feature(api, caller.project.id, slug);
  if (!op) return op.error();
  if (auto allowed = check_feature_origin(op.value(), origin, "origin"); !allowed)
    return allowed.error();
  return op;
}

}  // namespace tollgate::server
