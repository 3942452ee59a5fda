// The wire formats Tollgate speaks to model providers: a Dialect per format that only
// translates (builds the HTTP request, reads a whole answer, reads one streamed event), with no
// I/O of its own. Two exist: OpenAI Chat Completions (any base URL: OpenAI, OpenRouter, Groq,
// Together, vLLM, Ollama, llama.cpp) and Anthropic Messages. HttpProvider (http_provider.h)
// runs the calls.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "server/ai/http_client.h"
#include "server/ai/model.h"
#include "tollgate/core/json_read.h"
#include "tollgate/stream/sse.h"
#include "tollgate/structured/tool_calls.h"

namespace tollgate::server {

struct ProviderCredentials {
  std::string name;  // the provider's name in the project ("openai", "groq", …)
  std::string api_key;
  std::string base_url;  // without a trailing slash
};

// Anthropic: what a started content block carries.
struct ContentBlock {
  enum class Kind { kText, kToolUse, kOutput, kOther };  // kOutput: the forced output tool
  Kind kind = Kind::kOther;
  int64_t tool_index = -1;  // kToolUse: its index in the tool call assembler
};

// What a stream has delivered so far.
struct StreamState {
  ModelAnswer answer;
  structured::ToolCallAssembler tools;
  std::optional<int64_t> input_tokens;
  std::optional<int64_t> output_tokens;
  std::map<int64_t, ContentBlock> blocks;  // Anthropic: by the stream's block index
  int64_t tool_uses = 0;                   // Anthropic: tool_use blocks started
  bool finished = false;
};

// How a provider's answer is read (docs/features.md, "Malformed provider answers"). Every field
// Tollgate reads is type-checked; a wrong type anywhere is a malformed answer (kUpstreamError,
// 502), never a guess. Lenient: fields Tollgate does not read, absent optional fields and null
// where the provider may send null (content, finish and stop reasons, usage, a chunk's choices).
//
// Provider JSON may nest as deep as a structured answer may (structured::kJsonDepthMax), plus
// the envelope around it.
inline constexpr size_t kProviderJsonDepthMax = structured::kJsonDepthMax + 8;
// A token count above this is not believed: no model reads or writes a billion tokens in one
// call, and the bound keeps sums of counts far from int64 overflow.
inline constexpr int64_t kProviderTokenCountMax = 1'000'000'000;
// Anthropic content block indexes are small and dense; this bounds the map of started blocks.
inline constexpr int64_t kContentBlocksMax = 1024;

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

// The dialect a provider name speaks: Anthropic for "anthropic", OpenAI otherwise.
const Dialect& dialect_for(std::string_view provider);

// Shared by the dialects. malformed(): the kUpstreamError for an answer that cannot be read,
// "the provider sent a malformed answer: <what>".
Error malformed(std::string what);
// The same for text that json_read::parse() refused: "<what> is not JSON" or "<what> nests
// deeper than …".
Error malformed_json(std::string_view what, const Error& parse_error);
// The usage object `name` of `object` at `at`, with its two token counts (each in
// [0, kProviderTokenCountMax]): nullopt when the usage or either count is absent or null; an
// error (kInvalidArgument naming the field) for a wrong type or a count out of range.
Result<std::optional<pricing::Usage>> read_usage(const nlohmann::json& object,
                                                 std::string_view name, const json_read::Path& at,
                                                 std::string_view input_name,
                                                 std::string_view output_name);
// One token count of a usage object: nullopt when absent or null.
Result<std::optional<int64_t>> token_count(const nlohmann::json& usage, std::string_view name,
                                           const json_read::Path& at);
// A tool call's id or name: a non-empty string of at most structured::kToolCallIdBytesMax.
Result<std::string_view> tool_text(const nlohmann::json& object, std::string_view name,
                                   const json_read::Path& at);

}  // namespace tollgate::server
