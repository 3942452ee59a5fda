#include "tollgate/structured/tool_calls.h"

namespace tollgate::structured {

namespace {

Error invalid(std::string message) {
  return fail(ErrorCode::kInvalidArgument, std::move(message), "tool_calls");
}

// Keeps the first non-empty value; a later different one is a conflict.
Result<void> merge(std::string& stored, std::string_view incoming, const char* what,
                   int64_t index) {
  if (incoming.empty()) return {};
  if (incoming.size() > kToolCallIdBytesMax) {
    return invalid("a tool call " + std::string(what) + " may be at most " +
                   std::to_string(kToolCallIdBytesMax) + " bytes");
  }
  if (stored.empty()) {
    stored.assign(incoming);
    return {};
  }
  if (stored != incoming) {
    return invalid("tool call " + std::to_string(index) + " changed its " + what + " mid-stream");
  }
  return {};
}

}  // namespace

Result<void> ToolCallAssembler::add(int64_t index, std::string_view id, std::string_view name,
                                    std::string_view arguments_fragment) {
  if (index < 0 || index >= static_cast<int64_t>(kToolCallsMax)) {
    return invalid("a tool call index must be in [0, " + std::to_string(kToolCallsMax) + ")");
  }
  Pending& call = calls_[index];
  if (auto merged = merge(call.id, id, "id", index); !merged) return merged;
  if (auto merged = merge(call.name, name, "name", index); !merged) return merged;
  if (arguments_fragment.size() > kToolCallArgumentsBytesMax - call.argument_bytes) {
    return fail(ErrorCode::kPayloadTooLarge,
                "tool call arguments may be at most " + std::to_string(kToolCallArgumentsBytesMax) +
                    " bytes",
                "tool_calls");
  }
  call.argument_bytes += arguments_fragment.size();
  return call.arguments.feed(arguments_fragment);
}

std::vector<ToolCall> ToolCallAssembler::partial() const {
  std::vector<ToolCall> out;
  for (const auto& [index, call] : calls_) {
    const auto& so_far = call.arguments.value();
    out.push_back({call.id, call.name, so_far.is_null() ? nlohmann::json::object() : so_far});
  }
  return out;
}

Result<std::vector<ToolCall>> ToolCallAssembler::finish() {
  std::vector<ToolCall> out;
  for (auto& [index, call] : calls_) {
    std::string which = "tool call " + std::to_string(index);
    if (call.id.empty()) return invalid(which + " has no id");
    if (call.name.empty()) return invalid(which + " has no name");
    nlohmann::json arguments = nlohmann::json::object();
    if (call.argument_bytes > 0) {
      auto done = call.arguments.finish();
      if (!done) return invalid(which + " has malformed arguments: " + done.error().message);
      arguments = std::move(done).value();
    }
    if (!arguments.is_object()) return invalid(which + " arguments must be a JSON object");
    out.push_back({call.id, call.name, std::move(arguments)});
  }
  return out;
}

}  // namespace tollgate::structured
