#include "server/ai/demo_provider.h"

#include <algorithm>
#include <cmath>

#include "tollgate/core/json_read.h"

namespace tollgate::server {
namespace {

using json = nlohmann::json;

constexpr int kDemoDepthMax = 16;
constexpr int64_t kDemoItemsMax = 64;
constexpr int64_t kDemoStringBytesMax = 4096;
constexpr int64_t kDemoStepMax = int64_t{1} << 32;  // keeps rounding up to a step in range

const json* resolve_ref(const json& root, const json& schema) {
  auto ref = schema.find("$ref");
  if (ref == schema.end() || !ref->is_string()) return &schema;
  const std::string& target = ref->get_ref<const std::string&>();
  if (target == "#") return &root;
  constexpr std::string_view kDefs = "#/$defs/";
  if (!target.starts_with(kDefs)) return &schema;
  const json* defs = json_read::find(root, "$defs");
  const json* def =
      defs ? json_read::find(*defs, std::string_view(target).substr(kDefs.size())) : nullptr;
  return def ? def : &schema;
}

std::string first_type(const json& schema) {
  auto type = schema.find("type");
  if (type == schema.end()) {
    if (schema.contains("properties") || schema.contains("required")) return "object";
    if (schema.contains("items")) return "array";
    return "string";
  }
  if (type->is_string()) return type->get<std::string>();
  if (type->is_array()) {
    for (const json& name : *type)
      if (name.is_string() && name != "null") return name.get<std::string>();
    if (!type->empty() && (*type)[0].is_string()) return (*type)[0].get<std::string>();
  }
  return "string";
}

// A schema's number `name` as a double, when it is one.
std::optional<double> number_member(const json& schema, std::string_view name) {
  const json* member = json_read::find(schema, name);
  if (member == nullptr || !member->is_number()) return std::nullopt;
  return member->get<double>();  // any number converts to double without throwing
}

// Doubles outside this range would not convert to int64 (undefined behaviour).
int64_t to_int64(double value) {
  constexpr double kBound = 1e18;
  if (!std::isfinite(value)) return 0;
  return static_cast<int64_t>(std::clamp(value, -kBound, kBound));
}

json number_for(const json& schema, bool integer) {
  int64_t value = 0;
  if (auto minimum = number_member(schema, "minimum")) {
    value = to_int64(std::ceil(*minimum));
  } else if (auto exclusive = number_member(schema, "exclusiveMinimum")) {
    value = to_int64(std::floor(*exclusive)) + 1;
  } else if (auto maximum = number_member(schema, "maximum")) {
    value = std::min<int64_t>(0, to_int64(std::floor(*maximum)));
  }
  auto step = json_read::get_int64(schema, "multipleOf", json_read::Path(), 1, kDemoStepMax);
  if (step && step.value() && value % *step.value() != 0) {
    int64_t by = *step.value();
    value += by - ((value % by) + by) % by;
  }
  if (integer) return value;
  return static_cast<double>(value);
}

// A schema's count `name` (minItems, minLength, …) clamped to [0, max]; nullopt when absent or
// not an integer.
std::optional<int64_t> count_member(const json& schema, std::string_view name, int64_t max) {
  auto count = json_read::get_int64(schema, name, json_read::Path());
  if (!count || !count.value()) return std::nullopt;
  return std::clamp<int64_t>(*count.value(), 0, max);
}

json value_for(const json& root, const json& node, int depth) {
  if (node.is_boolean()) return node.get<bool>() ? json("demo") : json();
  if (!node.is_object() || depth > kDemoDepthMax) return json();
  const json& schema = *resolve_ref(root, node);
  if (&schema != &node) return value_for(root, schema, depth + 1);
  if (schema.contains("const")) return schema["const"];
  if (schema.contains("enum") && schema["enum"].is_array() && !schema["enum"].empty())
    return schema["enum"][0];
  for (const char* any : {"anyOf", "oneOf", "allOf"}) {
    if (schema.contains(any) && schema[any].is_array() && !schema[any].empty() &&
        !schema.contains("type") && !schema.contains("properties")) {
      return value_for(root, schema[any][0], depth + 1);
    }
  }
  std::string type = first_type(schema);
  if (type == "object") {
    json object = json::object();
    if (schema.contains("properties") && schema["properties"].is_object()) {
      for (const auto& [name, property] : schema["properties"].items())
        object[name] = value_for(root, property, depth + 1);
    }
    if (schema.contains("required") && schema["required"].is_array()) {
      for (const json& name : schema["required"])
        if (name.is_string() && !object.contains(name.get<std::string>()))
          object[name.get<std::string>()] = "demo";
    }
    return object;
  }
  if (type == "array") {
    json array = json::array();
    int64_t count = count_member(schema, "minItems", kDemoItemsMax).value_or(0);
    json item = schema.contains("items") ? value_for(root, schema["items"], depth + 1) : json("demo");
    for (int64_t i = 0; i < count; ++i) array.push_back(item);
    return array;
  }
  if (type == "integer") return number_for(schema, true);
  if (type == "number") return number_for(schema, false);
  if (type == "boolean") return true;
  if (type == "null") return json();
  std::string text = "demo";
  int64_t min_length = count_member(schema, "minLength", kDemoStringBytesMax).value_or(0);
  while (static_cast<int64_t>(text.size()) < min_length) text += '.';
  if (auto max_length = count_member(schema, "maxLength", kDemoStringBytesMax))
    text.resize(std::min<size_t>(text.size(), static_cast<size_t>(*max_length)));
  return text;
}

int64_t quarter_tokens(size_t bytes) { return static_cast<int64_t>((bytes + 3) / 4); }

class DoneCall final : public ModelCall {
 public:
  void cancel() override {}
};

}  // namespace

json demo_value(const json& schema) { return value_for(schema, schema, 0); }

std::shared_ptr<ModelCall> DemoProvider::start(ModelRequest request, OnDelta on_delta,
                                               OnDone done) {
  size_t input_bytes = 0;
  size_t user_bytes = 0;
  bool tool_answered = false;
  for (const ChatMessage& message : request.messages) {
    input_bytes += message.content.size();
    for (const ToolCall& call : message.tool_calls) input_bytes += call.arguments.size();
    if (message.role == ChatMessage::Role::kUser) user_bytes += message.content.size();
    if (message.role == ChatMessage::Role::kTool) tool_answered = true;
  }
  ModelAnswer answer;
  if (!request.tools.empty() && !tool_answered) {
    const ToolDefinition& tool = request.tools.front();
    answer.tool_calls.push_back({"call_demo_1", tool.name, demo_value(tool.parameters).dump()});
    answer.finish_reason = "tool_calls";
  } else if (request.response_format) {
    answer.text = demo_value(*request.response_format).dump();
    answer.finish_reason = "stop";
  } else {
    answer.text = "This is a demo answer from Tollgate's demo provider (model " + request.model +
                  "); no model was called. Your input was " + std::to_string(user_bytes) +
                  " bytes long. Add a provider key and set the feature's model to use a real one.";
    answer.finish_reason = "stop";
  }
  // The demo honours max_tokens the way a model does: it stops there.
  size_t max_bytes = static_cast<size_t>(std::max<int64_t>(request.max_tokens, 0)) * 4;
  if (answer.text.size() > max_bytes) {
    answer.text.resize(max_bytes);
    answer.finish_reason = "length";
  }
  size_t output_bytes = answer.text.size();
  for (const ToolCall& call : answer.tool_calls) output_bytes += call.name.size() + call.arguments.size();
  answer.usage = pricing::Usage{
      quarter_tokens(input_bytes) +
          static_cast<int64_t>(request.messages.size()) * pricing::kMessageOverheadTokens,
      std::min<int64_t>(quarter_tokens(output_bytes), request.max_tokens)};
  if (request.stream && on_delta) {
    for (size_t at = 0; at < answer.text.size(); at += kDemoStreamChunkBytes) {
      ModelDelta delta;
      delta.text = answer.text.substr(at, kDemoStreamChunkBytes);
      on_delta(delta);
    }
    for (size_t i = 0; i < answer.tool_calls.size(); ++i) {
      const ToolCall& call = answer.tool_calls[i];
      size_t half = call.arguments.size() / 2;
      ModelDelta first{"", static_cast<int>(i), call.id, call.name, call.arguments.substr(0, half)};
      ModelDelta second{"", static_cast<int>(i), "", "", call.arguments.substr(half)};
      on_delta(first);
      on_delta(second);
    }
  }
  done(std::move(answer));
  return std::make_shared<DoneCall>();
}

}  // namespace tollgate::server
