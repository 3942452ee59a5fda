// The prompt of one runtime invoke, from its request body: the feature's system prompt, then
// either the first turn (the feature's template rendered with `input`) or a tool follow-up.
//
// An answer with tool calls carries `continuation`: the conversation so far without the system
// prompt, sealed (AES-256-GCM, server/auth/secret_box.h) and bound to the session and feature, so
// the client can hold it but neither read nor change it, nor use it in another session. The
// follow-up sends it back with one result per tool call.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "server/ai/model.h"
#include "server/auth/secret_box.h"
#include "server/features/operation.h"
#include "tollgate/prompt/template.h"
#include "tollgate/token/runtime_token.h"

namespace tollgate::server {

inline constexpr size_t kInputVariablesMax = prompt::kTemplateVariablesMax;
inline constexpr size_t kInputValueBytesMax = size_t{64} << 10;
// Tool follow-ups: a conversation may go this many model calls deep, and carries at most this
// much state (sealed, in `continuation`) and tool output.
inline constexpr int64_t kToolStepsMax = 8;
inline constexpr size_t kContinuationBytesMax = size_t{512} << 10;
inline constexpr size_t kToolResultBytesMax = size_t{64} << 10;
// conversation_json() nests four levels; the margin is for nothing but safety.
inline constexpr size_t kContinuationDepthMax = 8;

// The messages to send and how many model calls deep the conversation is (this one included).
struct Conversation {
  std::vector<ChatMessage> messages;
  int64_t step = 1;
};

// The conversation a body asks for: `input` for a first turn, or `continuation` with
// `toolResults` for a follow-up. Every refusal is a 400 naming the field.
Result<Conversation> conversation_for(const nlohmann::json& body, const Operation& op,
                                      const SecretBox& secrets,
                                      const token::RuntimeClaims& claims);

// The template's variables from `input`: an object of strings (numbers and booleans are
// written as JSON). Extra keys are refused, so a typo is not silently dropped.
Result<prompt::Variables> input_variables(const nlohmann::json& body, const Operation& op);

// The tool results of a follow-up: exactly one per call of the last answer, in any order.
Result<std::vector<ChatMessage>> tool_results(const nlohmann::json& body, const ChatMessage& last);

// The sealed conversation after an answer with tool calls (`messages` ends with that answer),
// or nullopt when it would be longer than kContinuationBytesMax.
std::optional<std::string> seal_continuation(const SecretBox& secrets,
                                             const token::RuntimeClaims& claims,
                                             std::string_view slug,
                                             const std::vector<ChatMessage>& messages,
                                             int64_t step);

}  // namespace tollgate::server
