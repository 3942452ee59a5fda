// What Tollgate sends to a model and what comes back, in one shape for every provider. The
// adapters (demo, OpenAI Chat Completions, Anthropic Messages) translate to and from their wire
// formats; nothing above them knows a provider's dialect.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "tollgate/core/result.h"
#include "tollgate/pricing/pricing.h"

namespace tollgate::server {

// The max_tokens of a request (and of a feature definition) that names none.
inline constexpr int64_t kMaxTokensDefault = 1024;

// A tool the model may call: a feature's `tools` entry, sent in every provider's own format.
struct ToolDefinition {
  std::string name;
  std::string description;
  nlohmann::json parameters;  // a JSON Schema object
};

struct ToolCall {
  std::string id;
  std::string name;
  std::string arguments;  // JSON text, as the model wrote it
};

struct ChatMessage {
  enum class Role { kSystem, kUser, kAssistant, kTool };
  Role role = Role::kUser;
  std::string content;
  std::vector<ToolCall> tool_calls;  // kAssistant: the calls it made
  std::string tool_call_id;          // kTool: the call this answers
};

// Whether and which tool the model must call (OpenAI's tool_choice; Anthropic's the same).
struct ToolChoice {
  enum class Kind { kAuto, kNone, kRequired, kTool };
  Kind kind = Kind::kAuto;
  std::string name;  // kTool: the tool
};

struct ModelRequest {
  std::string model;  // the provider's own model name ("gpt-4o-mini")
  std::vector<ChatMessage> messages;
  std::optional<double> temperature;
  int64_t max_tokens = kMaxTokensDefault;
  std::optional<nlohmann::json> response_format;  // a JSON Schema
  std::vector<ToolDefinition> tools;
  std::optional<ToolChoice> tool_choice;  // none: the provider's default
  bool stream = false;
};

// One piece of a streamed answer: text, or part of a tool call (`tool_index` ≥ 0).
struct ModelDelta {
  std::string text;
  int tool_index = -1;
  std::string tool_id;
  std::string tool_name;
  std::string tool_arguments;
};

struct ModelAnswer {
  std::string text;
  std::vector<ToolCall> tool_calls;
  std::optional<pricing::Usage> usage;  // nullopt when the provider reported none
  std::string finish_reason;            // "stop", "length", "tool_calls", …
  bool complete = true;                 // false when the stream broke or was cancelled midway
};

// An answer that failed. `produced` holds what arrived before the failure (streaming), which
// is charged: a call that produced output is never free.
struct ModelFailure {
  Error error;
  std::optional<ModelAnswer> produced;
  // What the provider itself said ("HTTP 400: {…}", at most kProviderDetailBytesMax, the API
  // key masked), for the owner's log; never sent to the caller, whose error is `error`.
  std::string provider_detail;
};
inline constexpr size_t kProviderDetailBytesMax = 1024;

using ModelResult = std::variant<ModelAnswer, ModelFailure>;
using OnDelta = std::function<void(const ModelDelta&)>;
using OnDone = std::function<void(ModelResult)>;

// A call in flight. cancel() stops it (the client went away); `done` still runs once, with what
// was produced so far.
class ModelCall {
 public:
  virtual ~ModelCall() = default;
  virtual void cancel() = 0;
};

class ModelProvider {
 public:
  virtual ~ModelProvider() = default;
  // Starts a call. `on_delta` runs for each streamed piece (only when request.stream), then
  // `done` exactly once. Either may run on any thread, but never two at once for one call.
  virtual std::shared_ptr<ModelCall> start(ModelRequest request, OnDelta on_delta, OnDone done) = 0;
};

}  // namespace tollgate::server
