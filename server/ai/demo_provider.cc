#include "server/ai/demo_provider.h"

#include <algorithm>

namespace tollgate::server {
namespace {

using json = nlohmann::json;

constexpr int kDemoDepthMax = 16;

const json* resolve_ref(const json& root, const json& schema) {
  auto ref = schema.find("$ref");
  if (ref == schema.end() || !ref->is_string()) return &schema;
  const std::string& target = ref->get_ref<const std::string&>();
  if (target == "#") return &root;
  constexpr std::string_view kDefs = "#/$defs/";
  if (target.starts_with(kDefs) && root.contains("$defs")) {
    auto def = root["$defs"].find(target.substr(kDefs.size()));
    if (def != root["$defs"].end()) return &*def;
  }
  return &schema;
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

json number_for(const json& schema, bool integer) {
  int64_t value = 0;
  if (schema.contains("minimum") && schema["minimum"].is_number()) {
    value = static_cast<int64_t>(std::ceil(schema["minimum"].get<double>()));
  } else if (schema.contains("exclusiveMinimum") && schema["exclusiveMinimum"].is_number()) {
    value = static_cast<int64_t>(std::floor(schema["exclusiveMinimum"].get<double>())) + 1;
  } else if (schema.contains("maximum") && schema["maximum"].is_number()) {
    value = std::min<int64_t>(0, static_cast<int64_t>(std::floor(schema["maximum"].get<double>())));
  }
  if (schema.contains("multipleOf") && schema["multipleOf"].is_number_integer()) {
    int64_t step = schema["multipleOf"].get<int64_t>();
    if (step > 0 && value % step != 0) value += step - ((value % step) + step) % step;
  }
  if (integer) return value;
  return static_cast<double>(value);
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
    int64_t count = schema.value("minItems", int64_t{0});
    json item = schema.contains("items") ? value_for(root, schema["items"], depth + 1) : json("demo");
    for (int64_t i = 0; i < std::min<int64_t>(count, 64); ++i) array.push_back(item);
    return array;
  }
  if (type == "integer") return number_for(schema, true);
  if (type == "number") return number_for(schema, false);
  if (type == "boolean") return true;
  if (type == "null") return json();
  std::string text = "demo";
  int64_t min_length = schema.value("minLength", int64_t{0});
  while (static_cast<int64_t>(text.size()) < std::min<int64_t>(min_length, 4096)) text += '.';
  if (schema.contains("maxLength") && schema["maxLength"].is_number_integer())
    text.resize(std::min<size_t>(text.size(), schema["maxLength"].get<size_t>()));
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
