// Projects: POST /v1/projects and POST /v1/projects/{id}/revoke (admin token), GET and PATCH
// /v1/projects/current and POST /v1/projects/current/keys/roll (secret key).
#include "server/api/api.h"
#include "server/api/input.h"
#include "server/api/render.h"
#include "server/api/route.h"
#include "server/auth/crypto.h"
#include "server/billing/catalogue.h"
#include "server/http/error_response.h"

namespace tollgate::server {
namespace {

constexpr std::string_view kAdminTokenSetting = "admin_token_sha256";
constexpr int64_t kBudgetMicrosMax = int64_t{1'000'000'000} * 1'000'000;
// The longest an old key may keep working after a roll.
constexpr int64_t kRollGraceMsMax = int64_t{7} * 24 * 60 * 60 * 1000;
// A secret key that a roll stopped may still replay that roll (the same Idempotency-Key and
// body) for this long after it, so a client whose answer was lost can learn its new key. It can
// do nothing else, and the replay needs the Idempotency-Key, which never travelled with the key.
constexpr int64_t kStoppedKeyReplayMs = int64_t{60} * 60 * 1000;
constexpr size_t kKeyKindBytesMax = 16;

KeyRecord key_record(const std::string& project_id, KeyKind kind, const std::string& key) {
  return {new_id("key_"), project_id, kind, sha256_hex(key), key.substr(key.size() - 4),
          std::nullopt,   0};
}

const char* kind_name(KeyKind kind) {
  return kind == KeyKind::kPublishable ? "publishable" : "secret";
}

ojson render_keys(const std::vector<KeyRecord>& keys) {
  ojson out = ojson::array();
  for (const KeyRecord& key : keys) {
    out.push_back({{"id", key.id},
                   {"kind", kind_name(key.kind)},
                   {"hint", key.hint},
                   {"createdAtMs", key.created_at_ms},
                   {"expiresAtMs", key.expires_at_ms ? ojson(*key.expires_at_ms) : ojson()}});
  }
  return out;
}

// A roll's answer is kept for replay only when it came with an Idempotency-Key, and then sealed
// (AES-256-GCM under the master key) and bound to that record, since it holds the new key.
std::string roll_binding(const Idempotency& idempotency) {
  return "key_roll/" + idempotency.scope + "/" + idempotency.key;
}

Response replay_roll(const ApiContext& api, const Idempotency& idempotency,
                     const std::string& sealed) {
  auto opened = api.secrets->open(sealed, roll_binding(idempotency));
  ojson body = opened ? ojson::parse(opened.value(), nullptr, false) : ojson();
  if (!body.is_object()) {
    return error_response(fail(ErrorCode::kInternal,
                               "the stored answer of this roll cannot be opened; was the master "
                               "key changed?"));
  }
  Response response = json_response(http::status::ok, body);
  response.set("idempotent-replayed", "true");
  return response;
}

// The answer to a roll whose key was refused with `refusal`: a replay when the key is one this
// very roll stopped, no longer ago than kStoppedKeyReplayMs, and the request is the one recorded
// under its Idempotency-Key; otherwise the refusal.
Response replay_for_stopped_key(ApiContext& api, const Request& request, const json* body,
                                const Error& refusal) {
  if (refusal.code != ErrorCode::kUnauthenticated || body == nullptr ||
      request.find("idempotency-key") == request.end()) {
    return error_response(refusal);
  }
  auto stopped = api.auth.authenticate_stopped_secret_key(request, body, kStoppedKeyReplayMs);
  if (!stopped) return error_response(refusal);
  auto idempotency = idempotency_of(request, stopped.value(), *body);
  if (!idempotency || !idempotency.value()) return error_response(refusal);
  const Idempotency& idem = *idempotency.value();
  int64_t now = api.now_ms();
  auto record = api.store.find_idempotency(idem.scope, idem.key, now);
  if (!record) return error_response(record.error());
  if (!record.value() || record.value()->request_hash != idem.request_hash ||
      now - record.value()->created_at_ms > kStoppedKeyReplayMs) {
    return error_response(refusal);
  }
  return replay_roll(api, idem, record.value()->outcome);
}

// POST /v1/projects/current/keys/roll: {kind, graceMs?} -> the new key, shown once.
Response roll_key(ApiContext& api, const Request& request) {
  auto body = json_object_body(request);
  const json* fields = body ? &body.value() : nullptr;
  auto caller = api.auth.authenticate(request, fields, Access::kSecretKey);
  if (!caller) return replay_for_stopped_key(api, request, fields, caller.error());
  if (!body) return error_response(body.error());
  if (auto known = only_fields(body.value(), {"kind", "graceMs"}); !known)
    return error_response(known.error());
  auto kind = string_field(body.value(), "kind", kKeyKindBytesMax);
  if (!kind) return error_response(kind.error());
  if (kind.value() != "secret" && kind.value() != "publishable") {
    return error_response(
        fail(ErrorCode::kInvalidArgument, "'kind' must be \"secret\" or \"publishable\"", "kind"));
  }
  auto grace = int_field(body.value(), "graceMs", 0, kRollGraceMsMax, 0);
  if (!grace) return error_response(grace.error());
  auto idempotency = idempotency_of(request, caller.value(), body.value());
  if (!idempotency) return error_response(idempotency.error());

  const Project& project = caller.value().project;
  KeyKind key_kind = kind.value() == "secret" ? KeyKind::kSecret : KeyKind::kPublishable;
  std::string key = new_api_key(key_kind == KeyKind::kSecret ? "sk" : "pk");
  int64_t now = api.now_ms();
  KeyRoll roll{project.id,
               key_kind,
               caller.value().key_id,
               key_record(project.id, key_kind, key),
               now,
               now + grace.value(),
               idempotency.value(),
               ""};
  ojson answer{{"object", "key_roll"},
               {"kind", kind.value()},
               {"key", key},
               {"keyId", roll.new_key.id},
               {"hint", roll.new_key.hint},
               {"createdAtMs", now},
               {"oldKeyExpiresAtMs", roll.old_key_expires_at_ms}};
  if (roll.idempotency) {
    auto sealed = api.secrets->seal(answer.dump(), roll_binding(*roll.idempotency));
    if (!sealed) return error_response(sealed.error());
    roll.answer = std::move(sealed).value();
  }
  auto rolled = api.store.roll_key(roll);
  if (!rolled) return error_response(rolled.error());
  if (rolled.value().replayed) return replay_roll(api, *roll.idempotency, rolled.value().answer);
  // This process stops the old key at once; the others when their cached copy ages out.
  for (const KeyRecord& changed : rolled.value().changed) api.auth.forget_key(changed.hash);
  return json_response(http::status::ok, answer);
}

// Applies the fields present in a PATCH body (already checked to hold only settings) to
// `settings`.
Result<void> patch_settings(const json& body, ProjectSettings& settings) {
  auto secure = bool_field(body, "secureMetering", settings.secure_metering);
  if (!secure) return secure.error();
  settings.secure_metering = secure.value();
  if (body.contains("plans")) {
    auto plans = parse_plans(body["plans"]);
    if (!plans) return plans.error();
    settings.plans = std::move(plans).value();
  }
  if (body.contains("creditPacks")) {
    auto packs = parse_credit_packs(body["creditPacks"]);
    if (!packs) return packs.error();
    settings.credit_packs = std::move(packs).value();
  }
  if (body.contains("startingCredits")) {
    auto credits = int_field(body, "startingCredits", 0, kCreditAmountMax);
    if (!credits) return credits.error();
    settings.starting_credits = credits.value();
  }
  if (body.contains("lowBalanceThreshold")) {
    auto threshold = int_field(body, "lowBalanceThreshold", 0, kCreditAmountMax);
    if (!threshold) return threshold.error();
    settings.low_balance_threshold = threshold.value();
  }
  auto browser_minting = bool_field(body, "allowBrowserMinting", settings.allow_browser_minting);
  if (!browser_minting) return browser_minting.error();
  settings.allow_browser_minting = browser_minting.value();
  if (body.contains("allowedOrigins")) {
    auto origins = origins_field(body, "allowedOrigins");
    if (!origins) return origins.error();
    settings.allowed_origins = std::move(origins).value();
  }
  if (body.contains("budgetMicros")) {
    if (body["budgetMicros"].is_null()) {
      settings.budget_micros.reset();
    } else {
      auto budget = int_field(body, "budgetMicros", 0, kBudgetMicrosMax);
      if (!budget) return budget.error();
      settings.budget_micros = budget.value();
    }
  }
  return {};
}

}  // namespace

Result<CreatedProject> create_project(Store& store, std::string name, bool demo, int64_t now_ms) {
  CreatedProject created;
  created.project.id = new_id("proj_");
  created.project.name = std::move(name);
  created.project.demo = demo;
  created.project.created_at_ms = now_ms;
  created.publishable_key = new_api_key("pk");
  created.secret_key = new_api_key("sk");
  KeyRecord keys[] = {
      key_record(created.project.id, KeyKind::kPublishable, created.publishable_key),
      key_record(created.project.id, KeyKind::kSecret, created.secret_key)};
  if (auto stored = store.create_project(created.project, keys); !stored) return stored.error();
  return created;
}

Result<std::string> admin_token_hash(Store& store, const std::optional<std::string>& configured,
                                     std::optional<std::string>& created) {
  if (configured) return sha256_hex(*configured);
  auto existing = store.get_setting(kAdminTokenSetting);
  if (!existing) return existing.error();
  if (existing.value()) return *existing.value();
  std::string token = new_api_key("tgadm");
  std::string hash = sha256_hex(token);
  auto stored = store.put_setting_if_absent(kAdminTokenSetting, hash);
  if (!stored) return stored.error();
  if (stored.value() == hash) created = token;  // another process may have won the race
  return stored.value();
}

Result<void> require_admin(const ApiContext& api, const Request& request, std::string_view what) {
  std::string_view presented = bearer_token(request);
  if (presented.empty() || !admin_token_matches(presented, api.admin_token_hash)) {
    return fail(ErrorCode::kUnauthenticated, std::string(what) +
                                                 " needs the instance admin token "
                                                 "(Authorization: Bearer tgadm_…)");
  }
  return {};
}

void add_project_routes(Router& router, ApiContext& api) {
  add_route(router, api,
            {http::verb::post,
             "/v1/projects",
             Who::kAdmin,
             "Creates a project; its keys are shown once",
             "CreatedProject",
             Body::kJson,
             false,
             false,
             {{"name", FieldType::kString, true, 0, kNameBytesMax}}},
            [&api](const Call& call) -> Result<Response> {
              auto created = create_project(api.store, call.text("name"), false, api.now_ms());
              if (!created) return created.error();
              return json_response(http::status::ok, render_created_project(created.value()));
            });

  // Revoking keeps every row (the ledger, usage) for audit; the project's keys and runtime
  // tokens stop here at once and in other processes within kAuthCacheTtl.
  add_route(router, api,
            {http::verb::post, "/v1/projects/{id}/revoke", Who::kAdmin,
             "Revokes a project: its keys and runtime tokens stop working", "RevokedProject",
             Body::kJsonOrEmpty},
            [&api](const Call& call) -> Result<Response> {
              const std::string& id = call.param("id");
              if (auto checked = check_text(id, "id", kNameBytesMax); !checked)
                return checked.error();
              auto revoked = api.store.revoke_project(id, api.now_ms());
              if (!revoked) return revoked.error();
              api.auth.forget_project(id);
              ojson out = render_project(revoked.value());
              out["revokedAtMs"] = *revoked.value().revoked_at_ms;
              return json_response(http::status::ok, out);
            });

  add_route(router, api,
            {http::verb::get, "/v1/projects/current", Who::kSecretKey,
             "The caller's project, its settings and its working keys", "ProjectWithKeys"},
            [&api](const Call& call) -> Result<Response> {
              auto keys = api.store.list_keys(call.caller->project.id, api.now_ms());
              if (!keys) return keys.error();
              ojson out = render_project(call.caller->project);
              out["keys"] = render_keys(keys.value());
              return json_response(http::status::ok, out);
            });

  // The roll has its own pipeline: a key this very roll stopped may still replay it
  // (replay_for_stopped_key), which the shared one would refuse with 401 first.
  router.add(http::verb::post, "/v1/projects/current/keys/roll",
             [&api](const Request& request) { return roll_key(api, request); });
  router.describe(http::verb::post, "/v1/projects/current/keys/roll",
                  route_doc({http::verb::post,
                             "/v1/projects/current/keys/roll",
                             Who::kSecretKey,
                             "Rolls the secret or publishable key; the new one is shown once",
                             "KeyRoll",
                             Body::kJson,
                             false,
                             /*idempotent=*/true,
                             {{"kind",
                               FieldType::kString,
                               true,
                               0,
                               kKeyKindBytesMax,
                               false,
                               {"secret", "publishable"}},
                              {"graceMs", FieldType::kInteger, false, 0, kRollGraceMsMax}}}));

  add_route(router, api,
            {http::verb::patch,
             "/v1/projects/current",
             Who::kSecretKey,
             "Changes the project's settings",
             "Project",
             Body::kJson,
             false,
             false,
             {{"secureMetering", FieldType::kBoolean},
              {"plans", FieldType::kAny},
              {"creditPacks", FieldType::kAny},
              {"startingCredits", FieldType::kAny},
              {"lowBalanceThreshold", FieldType::kAny},
              {"budgetMicros", FieldType::kAny},
              {"allowBrowserMinting", FieldType::kBoolean},
              {"allowedOrigins", FieldType::kAny}}},
            [&api](const Call& call) -> Result<Response> {
              const json& body = call.body;
              // Patched inside one store transaction, so concurrent PATCHes never undo each other.
              auto patched = api.store.patch_project_settings(
                  call.caller->project.id,
                  [&body](ProjectSettings& settings) { return patch_settings(body, settings); });
              if (!patched) return patched.error();
              const Project& project = patched.value();
              api.auth.forget_project(project.id);
              return json_response(http::status::ok, render_project(project));
            });
}

}  // namespace tollgate::server
