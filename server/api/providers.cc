// Provider credentials: PUT /v1/providers/{name}, GET /v1/providers, DELETE /v1/providers/{name}
// (secret key). A key is sealed (AES-256-GCM) before it reaches the store and never leaves the
// server again: responses show only its last four characters.
#include "server/ai/http_client.h"
#include "server/input/fields.h"
#include "server/ai/http_provider.h"
#include "server/api/api.h"
#include "server/api/input.h"
#include "server/api/route.h"
#include "server/http/error_response.h"

namespace tollgate::server {
namespace {

using ojson = nlohmann::ordered_json;

constexpr size_t kProviderNameBytesMax = 32;
constexpr size_t kProviderKeyBytesMax = 4096;
constexpr size_t kBaseUrlBytesMax = 2048;
constexpr size_t kKeyHintChars = 4;

Result<std::string> provider_name(const PathParams& params) {
  auto found = params.find("name");
  std::string name = found == params.end() ? "" : found->second;
  bool ok = !name.empty() && name.size() <= kProviderNameBytesMax;
  for (size_t i = 0; ok && i < name.size(); ++i) {
    char c = name[i];
    ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (i > 0 && (c == '_' || c == '-'));
  }
  if (!ok) {
    return invalid_field("a provider name is 1-32 of a-z, 0-9, '_' and '-', e.g. 'openai'", "name");
  }
  if (name == "demo") return invalid_field("the demo provider needs no key", "name");
  return name;
}

// Printable ASCII without spaces: what every provider's keys look like. Refusing the rest keeps
// a pasted newline or quote from ever reaching an Authorization header.
Result<std::string> api_key_field(const json& body) {
  auto field = body.find("apiKey");
  if (field == body.end() || field->is_null()) return invalid_field("'apiKey' is required", "apiKey");
  if (!field->is_string()) return invalid_field("'apiKey' must be a string", "apiKey");
  const auto& key = field->get_ref<const std::string&>();
  if (key.empty() || key.size() > kProviderKeyBytesMax) {
    return invalid_field("'apiKey' must be 1-" + std::to_string(kProviderKeyBytesMax) + " bytes",
                   "apiKey");
  }
  for (char c : key) {
    if (c <= ' ' || c > '~') {
      return invalid_field("'apiKey' must be printable ASCII without spaces", "apiKey");
    }
  }
  return key;
}

// The URL as the outbound guard's static check allows it (https; plain http only to a loopback
// address written out, when private upstreams are allowed; no user info; a host spelled one
// way), without a query or fragment, a trailing '/' dropped. Names are checked when called.
Result<std::string> base_url_field(const json& body, const OutboundGuard& guard) {
  auto field = body.find("baseUrl");
  if (field == body.end() || field->is_null()) return std::string();
  if (!field->is_string()) return invalid_field("'baseUrl' must be a string", "baseUrl");
  std::string url = field->get<std::string>();
  if (auto checked = check_text(url, "baseUrl", kBaseUrlBytesMax); !checked) return checked.error();
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (url.find('?') != std::string::npos) {
    return invalid_field("'baseUrl' must not have a query string", "baseUrl");
  }
  if (auto allowed = guard.check_url(url); !allowed) {
    return invalid_field("'baseUrl': " + allowed.error().message, "baseUrl");
  }
  return url;
}

ojson render_provider(const ProviderRecord& provider) {
  return {{"name", provider.name},
          {"object", "provider"},
          {"keyHint", "…" + provider.key_hint},
          {"baseUrl", provider.base_url.empty() ? ojson(nullptr) : ojson(provider.base_url)},
          {"createdAtMs", provider.created_at_ms},
          {"updatedAtMs", provider.updated_at_ms}};
}

}  // namespace

// Where a sealed key belongs: the associated data that binds it to its row.
std::string provider_key_binding(std::string_view project_id, std::string_view name) {
  std::string binding(project_id);
  binding += '/';
  binding += name;
  return binding;
}

void add_provider_routes(Router& router, ApiContext& api) {
  add_route(
      router, api,
      {http::verb::put,
       "/v1/providers/{name}",
       Who::kSecretKey,
       "Stores a provider's API key (sealed) and address",
       "Provider",
       Body::kJson,
       false,
       false,
       {{"apiKey", FieldType::kString, true, 0, kProviderKeyBytesMax},
        {"baseUrl",
         FieldType::kAny,
         false,
         0,
         0,
         true,
         {},
         "https URL (http only to a literal loopback address)"}}},
      [&api](const Call& call) -> Result<Response> {
        auto name = provider_name(call.params);
        if (!name) return name.error();
        auto key = api_key_field(call.body);
        if (!key) return key.error();
        auto base_url = base_url_field(call.body, api.upstream->guard());
        if (!base_url) return base_url.error();
        // Checked now, not at the first invoke: a provider Tollgate has no address for
        // would make every call of its features fail.
        if (base_url.value().empty() && default_base_url(name.value()).empty()) {
          return invalid_field("Tollgate has no default address for provider '" + name.value() +
                             "'; 'baseUrl' is required",
                         "baseUrl");
        }
        const std::string& project = call.caller->project.id;
        auto sealed = api.secrets->seal(key.value(), provider_key_binding(project, name.value()));
        if (!sealed) return sealed.error();
        int64_t now = api.now_ms();
        std::string hint =
            key.value().substr(key.value().size() - std::min(kKeyHintChars, key.value().size()));
        auto stored = api.store.put_provider(
            {project, name.value(), sealed.value(), hint, base_url.value(), now, now});
        api.runtime.forget_provider(project, name.value());
        if (!stored) return stored.error();
        return json_response(http::status::ok, render_provider(stored.value()));
      });

  add_route(router, api,
            {http::verb::get, "/v1/providers", Who::kSecretKey,
             "Lists stored providers, with key hints only", "ProviderList"},
            [&api](const Call& call) -> Result<Response> {
              auto providers = api.store.list_providers(call.caller->project.id);
              if (!providers) return providers.error();
              ojson data = ojson::array();
              for (const ProviderRecord& provider : providers.value())
                data.push_back(render_provider(provider));
              return json_response(http::status::ok, {{"data", data}});
            });

  add_route(router, api,
            {http::verb::delete_, "/v1/providers/{name}", Who::kSecretKey,
             "Deletes a provider's stored key", "DeletedProvider"},
            [&api](const Call& call) -> Result<Response> {
              auto name = provider_name(call.params);
              if (!name) return name.error();
              const std::string& project = call.caller->project.id;
              auto deleted = api.store.delete_provider(project, name.value());
              api.runtime.forget_provider(project, name.value());
              if (!deleted) return deleted.error();
              if (!deleted.value()) {
                return fail(ErrorCode::kNotFound,
                            "no key stored for provider '" + name.value() + "'", "name");
              }
              return json_response(
                  http::status::ok,
                  ojson{{"name", name.value()}, {"object", "provider"}, {"deleted", true}});
            });
}

}  // namespace tollgate::server
