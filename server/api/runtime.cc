// Runtime sessions: POST /v1/runtime/sessions mints a short-lived token (tg_rt_…) that lets one
// end user run a fixed set of features from a browser. The secret key may always mint; the
// publishable key only when the project allows browser minting, and only from an allowed origin.
#include "server/api/api.h"
#include "server/api/cors.h"
#include "server/api/input.h"
#include "server/api/route.h"
#include "server/api/runtime_auth.h"
#include "server/auth/crypto.h"
#include "server/features/operation.h"
#include "server/http/error_response.h"

namespace tollgate::server {
namespace {

using ojson = nlohmann::ordered_json;

inline constexpr int64_t kSessionTtlMinutesMax = kSessionTtlMax.count();
inline constexpr int64_t kSessionTtlMinutesDefault = 15;
inline constexpr int64_t kMsPerMinute = 60'000;

Error forbidden(std::string message, std::string field) {
  return fail(ErrorCode::kForbidden, std::move(message), std::move(field));
}

// The publishable key mints only where the owner said a browser may: with browser minting on,
// and from a browser origin (which BrowserAccess::admit has checked against the project's).
Result<void> check_browser_minting(const Project& project, const std::string& origin) {
  if (!project.settings.allow_browser_minting) {
    return forbidden(
        "minting runtime sessions needs the secret key, or set "
        "'allowBrowserMinting' and 'allowedOrigins' on the project",
        "key");
  }
  if (origin.empty()) {
    return forbidden(
        "the publishable key mints runtime sessions from a browser only (no Origin "
        "header was sent); mint from a backend with the secret key",
        "origin");
  }
  return {};
}

// The slugs, each an existing feature of the project that the origin (if any) may use.
Result<std::vector<std::string>> operation_ids(ApiContext& api, const json& body,
                                               const std::string& project_id,
                                               const std::string& origin) {
  auto field = body.find("operationIds");
  if (field == body.end() || !field->is_array() || field->empty() ||
      field->size() > token::kOperationsMax) {
    return fail(
        ErrorCode::kInvalidArgument,
        "'operationIds' must list 1-" + std::to_string(token::kOperationsMax) + " feature slugs",
        "operationIds");
  }
  std::vector<std::string> slugs;
  for (size_t i = 0; i < field->size(); ++i) {
    std::string where = "operationIds[" + std::to_string(i) + "]";
    const json& slug = (*field)[i];
    if (!slug.is_string() || slug.get_ref<const std::string&>().empty() ||
        slug.get_ref<const std::string&>().size() > kSlugBytesMax) {
      return fail(ErrorCode::kInvalidArgument, "'" + where + "' must be a feature slug", where);
    }
    const std::string& name = slug.get_ref<const std::string&>();
    if (std::find(slugs.begin(), slugs.end(), name) != slugs.end()) {
      return fail(ErrorCode::kInvalidArgument, "feature '" + name + "' is listed twice", where);
    }
    auto record = api.store.get_operation(project_id, name);
    if (!record) return record.error();
    if (!record.value()) {
      return fail(ErrorCode::kInvalidArgument, "no feature with slug '" + name + "'", where);
    }
    auto op = operation_from_record(*record.value());
    if (!op) return op.error();
    if (auto allowed = check_feature_origin(op.value(), origin, where); !allowed)
      return allowed.error();
    slugs.push_back(name);
  }
  return slugs;
}

ojson render_signing_keys(const std::vector<SigningKeyInfo>& keys) {
  ojson out = ojson::array();
  for (size_t i = 0; i < keys.size(); ++i) {
    const SigningKeyInfo& key = keys[i];
    ojson entry{{"object", "signing_key"},
                {"id", key.id},
                {"status", i == 0 ? "current" : "retired"},
                {"createdAtMs", key.created_at_ms}};
    entry["retiredAtMs"] = key.retired_at_ms > 0 ? ojson(key.retired_at_ms) : ojson();
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace

void add_runtime_routes(Router& router, ApiContext& api) {
  // Signing keys (instance admin): their ids and state, never their bytes.
  add_route(router, api,
            {http::verb::get, "/v1/signing-keys", Who::kAdmin,
             "The runtime-token signing keys: ids and state, never their bytes", "SigningKeyList"},
            [&api](const Call&) -> Result<Response> {
              auto keys = api.signing->list();
              if (!keys) return keys.error();
              return json_response(
                  http::status::ok,
                  ojson{{"data", render_signing_keys(keys.value())}, {"hasMore", false}});
            });

  add_route(router, api,
            {http::verb::post,
             "/v1/signing-keys/rotate",
             Who::kAdmin,
             "Makes a new signing key current; the previous one verifies until retired",
             "SigningKeyRotation",
             Body::kJsonOrEmpty,
             false,
             false,
             {{"revokePrevious", FieldType::kBoolean}}},
            [&api](const Call& call) -> Result<Response> {
              auto rotated = api.signing->rotate(api.now_ms(), call.flag("revokePrevious"));
              if (!rotated) return rotated.error();
              return json_response(http::status::ok,
                                   ojson{{"object", "signing_key_rotation"},
                                         {"current", rotated.value().current},
                                         {"keys", render_signing_keys(rotated.value().keys)},
                                         {"pruned", rotated.value().pruned}});
            });

  add_route(
      router, api,
      {http::verb::post,
       "/v1/runtime/sessions",
       Who::kAnyKey,
       "Mints a runtime token for one end user and some features",
       "RuntimeSession",
       Body::kJson,
       /*browser=*/true,
       /*idempotent=*/false,
       {{"endUserId", FieldType::kString, true, 0, kUserIdBytesMax},
        {"operationIds", FieldType::kArray, true},
        {"ttlMinutes", FieldType::kInteger, false, 1, kSessionTtlMinutesMax}},
       [](const Caller& caller, const Request& request) -> Result<void> {
         if (caller.kind == KeyKind::kSecret) return {};
         return check_browser_minting(caller.project, origin_of(request));
       }},
      [&api](const Call& call) -> Result<Response> {
        const Caller& caller = *call.caller;
        std::string origin =
            caller.kind == KeyKind::kSecret ? std::string() : origin_of(call.request);
        auto slugs = operation_ids(api, call.body, caller.project.id, origin);
        if (!slugs) return slugs.error();
        int64_t now = api.now_ms();
        token::RuntimeClaims claims;
        SigningKeys::Current key = api.signing->current();
        claims.key_id = key.id;
        claims.session_id = new_id("rts_");
        claims.project_id = caller.project.id;
        claims.end_user_id = call.text("endUserId");
        claims.operations = slugs.value();
        claims.issued_at_ms = now;
        claims.expires_at_ms =
            now + call.integer("ttlMinutes", kSessionTtlMinutesDefault) * kMsPerMinute;
        auto token = token::encode(claims, key.signer);
        if (!token) {
          Error error = token.error();
          if (error.param == "end_user_id") error.param = "endUserId";  // the codec's name for it
          return error;
        }
        return json_response(http::status::ok, ojson{{"object", "runtime_session"},
                                                     {"sessionId", claims.session_id},
                                                     {"token", token.value()},
                                                     {"expiresAtMs", claims.expires_at_ms},
                                                     {"endUserId", claims.end_user_id},
                                                     {"operationIds", claims.operations}});
      });
}

}  // namespace tollgate::server
