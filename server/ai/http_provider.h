// Providers reached over HTTP: one call machine (request, retries in the client, SSE or a whole
// JSON answer, deltas, usage) shared by every wire format, and a Dialect per format that only
// translates. Two dialects exist: OpenAI Chat Completions (any base URL: OpenAI, OpenRouter,
// Groq, Together, vLLM, Ollama, llama.cpp) and Anthropic Messages.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "server/ai/http_client.h"
#include "server/ai/model.h"
#include "tollgate/stream/sse.h"
#include "tollgate/structured/tool_calls.h"

namespace tollgate::server {

struct ProviderCredentials {
  std::string name;  // the provider's name in the project ("openai", "groq", …)
  std::string api_key;
  std::string base_url;  // without a trailing slash
};

// What a stream has delivered so far.
struct StreamState {
  ModelAnswer answer;
  structured::ToolCallAssembler tools;
  std::optional<int64_t> input_tokens;
  std::optional<int64_t> output_tokens;
  std::map<int64_t, std::string> block_kinds;  // Anthropic: content block index -> "text"/"tool_use"/"output"
  bool finished = false;
};

class Dialect {
 public:
  virtual ~Dialect() = default;
  virtual Result<UpstreamRequest> build(const ModelRequest& request,
                                        const ProviderCredentials& credentials) const = 0;
  // A whole (non-streamed) answer. kUpstreamError for one that cannot be read.
  virtual Result<ModelAnswer> parse(std::string_view body) const = 0;
  // One server-sent event of a streamed answer: updates `state` and reports deltas.
  // kUpstreamError for a malformed event or an error the provider sent in the stream.
  virtual Result<void> on_event(const stream::SseEvent& event, StreamState& state,
                                const OnDelta& on_delta) const = 0;
};

class OpenAiDialect final : public Dialect {
 public:
  Result<UpstreamRequest> build(const ModelRequest& request,
                                const ProviderCredentials& credentials) const override;
  Result<ModelAnswer> parse(std::string_view body) const override;
  Result<void> on_event(const stream::SseEvent& event, StreamState& state,
                        const OnDelta& on_delta) const override;
};

// Structured output goes to Anthropic as a forced tool (kAnthropicOutputTool) whose input
// schema is the response format, which must then be an object schema.
inline constexpr std::string_view kAnthropicOutputTool = "tollgate_output";
inline constexpr std::string_view kAnthropicVersion = "2023-06-01";

class AnthropicDialect final : public Dialect {
 public:
  Result<UpstreamRequest> build(const ModelRequest& request,
                                const ProviderCredentials& credentials) const override;
  Result<ModelAnswer> parse(std::string_view body) const override;
  Result<void> on_event(const stream::SseEvent& event, StreamState& state,
                        const OnDelta& on_delta) const override;
};

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
// The dialect a provider name speaks: Anthropic for "anthropic", OpenAI otherwise.
const Dialect& dialect_for(std::string_view provider);

// Shared by the dialects: a kUpstreamError for an answer that cannot be read, and a token count
// from a usage object (nullopt when absent or not a non-negative integer).
Error malformed(std::string what);
std::optional<int64_t> token_count(const nlohmann::json& usage, const char* name);

// An upstream failure as the end user may see it: the status and what it means, never the
// provider's own text (which can quote the key or the prompt).
Error describe_failure(const UpstreamFailure& failure, std::string_view provider);
// The provider's own error text for the owner's log (empty when no HTTP answer came): the
// status and body, every occurrence of `api_key` masked first, then cut to
// kProviderDetailBytesMax.
std::string provider_detail(const UpstreamFailure& failure, std::string_view api_key);
// Shorter keys are not masked: they would match ordinary text.
inline constexpr size_t kMaskedKeyBytesMin = 8;

}  // namespace tollgate::server
