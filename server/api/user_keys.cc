// The user keys routes (secret key): create, list, read, patch, revoke, roll, credit; and
// GET /v1/key, a user key's own budget.
#include "server/api/user_keys.h"

#include <algorithm>

#include "server/api/api.h"
#include "server/api/route.h"
#include "server/auth/crypto.h"
#include "server/http/error_response.h"
#include "server/ledger/ledger_rules.h"
#include "tollgate/calendar/calendar.h"
#include "tollgate/core/json_read.h"

namespace tollgate::server {
namespace {

constexpr int64_t kDayMs = 86'400'000;
constexpr size_t kKeyModelsMax = 64;
constexpr size_t kModelNameBytesMax = 200;
constexpr size_t kKeyMetadataBytesMax = 4096;
constexpr int64_t kMicrosMax = int64_t{1'000'000'000'000'000};  // a billion dollars
constexpr int64_t kRollGraceMsMax = int64_t{7} * kDayMs;
// The characters of a secret `start` shows after "tgk_": enough to tell keys apart.
constexpr size_t kStartChars = 4;

const std::vector<std::string_view> kCapPeriods = {"day", "week", "month", "total"};

// A models allow-list: strings "provider/model", "provider/*" or "*".
Result<std::vector<std::string>> models_field(const json& body) {
  std::vector<std::string> models;
  const json* list = json_read::find(body, "models");
  if (list == nullptr || list->is_null()) return models;
  if (!list->is_array() || list->size() > kKeyModelsMax) {
    return invalid_field(
        "\"models\" must be an array of at most " + std::to_string(kKeyModelsMax) + " model names",
        "models");
  }
  for (const json& entry : *list) {
    if (!entry.is_string() || entry.get_ref<const std::string&>().empty() ||
        entry.get_ref<const std::string&>().size() > kModelNameBytesMax) {
      return invalid_field("each of \"models\" is a model name such as \"openai/gpt-4o-mini\"",
                           "models");
    }
    const std::string& name = entry.get_ref<const std::string&>();
    size_t slash = name.find('/');
    if (name != "*" && (slash == std::string::npos || slash == 0 || slash + 1 == name.size())) {
      std::string shown = name.substr(0, 64);
      return invalid_field(
          "\"" + shown + "\" in \"models\" is not \"provider/model\", \"provider/*\" or \"*\"",
          "models");
    }
    models.push_back(name);
  }
  return models;
}

Result<std::string> metadata_field(const json& body) {
  const json* metadata = json_read::find(body, "metadata");
  if (metadata == nullptr || metadata->is_null()) return std::string("{}");
  if (!metadata->is_object()) return invalid_field("\"metadata\" must be an object", "metadata");
  std::string text = metadata->dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > kKeyMetadataBytesMax) {
    return invalid_field(
        "\"metadata\" must be at most " + std::to_string(kKeyMetadataBytesMax) + " bytes as JSON",
        "metadata");
  }
  return text;
}

Result<std::optional<int64_t>> expiry_field(const Call& call, int64_t now) {
  if (!call.has("expiresAtMs") || call.body["expiresAtMs"].is_null())
    return std::optional<int64_t>();
  int64_t at = call.integer("expiresAtMs");
  if (at <= now) return invalid_field("\"expiresAtMs\" must be in the future", "expiresAtMs");
  return std::optional<int64_t>(at);
}

// The fields create and patch both read that the pipeline cannot check alone.
struct KeySettings {
  std::vector<std::string> models;
  std::string metadata;
  std::optional<int64_t> expires_at_ms;
};

Result<KeySettings> key_settings(const Call& call, int64_t now) {
  auto models = models_field(call.body);
  if (!models) return models.error();
  auto metadata = metadata_field(call.body);
  if (!metadata) return metadata.error();
  auto expires = expiry_field(call, now);
  if (!expires) return expires.error();
  return KeySettings{std::move(models).value(), std::move(metadata).value(), expires.value()};
}

std::string key_start(const std::string& secret) {
  size_t prefix = kUserKeyPrefix.size() + 1;
  return secret.substr(0, std::min(secret.size(), prefix + kStartChars));
}

Response key_response(http::status status, const UserKey& key, int64_t now,
                      const std::optional<std::string>& secret = std::nullopt) {
  return json_response(status, render_user_key(key, now, secret));
}

Result<UserKey> existing_key(ApiContext& api, const Call& call) {
  auto key = api.store.get_user_key(call.caller->project.id, call.param("id"));
  if (!key) return key.error();
  if (!key.value()) return fail(ErrorCode::kNotFound, "no key " + call.param("id"), "id");
  return *key.value();
}

Result<Response> create_key(ApiContext& api, const Call& call) {
  int64_t now = api.now_ms();
  auto settings = key_settings(call, now);
  if (!settings) return settings.error();
  std::string secret = new_api_key(kUserKeyPrefix);
  UserKey key;
  key.id = new_id("key_");
  key.project_id = call.caller->project.id;
  key.user_id = call.text("userId");
  key.name = call.text("name");
  key.hash = sha256_hex(secret);
  key.start = key_start(secret);
  if (call.has("spendCapMicros") && !call.body["spendCapMicros"].is_null())
    key.spend_cap_micros = call.integer("spendCapMicros");
  key.cap_period = parse_cap_period(call.optional_text("capPeriod").value_or("month"))
                       .value_or(CapPeriod::kMonth);
  key.models = std::move(settings.value().models);
  key.metadata = std::move(settings.value().metadata);
  key.expires_at_ms = settings.value().expires_at_ms;
  key.spend.period_start_ms = cap_period_start_ms(key.cap_period, now);
  key.created_at_ms = now;
  key.updated_at_ms = now;
  if (auto created = api.store.create_user_key(key); !created) return created.error();
  return key_response(http::status::created, key, now, secret);
}

Result<Response> patch_key(ApiContext& api, const Call& call) {
  int64_t now = api.now_ms();
  auto checked = key_settings(call, now);
  if (!checked) return checked.error();
  const KeySettings& settings = checked.value();
  auto patched = api.store.patch_user_key(
      call.caller->project.id, call.param("id"), now, [&](UserKey& key) -> Result<void> {
        if (key.revoked_at_ms) return fail(ErrorCode::kConflict, "this key was revoked", "id");
        if (auto name = call.optional_text("name")) key.name = *name;
        if (call.has("spendCapMicros")) {
          const json& cap = call.body["spendCapMicros"];
          key.spend_cap_micros =
              cap.is_null() ? std::nullopt : std::optional<int64_t>(cap.get<int64_t>());
        }
        if (auto period = call.optional_text("capPeriod")) {
          // A new period kind starts afresh from now; the ledger rolls the counters over.
          key.cap_period = parse_cap_period(*period).value_or(key.cap_period);
        }
        if (call.has("models")) key.models = settings.models;
        if (call.has("metadata")) key.metadata = settings.metadata;
        if (call.has("expiresAtMs")) key.expires_at_ms = settings.expires_at_ms;
        return {};
      });
  if (!patched) return patched.error();
  api.auth.forget_user_keys();
  return key_response(http::status::ok, patched.value(), now);
}

Result<Response> roll_key(ApiContext& api, const Call& call) {
  int64_t now = api.now_ms();
  int64_t grace = call.integer("graceMs", 0);
  std::string secret = new_api_key(kUserKeyPrefix);
  auto rolled = api.store.roll_user_key({call.caller->project.id, call.param("id"),
                                         sha256_hex(secret), key_start(secret), now + grace, now});
  if (!rolled) return rolled.error();
  api.auth.forget_user_keys();
  return key_response(http::status::ok, rolled.value(), now, secret);
}

void credit_key(ApiContext& api, const Call& call, const Reply& reply) {
  auto key = existing_key(api, call);
  if (!key) return reply(key.error());
  int64_t now = api.now_ms();
  KeyCreditCommand credit{call.caller->project.id, key.value().id, call.integer("amountMicros"),
                          call.text("reason"), cap_period_start_ms(key.value().cap_period, now)};
  api.ledger.submit(
      LedgerCommand{std::move(credit), call.idempotency},
      [&api, key = std::move(key).value(), reply](Result<LedgerOutcome> outcome) mutable {
        if (!outcome) return reply(outcome.error());
        const LedgerOutcome& decided = outcome.value();
        if (decided.error) return reply(*decided.error);
        if (decided.key_spend) key.spend = *decided.key_spend;
        Response response = key_response(http::status::ok, key, api.now_ms());
        if (decided.replayed) response.set("idempotent-replayed", "true");
        reply(std::move(response));
      });
}

Result<Response> own_budget(ApiContext& api, const Call& call) {
  // The spend as stored now, not as the authentication cache last read it.
  auto stored = api.store.get_user_key(call.user_key->project.id, call.user_key->key.id);
  if (!stored) return stored.error();
  const UserKey& key = stored.value() ? *stored.value() : call.user_key->key;
  int64_t now = api.now_ms();
  UserKey current = key;
  current.spend = key_spend_now(key, now);
  ojson out{{"object", "user_key_budget"},
            {"id", key.id},
            {"userId", key.user_id},
            {"name", key.name},
            {"capPeriod", cap_period_name(key.cap_period)},
            {"spendCapMicros", key.spend_cap_micros ? ojson(*key.spend_cap_micros) : ojson()},
            {"remainingMicros",
             key_remaining_micros(current) ? ojson(*key_remaining_micros(current)) : ojson()},
            {"periodSpentMicros", current.spend.period_spent_micros},
            {"periodStartMs", current.spend.period_start_ms}};
  auto end = cap_period_end_ms(key.cap_period, current.spend.period_start_ms);
  out["periodResetsAtMs"] = end ? ojson(*end) : ojson();
  out["models"] = key.models;
  return json_response(http::status::ok, out);
}

}  // namespace

int64_t cap_period_start_ms(CapPeriod period, int64_t now_ms) {
  int64_t now = std::clamp<int64_t>(now_ms, 0, calendar::kCalendarMsMax);
  switch (period) {
    case CapPeriod::kDay: {
      auto start = calendar::day_start_ms(now);  // inside the calendar's range: never fails
      return start ? start.value() : 0;
    }
    case CapPeriod::kWeek: {
      int64_t days = now / kDayMs;
      int64_t weekday = (days + 3) % 7;  // 1970-01-01 was a Thursday; 0 is Monday
      return (days - weekday) * kDayMs;
    }
    case CapPeriod::kMonth: {
      auto start = calendar::month_start_ms(now);  // inside the calendar's range: never fails
      return start ? start.value() : 0;
    }
    case CapPeriod::kTotal:
      return 0;
  }
  return 0;
}

std::optional<int64_t> cap_period_end_ms(CapPeriod period, int64_t start_ms) {
  switch (period) {
    case CapPeriod::kDay:
      return start_ms + kDayMs;
    case CapPeriod::kWeek:
      return start_ms + 7 * kDayMs;
    case CapPeriod::kMonth: {
      auto next = calendar::next_month_start_ms(start_ms);
      if (!next) return std::nullopt;
      return next.value();
    }
    case CapPeriod::kTotal:
      return std::nullopt;
  }
  return std::nullopt;
}

KeySpend key_spend_now(const UserKey& key, int64_t now_ms) {
  return key_spend_in(key.spend, cap_period_start_ms(key.cap_period, now_ms));
}

bool key_allows_model(const UserKey& key, std::string_view model) {
  if (key.models.empty() ||
      std::find(key.models.begin(), key.models.end(), model) != key.models.end()) {
    return true;
  }
  return key_allows_provider(key, model.substr(0, model.find('/')));
}

bool key_allows_provider(const UserKey& key, std::string_view provider) {
  if (key.models.empty()) return true;
  return std::any_of(key.models.begin(), key.models.end(), [&](const std::string& entry) {
    return entry == "*" || (entry.size() == provider.size() + 2 && entry.ends_with("/*") &&
                            std::string_view(entry).substr(0, provider.size()) == provider);
  });
}

ojson render_user_key(const UserKey& key, int64_t now_ms,
                      const std::optional<std::string>& secret) {
  UserKey current = key;
  current.spend = key_spend_now(key, now_ms);
  const KeySpend& s = current.spend;
  auto remaining = key_remaining_micros(current);
  auto resets = cap_period_end_ms(key.cap_period, s.period_start_ms);
  auto or_null = [](const std::optional<int64_t>& value) {
    return value ? ojson(*value) : ojson(nullptr);
  };
  ojson out{{"object", "user_key"}, {"id", key.id}};
  if (secret) out["secret"] = *secret;
  out["start"] = key.start;
  out["userId"] = key.user_id;
  out["name"] = key.name;
  out["spendCapMicros"] = or_null(key.spend_cap_micros);
  out["capPeriod"] = cap_period_name(key.cap_period);
  out["models"] = key.models;
  out["metadata"] = ojson::parse(key.metadata, nullptr, false);
  if (!out["metadata"].is_object()) out["metadata"] = ojson::object();
  out["expiresAtMs"] = or_null(key.expires_at_ms);
  out["revokedAtMs"] = or_null(key.revoked_at_ms);
  bool in_grace = !key.previous_hash.empty() && key.previous_expires_at_ms &&
                  *key.previous_expires_at_ms > now_ms;
  out["previousSecretExpiresAtMs"] = in_grace ? ojson(*key.previous_expires_at_ms) : ojson();
  out["spend"] = {{"periodStartMs", s.period_start_ms},
                  {"periodResetsAtMs", or_null(resets)},
                  {"periodSpentMicros", s.period_spent_micros},
                  {"periodCreditMicros", s.period_credit_micros},
                  {"heldMicros", s.held_micros},
                  {"remainingMicros", or_null(remaining)},
                  {"lifetimeMicros", s.lifetime_micros}};
  out["createdAtMs"] = key.created_at_ms;
  out["updatedAtMs"] = key.updated_at_ms;
  return out;
}

void add_user_key_routes(Router& router, ApiContext& api) {
  std::vector<Field> settings = {
      {"name", FieldType::kString, false, 0, kNameBytesMax},
      {"spendCapMicros",
       FieldType::kInteger,
       false,
       0,
       kMicrosMax,
       /*nullable=*/true,
       {},
       "the most the key may spend per capPeriod, in micros; null: no cap of its own"},
      {"capPeriod", FieldType::kString, false, 0, 8, false, kCapPeriods,
       "when the cap resets (UTC): day, week (from Monday), month, or never (total); default "
       "month"},
      {"models",
       FieldType::kArray,
       false,
       0,
       0,
       /*nullable=*/true,
       {},
       "allowed models: \"provider/model\", \"provider/*\" or \"*\"; empty: any"},
      {"expiresAtMs", FieldType::kInteger, false, 1, INT64_MAX, /*nullable=*/true},
      {"metadata", FieldType::kObject, false, 0, 0, /*nullable=*/true}};
  std::vector<Field> create = settings;
  create.insert(create.begin(), {"userId", FieldType::kString, true, 1, kUserIdBytesMax});
  RouteSpec created{http::verb::post,
                    "/v1/keys",
                    Who::kSecretKey,
                    "Creates a user key (tgk_…); its secret is shown once",
                    "UserKey",
                    Body::kJson,
                    false,
                    false,
                    create};
  created.success = http::status::created;
  add_route(router, api, std::move(created),
            [&api](const Call& call) { return create_key(api, call); });

  std::vector<Field> list = kPageFields;
  list.push_back({"userId", FieldType::kString, false, 0, kUserIdBytesMax});
  add_route(router, api,
            {http::verb::get, "/v1/keys", Who::kSecretKey, "User keys, in id order", "UserKeyList",
             Body::kNone, false, false, list},
            [&api](const Call& call) -> Result<Response> {
              auto limit = int_param(call.query, "limit", 1, kPageLimitMax, kPageLimitDefault);
              if (!limit) return limit.error();
              auto user = optional_string_param(call.query, "userId", kUserIdBytesMax);
              if (!user) return user.error();
              auto keys = api.store.list_user_keys(call.caller->project.id, user.value(),
                                                   page_of(limit.value(), call.query));
              if (!keys) return keys.error();
              bool more = static_cast<int64_t>(keys.value().size()) > limit.value();
              if (more) keys.value().pop_back();
              int64_t now = api.now_ms();
              ojson data = ojson::array();
              for (const UserKey& key : keys.value()) data.push_back(render_user_key(key, now));
              return json_response(http::status::ok, {{"data", data}, {"hasMore", more}});
            });

  add_route(router, api,
            {http::verb::get, "/v1/keys/{id}", Who::kSecretKey,
             "A user key with its spend this period and lifetime", "UserKey"},
            [&api](const Call& call) -> Result<Response> {
              auto key = existing_key(api, call);
              if (!key) return key.error();
              return key_response(http::status::ok, key.value(), api.now_ms());
            });
  add_route(router, api,
            {http::verb::patch, "/v1/keys/{id}", Who::kSecretKey,
             "Changes a user key's name, cap, period, models, expiry or metadata", "UserKey",
             Body::kJson, false, false, settings},
            [&api](const Call& call) { return patch_key(api, call); });
  add_route(router, api,
            {http::verb::delete_, "/v1/keys/{id}", Who::kSecretKey,
             "Revokes a user key, in every process within a second", "UserKey"},
            [&api](const Call& call) -> Result<Response> {
              auto revoked = api.store.revoke_user_key(call.caller->project.id, call.param("id"),
                                                       api.now_ms());
              if (!revoked) return revoked.error();
              api.auth.forget_user_keys();
              return key_response(http::status::ok, revoked.value(), api.now_ms());
            });
  add_route(router, api,
            {http::verb::post,
             "/v1/keys/{id}/roll",
             Who::kSecretKey,
             "A new secret for the key (same id, cap and spend); the old one works for graceMs",
             "UserKey",
             Body::kJsonOrEmpty,
             false,
             false,
             {{"graceMs", FieldType::kInteger, false, 0, kRollGraceMsMax}}},
            [&api](const Call& call) { return roll_key(api, call); });
  add_async_route(router, api,
                  {http::verb::post,
                   "/v1/keys/{id}/credit",
                   Who::kSecretKey,
                   "Raises the key's cap for its current period (a ledger entry; idempotent)",
                   "UserKey",
                   Body::kJson,
                   false,
                   /*idempotent=*/true,
                   {{"amountMicros", FieldType::kInteger, true, 1, kMicrosMax},
                    {"reason", FieldType::kString, true, 1, kReasonBytesMax}}},
                  [&api](const Call& call, const Reply& reply) { credit_key(api, call, reply); });
  add_route(router, api,
            {http::verb::get, "/v1/key", Who::kUserKey,
             "The calling user key's own cap, remaining, period and reset time", "UserKeyBudget"},
            [&api](const Call& call) { return own_budget(api, call); });
}

}  // namespace tollgate::server
