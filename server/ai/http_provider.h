// Providers reached over HTTP: one call machine (request, retries in the client, SSE or a whole
// JSON answer, deltas, usage) shared by every wire format; the Dialect (dialect.h) of each
// format only translates.
#pragma once

#include <memory>
#include <string>

#include "server/ai/dialect.h"
#include "server/ai/http_client.h"
#include "server/ai/model.h"

namespace tollgate::server {

class HttpProvider final : public ModelProvider {
 public:
  HttpProvider(HttpClient& client, const Dialect& dialect, ProviderCredentials credentials)
      : client_(client), dialect_(dialect), credentials_(std::move(credentials)) {}
  std::shared_ptr<ModelCall> start(ModelRequest request, OnDelta on_delta, OnDone done) override;

 private:
  HttpClient& client_;
  const Dialect& dialect_;
  ProviderCredentials credentials_;
};

// The base URL a known provider name uses when none is stored; "" for an unknown name.
std::string_view default_base_url(std::string_view provider);

// An upstream failure as the end user may see it: the status and what it means, never the
// provider's own text (which can quote the key or the prompt).
Error describe_failure(const UpstreamFailure& failure, std::string_view provider);
// The provider's own error text for the owner's log: the status and body, or without an HTTP
// answer why it could not be reached (empty when neither is known); every occurrence of
// `api_key` masked first, then cut to kProviderDetailBytesMax.
std::string provider_detail(const UpstreamFailure& failure, std::string_view api_key);
// Shorter keys are not masked: they would match ordinary text.
inline constexpr size_t kMaskedKeyBytesMin = 8;

}  // namespace tollgate::server
