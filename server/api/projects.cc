// Projects: POST /v1/projects (admin token), GET and PATCH /v1/projects/current (secret key).
#include "server/api/api.h"
#include "server/api/input.h"
#include "server/api/render.h"
#include "server/auth/crypto.h"
#include "server/http/error_response.h"

namespace tollgate::server {
namespace {

constexpr std::string_view kAdminTokenSetting = "admin_token_sha256";
constexpr size_t kPlansMax = 20;
constexpr int64_t kPlanCreditsMax = kCreditAmountMax;
constexpr int64_t kPriceMicrosMax = int64_t{1'000'000} * 1'000'000;  // $1M per month
constexpr int64_t kBudgetMicrosMax = int64_t{1'000'000'000} * 1'000'000;

KeyRecord key_record(const std::string& project_id, KeyKind kind, const std::string& key) {
  return {new_id("key_"), project_id, kind, sha256_hex(key), key.substr(key.size() - 4)};
}

Result<std::vector<Plan>> parse_plans(const json& value) {
  if (!value.is_array()) return fail(ErrorCode::kInvalidArgument, "'plans' must be an array", "plans");
  if (value.size() > kPlansMax) {
    return fail(ErrorCode::kInvalidArgument,
                "'plans' may list at most " + std::to_string(kPlansMax) + " plans", "plans");
  }
  std::vector<Plan> plans;
  for (size_t i = 0; i < value.size(); ++i) {
    const json& plan = value[i];
    std::string where = "plans[" + std::to_string(i) + "]";
    if (!plan.is_object()) {
      return fail(ErrorCode::kInvalidArgument, "'" + where + "' must be an object", where);
    }
    if (auto known = only_fields(plan, {"name", "monthlyCredits", "priceMicros"}); !known) {
      Error error = known.error();
      error.param = where + "." + error.param;
      return error;
    }
    auto name = string_field(plan, "name", 64);
    auto credits = int_field(plan, "monthlyCredits", 0, kPlanCreditsMax, 0);
    auto price = int_field(plan, "priceMicros", 0, kPriceMicrosMax, 0);
    for (const Error* error : {name ? nullptr : &name.error(), credits ? nullptr : &credits.error(),
                               price ? nullptr : &price.error()}) {
      if (error != nullptr) {
        Error scoped = *error;
        scoped.param = where + "." + scoped.param;
        return scoped;
      }
    }
    if (name.value() == "free" && price.value() != 0) {
      return fail(ErrorCode::kInvalidArgument, "the 'free' plan cannot have a price",
                  where + ".priceMicros");
    }
    for (const Plan& earlier : plans) {
      if (earlier.name == name.value()) {
        return fail(ErrorCode::kInvalidArgument, "plan '" + name.value() + "' is listed twice",
                    where + ".name");
      }
    }
    plans.push_back({name.value(), credits.value(), price.value()});
  }
  return plans;
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
  router.add(http::verb::post, "/v1/projects", [&api](const Request& request) {
    if (auto admin = require_admin(api, request, "creating a project"); !admin)
      return error_response(admin.error());
    auto body = json_object_body(request);
    if (!body) return error_response(body.error());
    if (auto known = only_fields(body.value(), {"name"}); !known) return error_response(known.error());
    auto name = string_field(body.value(), "name", kNameBytesMax);
    if (!name) return error_response(name.error());
    auto created = create_project(api.store, name.value(), false, api.now_ms());
    if (!created) return error_response(created.error());
    return json_response(http::status::ok, render_created_project(created.value()));
  });

  router.add(http::verb::get, "/v1/projects/current", [&api](const Request& request) {
    auto caller = api.auth.authenticate(request, nullptr, Access::kSecretKey);
    if (!caller) return error_response(caller.error());
    return json_response(http::status::ok, render_project(caller.value().project));
  });

  router.add(http::verb::patch, "/v1/projects/current", [&api](const Request& request) {
    auto write = authenticated_write(api, request, Access::kSecretKey,
                                     {"secureMetering", "plans", "startingCredits",
                                      "lowBalanceThreshold", "budgetMicros",
                                      "allowBrowserMinting", "allowedOrigins"});
    if (!write) return error_response(write.error());
    const json& body = write.value().body;
    // Patched inside one store transaction, so concurrent PATCHes never undo each other.
    auto patched = api.store.patch_project_settings(
        write.value().caller.project.id,
        [&body](ProjectSettings& settings) { return patch_settings(body, settings); });
    if (!patched) return error_response(patched.error());
    const Project& project = patched.value();
    api.auth.forget_project(project.id);
    return json_response(http::status::ok, render_project(project));
  });
}

}  // namespace tollgate::server
