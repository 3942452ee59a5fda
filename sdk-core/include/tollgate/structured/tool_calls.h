// Assembles tool calls from streamed deltas, for both wire formats Tollgate speaks:
// - OpenAI Chat Completions: `delta.tool_calls[] {index, id?, function: {name?, arguments?}}`,
//   where `arguments` arrives as JSON text in fragments;
// - Anthropic Messages: `content_block_start` {index, tool_use {id, name}}, then
//   `input_json_delta` fragments for that block index.
// Either way a call is keyed by its stream index; id and name come once, argument fragments are
// appended in order and parsed incrementally (structured/partial_json.h), so partial arguments
// can be shown while they stream and the whole stream costs O(n).
//
// Not thread-safe; one assembler per response.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tollgate/core/result.h"
#include "tollgate/structured/partial_json.h"

namespace tollgate::structured {

inline constexpr size_t kToolCallsMax = 64;                      // per response
inline constexpr size_t kToolCallIdBytesMax = 256;               // id and name each
inline constexpr size_t kToolCallArgumentsBytesMax = size_t{1} << 20;

struct ToolCall {
  std::string id;
  std::string name;
  nlohmann::json arguments;  // always a JSON object once finished
};

class ToolCallAssembler {
 public:
  // One delta for the call at `index`. An empty id or name leaves the stored one; a different
  // non-empty one is a conflict. kInvalidArgument (param "tool_calls") for an index outside
  // [0, kToolCallsMax) or an oversized id or name; kJsonSyntax for malformed argument text;
  // kPayloadTooLarge past kToolCallArgumentsBytesMax.
  Result<void> add(int64_t index, std::string_view id, std::string_view name,
                   std::string_view arguments_fragment);

  // The calls so far, in index order, with arguments as far as they have arrived.
  std::vector<ToolCall> partial() const;

  // The finished calls in index order. kInvalidArgument when a call has no id or no name, or its
  // arguments are not one whole JSON object (empty arguments count as {}).
  Result<std::vector<ToolCall>> finish();

  bool empty() const { return calls_.empty(); }

 private:
  struct Pending {
    std::string id;
    std::string name;
    PartialJsonParser arguments;
    size_t argument_bytes = 0;
  };
  std::map<int64_t, Pending> calls_;
};

}  // namespace tollgate::structured
