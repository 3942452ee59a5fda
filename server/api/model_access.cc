#include "server/api/model_access.h"

#include "server/ai/demo_provider.h"
#include "server/ai/dialect.h"
#include "server/ai/http_provider.h"

namespace tollgate::server {

Result<std::unique_ptr<ModelProvider>> model_provider(ApiContext& api,
                                                      const std::string& project_id,
                                                      const std::string& name) {
  if (name == kDemoProvider) return std::unique_ptr<ModelProvider>(std::make_unique<DemoProvider>());
  auto credentials = api.runtime.provider(
      project_id, name, [&]() -> Result<std::optional<ProviderCredentials>> {
        auto record = api.store.get_provider(project_id, name);
        if (!record) return record.error();
        if (!record.value()) return std::optional<ProviderCredentials>();
        auto key = api.secrets->open(record.value()->sealed_key,
                                     provider_key_binding(project_id, name));
        if (!key) return fail(ErrorCode::kInternal, "the provider key cannot be opened");
        std::string base_url = record.value()->base_url;
        if (base_url.empty()) base_url = default_base_url(name);
        while (!base_url.empty() && base_url.back() == '/') base_url.pop_back();
        return std::optional<ProviderCredentials>(
            ProviderCredentials{name, std::move(key.value()), std::move(base_url)});
      });
  if (!credentials) return credentials.error();
  if (!credentials.value()) {
    return fail(ErrorCode::kUpstreamError,
                "the feature's provider '" + name +
                    "' has no API key; the project owner must add it (PUT /v1/providers/" + name +
                    ")");
  }
  if (credentials.value()->base_url.empty()) {
    return fail(ErrorCode::kUpstreamError,
                "the provider '" + name + "' needs a baseUrl; the project owner must set it");
  }
  return std::unique_ptr<ModelProvider>(std::make_unique<HttpProvider>(
      *api.upstream, dialect_for(name), std::move(*credentials.value())));
}

}  // namespace tollgate::server
