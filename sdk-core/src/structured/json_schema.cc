#include "tollgate/structured/json_schema.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <string_view>

namespace tollgate::structured {

using nlohmann::json;

namespace {

enum TypeBit : uint8_t {
  kNull = 1 << 0,
  kBoolean = 1 << 1,
  kObject = 1 << 2,
  kArray = 1 << 3,
  kNumber = 1 << 4,
  kString = 1 << 5,
  kInteger = 1 << 6,
};

constexpr std::pair<std::string_view, uint8_t> kTypeNames[] = {
    {"null", kNull},     {"boolean", kBoolean}, {"object", kObject},   {"array", kArray},
    {"number", kNumber}, {"string", kString},   {"integer", kInteger},
};

const std::set<std::string, std::less<>> kAnnotations = {
    "$schema", "$id",    "$comment", "title",    "description", "default",
    "examples", "format", "deprecated", "readOnly", "writeOnly",
};

bool is_integral(const json& value) {
  if (value.is_number_integer()) return true;
  if (!value.is_number_float()) return false;
  double d = value.get<double>();
  return std::isfinite(d) && std::floor(d) == d;
}

// The instance's type as a bit: integers (1 and 1.0) carry both kInteger and kNumber.
uint8_t type_bits(const json& value) {
  switch (value.type()) {
    case json::value_t::null: return kNull;
    case json::value_t::boolean: return kBoolean;
    case json::value_t::object: return kObject;
    case json::value_t::array: return kArray;
    case json::value_t::string: return kString;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return kNumber | kInteger;
    case json::value_t::number_float:
      return is_integral(value) ? (kNumber | kInteger) : kNumber;
    default: return 0;
  }
}

std::string type_list(uint8_t bits) {
  std::string out;
  for (const auto& [name, bit] : kTypeNames) {
    if (!(bits & bit)) continue;
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

// -1, 0 or 1; exact for two integers (nlohmann/json keeps non-negative ones as uint64), otherwise
// through long double.
int compare_numbers(const json& a, const json& b) {
  auto sign = [](auto x, auto y) { return x < y ? -1 : x > y ? 1 : 0; };
  if (a.is_number_integer() && b.is_number_integer()) {
    bool a_unsigned = a.is_number_unsigned(), b_unsigned = b.is_number_unsigned();
    if (a_unsigned && b_unsigned) return sign(a.get<uint64_t>(), b.get<uint64_t>());
    if (!a_unsigned && !b_unsigned) return sign(a.get<int64_t>(), b.get<int64_t>());
    if (a_unsigned) return b.get<int64_t>() < 0 ? 1 : sign(a.get<uint64_t>(), b.get<uint64_t>());
    return a.get<int64_t>() < 0 ? -1 : sign(a.get<uint64_t>(), b.get<uint64_t>());
  }
  return sign(a.get<long double>(), b.get<long double>());
}

size_t code_points(const std::string& text) {
  size_t n = 0;
  for (char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

std::string pointer_token(std::string_view token) {
  std::string out;
  for (char c : token) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

std::string shown(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  return text.size() > 80 ? text.substr(0, 80) + "…" : text;
}

}  // namespace

struct JsonSchema::Node {
  std::optional<bool> constant;  // a boolean schema
  uint8_t types = 0;             // 0: any type
  std::optional<json> enum_values;
  std::optional<json> const_value;
  std::vector<std::pair<std::string, size_t>> properties;
  std::vector<std::string> required;
  std::optional<bool> additional_allowed;  // additionalProperties: true/false
  std::optional<size_t> additional;        // additionalProperties: a schema
  std::optional<size_t> min_properties, max_properties, min_items, max_items;
  std::optional<size_t> items;
  std::optional<json> minimum, maximum, exclusive_minimum, exclusive_maximum;
  std::optional<int64_t> multiple_of;
  std::optional<size_t> min_length, max_length;
  std::optional<Regex> pattern;
  std::string pattern_source;
  std::vector<size_t> any_of, one_of, all_of;
  std::optional<size_t> not_schema;
  std::optional<size_t> ref;
};

namespace {

class Compiler {
 public:
  Compiler(std::vector<JsonSchema::Node>& nodes, std::string param)
      : nodes_(nodes), param_(std::move(param)) {}

  Result<size_t> compile(const json& schema, const std::string& pointer, bool root);
  Result<void> resolve_refs();

 private:
  Result<size_t> compile_node(const json& schema, const std::string& pointer, bool root);
  size_t depth_ = 0;  // subschemas being compiled, one inside the other
  Error bad(const std::string& pointer, std::string_view what) const {
    std::string message = "invalid schema at '";
    message += pointer.empty() ? "#" : "#" + pointer;
    message += "': ";
    message += what;
    return fail(ErrorCode::kInvalidArgument, std::move(message), param_);
  }
  Result<size_t> count(const json& value, const std::string& pointer) const {
    if (!value.is_number_integer() || value.get<int64_t>() < 0)
      return bad(pointer, "must be a non-negative integer");
    return static_cast<size_t>(value.get<int64_t>());
  }
  Result<std::vector<size_t>> schema_list(const json& value, const std::string& pointer);
  Result<void> keyword(JsonSchema::Node& node, size_t index, const std::string& key,
                       const json& value, const std::string& pointer, bool root);

  std::vector<JsonSchema::Node>& nodes_;
  std::string param_;
  std::map<std::string, size_t, std::less<>> defs_;
  std::vector<std::tuple<size_t, std::string, std::string>> refs_;  // node, target, pointer
};

// Bounds the recursion: a schema nested deeper than kSchemaDepthMax is refused, never a stack
// overflow.
Result<size_t> Compiler::compile(const json& schema, const std::string& pointer, bool root) {
  if (depth_ >= kSchemaDepthMax) {
    return bad(pointer, "the schema nests deeper than " + std::to_string(kSchemaDepthMax) +
                            " subschemas");
  }
  ++depth_;
  auto compiled = compile_node(schema, pointer, root);
  --depth_;
  return compiled;
}

Result<size_t> Compiler::compile_node(const json& schema, const std::string& pointer, bool root) {
  if (nodes_.size() >= kSchemaNodesMax) {
    return fail(ErrorCode::kPayloadTooLarge,
                "a schema may have at most " + std::to_string(kSchemaNodesMax) + " subschemas",
                param_);
  }
  size_t index = nodes_.size();
  nodes_.emplace_back();
  JsonSchema::Node node;
  if (schema.is_boolean()) {
    node.constant = schema.get<bool>();
  } else if (!schema.is_object()) {
    return bad(pointer, "a schema must be an object or a boolean");
  } else {
    for (const auto& [key, value] : schema.items()) {
      auto done = keyword(node, index, key, value, pointer + "/" + pointer_token(key), root);
      if (!done) return done.error();
    }
  }
  nodes_[index] = std::move(node);
  return index;
}

Result<std::vector<size_t>> Compiler::schema_list(const json& value, const std::string& pointer) {
  if (!value.is_array() || value.empty()) return bad(pointer, "must be a non-empty array of schemas");
  std::vector<size_t> out;
  for (size_t i = 0; i < value.size(); ++i) {
    auto child = compile(value[i], pointer + "/" + std::to_string(i), false);
    if (!child) return child.error();
    out.push_back(child.value());
  }
  return out;
}

Result<void> Compiler::keyword(JsonSchema::Node& node, size_t index, const std::string& key,
                               const json& value, const std::string& pointer, bool root) {
  auto sub = [&](std::optional<size_t>& slot) -> Result<void> {
    auto child = compile(value, pointer, false);
    if (!child) return child.error();
    slot = child.value();
    return {};
  };
  auto size_bound = [&](std::optional<size_t>& slot) -> Result<void> {
    auto n = count(value, pointer);
    if (!n) return n.error();
    slot = n.value();
    return {};
  };
  auto number_bound = [&](std::optional<json>& slot) -> Result<void> {
    if (!value.is_number()) return bad(pointer, "must be a number");
    slot = value;
    return {};
  };
  auto list = [&](std::vector<size_t>& slot) -> Result<void> {
    auto children = schema_list(value, pointer);
    if (!children) return children.error();
    slot = std::move(children).value();
    return {};
  };

  if (kAnnotations.contains(key)) return {};
  if (key == "type") {
    json names = value.is_array() ? value : json::array({value});
    if (names.empty()) return bad(pointer, "must name at least one type");
    for (const auto& name : names) {
      bool known = false;
      for (const auto& [type_name, bit] : kTypeNames) {
        if (name.is_string() && name.get_ref<const std::string&>() == type_name) {
          node.types |= bit;
          known = true;
        }
      }
      if (!known) return bad(pointer, "unknown type " + shown(name));
    }
    if (node.types & kNumber) node.types |= kInteger;
    return {};
  }
  if (key == "enum") {
    if (!value.is_array() || value.empty()) return bad(pointer, "must be a non-empty array");
    node.enum_values = value;
    return {};
  }
  if (key == "const") {
    node.const_value = value;
    return {};
  }
  if (key == "properties") {
    if (!value.is_object()) return bad(pointer, "must be an object of schemas");
    for (const auto& [name, schema] : value.items()) {
      auto child = compile(schema, pointer + "/" + pointer_token(name), false);
      if (!child) return child.error();
      node.properties.emplace_back(name, child.value());
    }
    return {};
  }
  if (key == "required") {
    if (!value.is_array()) return bad(pointer, "must be an array of property names");
    for (const auto& name : value) {
      if (!name.is_string()) return bad(pointer, "must be an array of property names");
      node.required.push_back(name.get<std::string>());
    }
    return {};
  }
  if (key == "additionalProperties") {
    if (value.is_boolean()) {
      node.additional_allowed = value.get<bool>();
      return {};
    }
    return sub(node.additional);
  }
  if (key == "items") {
    if (value.is_array()) return bad(pointer, "must be one schema (tuple forms are not supported)");
    return sub(node.items);
  }
  if (key == "not") return sub(node.not_schema);
  if (key == "minProperties") return size_bound(node.min_properties);
  if (key == "maxProperties") return size_bound(node.max_properties);
  if (key == "minItems") return size_bound(node.min_items);
  if (key == "maxItems") return size_bound(node.max_items);
  if (key == "minLength") return size_bound(node.min_length);
  if (key == "maxLength") return size_bound(node.max_length);
  if (key == "minimum") return number_bound(node.minimum);
  if (key == "maximum") return number_bound(node.maximum);
  if (key == "exclusiveMinimum") return number_bound(node.exclusive_minimum);
  if (key == "exclusiveMaximum") return number_bound(node.exclusive_maximum);
  if (key == "multipleOf") {
    if (!value.is_number_integer() || value.get<int64_t>() <= 0)
      return bad(pointer, "must be a positive integer");
    node.multiple_of = value.get<int64_t>();
    return {};
  }
  if (key == "pattern") {
    if (!value.is_string()) return bad(pointer, "must be a string");
    const auto& source = value.get_ref<const std::string&>();
    if (source.size() > kSchemaPatternBytesMax) {
      return bad(pointer, "must be at most " + std::to_string(kSchemaPatternBytesMax) + " bytes");
    }
    auto compiled = Regex::compile(source);
    if (!compiled) {
      return bad(pointer, "is not a supported regular expression: " + compiled.error().message);
    }
    node.pattern = std::move(compiled).value();
    node.pattern_source = source;
    return {};
  }
  if (key == "anyOf") return list(node.any_of);
  if (key == "oneOf") return list(node.one_of);
  if (key == "allOf") return list(node.all_of);
  if (key == "$defs") {
    if (!root) return bad(pointer, "$defs is supported only at the root");
    if (!value.is_object()) return bad(pointer, "must be an object of schemas");
    for (const auto& [name, schema] : value.items()) {
      auto child = compile(schema, pointer + "/" + pointer_token(name), false);
      if (!child) return child.error();
      defs_[name] = child.value();
    }
    return {};
  }
  if (key == "$ref") {
    if (!value.is_string()) return bad(pointer, "must be a string");
    // The target may be a $defs entry not compiled yet: attach it in resolve_refs().
    refs_.emplace_back(index, value.get<std::string>(), pointer);
    return {};
  }
  return bad(pointer, "unsupported keyword");
}

Result<void> Compiler::resolve_refs() {
  for (const auto& [index, target, pointer] : refs_) {
    std::optional<size_t> resolved;
    if (target == "#") resolved = 0;
    constexpr std::string_view kDefs = "#/$defs/";
    if (std::string_view(target).starts_with(kDefs)) {
      std::string name;
      std::string_view token = std::string_view(target).substr(kDefs.size());
      for (size_t i = 0; i < token.size(); ++i) {  // JSON Pointer unescaping: ~1 is '/', ~0 '~'
        if (token[i] == '~' && i + 1 < token.size() && (token[i + 1] == '0' || token[i + 1] == '1')) {
          name += token[i + 1] == '0' ? '~' : '/';
          ++i;
        } else {
          name += token[i];
        }
      }
      if (auto def = defs_.find(name); def != defs_.end()) resolved = def->second;
    }
    if (!resolved) return bad(pointer, "$ref must be \"#\" or \"#/$defs/<name>\" of a defined name");
    nodes_[index].ref = *resolved;
  }
  return {};
}

}  // namespace

Result<JsonSchema> JsonSchema::compile(const json& schema, std::string param) {
  if (schema.dump(-1, ' ', false, json::error_handler_t::replace).size() > kSchemaBytesMax) {
    return fail(ErrorCode::kPayloadTooLarge,
                "a schema may be at most " + std::to_string(kSchemaBytesMax) + " bytes of JSON",
                param);
  }
  auto nodes = std::make_shared<std::vector<Node>>();
  Compiler compiler(*nodes, param);
  auto root = compiler.compile(schema, "", true);
  if (!root) return root.error();
  if (auto resolved = compiler.resolve_refs(); !resolved) return resolved.error();
  return JsonSchema(std::move(nodes));
}

namespace {

// Walks one instance against the compiled nodes. With report=false it stops at the first
// failure and records nothing (for anyOf, oneOf and not).
class Checker {
 public:
  Checker(const std::vector<JsonSchema::Node>& nodes, uint64_t pattern_steps_max)
      : nodes_(nodes),
        pattern_steps_max_(pattern_steps_max),
        pattern_steps_left_(pattern_steps_max) {}

  bool check(size_t index, const json& value, std::string& path, bool report, size_t depth);
  std::vector<SchemaViolation> violations;
  // Part of the instance went unchecked: a pattern (the string was too long, or the step budget
  // ran out), or a subschema past kSchemaEvaluationDepthMax ($ref recursion). The instance is
  // then invalid even where the failure did not count, under `not` or in a losing anyOf branch:
  // what was not checked must never let an instance through.
  const char* unchecked = nullptr;  // the keyword that went unchecked: "pattern" or "$ref"

 private:
  bool violation(bool report, const std::string& path, const char* keyword, std::string message) {
    if (report && violations.size() < kSchemaViolationsMax) {
      violations.push_back({path, keyword, std::move(message)});
    }
    return false;
  }
  bool check_object(const JsonSchema::Node& node, const json& value, std::string& path,
                    bool report, size_t depth);
  bool check_array(const JsonSchema::Node& node, const json& value, std::string& path,
                   bool report, size_t depth);
  bool check_number(const JsonSchema::Node& node, const json& value, const std::string& path,
                    bool report);
  bool check_string(const JsonSchema::Node& node, const json& value, const std::string& path,
                    bool report);
  bool check_pattern(const JsonSchema::Node& node, const std::string& text, const std::string& path,
                     bool report);
  bool check_combinators(const JsonSchema::Node& node, const json& value, std::string& path,
                         bool report, size_t depth);
  bool full() const { return violations.size() >= kSchemaViolationsMax; }

  RegexSearcher& searcher(const JsonSchema::Node& node);

  const std::vector<JsonSchema::Node>& nodes_;
  uint64_t pattern_steps_max_;
  uint64_t pattern_steps_left_;
  // The patterns checked lately, least recent first, each with the DFA it built: an array of
  // strings under one pattern builds its states once.
  std::vector<std::pair<const JsonSchema::Node*, RegexSearcher>> searchers_;
};

// One validate() keeps DFAs for this many patterns, so at most this × kRegexDfaCacheBytesMax.
constexpr size_t kPatternSearchersMax = 8;

RegexSearcher& Checker::searcher(const JsonSchema::Node& node) {
  auto held = std::find_if(searchers_.begin(), searchers_.end(),
                           [&](const auto& entry) { return entry.first == &node; });
  if (held != searchers_.end()) {
    std::rotate(held, held + 1, searchers_.end());  // now the most recent
  } else {
    if (searchers_.size() == kPatternSearchersMax) searchers_.erase(searchers_.begin());
    searchers_.emplace_back(&node, RegexSearcher(*node.pattern));
  }
  return searchers_.back().second;
}

bool Checker::check(size_t index, const json& value, std::string& path, bool report,
                    size_t depth) {
  if (depth > kSchemaEvaluationDepthMax) {
    unchecked = "$ref";
    return violation(report, path, "$ref", "the schema nests deeper than " +
                                               std::to_string(kSchemaEvaluationDepthMax) +
                                               " levels here");
  }
  const JsonSchema::Node& node = nodes_[index];
  if (node.constant) {
    return *node.constant || violation(report, path, "false", "no value is allowed here");
  }
  bool ok = true;
  auto keep_going = [&](bool passed) {
    ok = ok && passed;
    return passed || (report && !full());
  };
  if (node.types && !(node.types & type_bits(value))) {
    if (!keep_going(violation(report, path, "type", "must be " + type_list(node.types))))
      return false;
  }
  if (node.enum_values) {
    bool found = false;
    for (const auto& candidate : *node.enum_values) found = found || candidate == value;
    if (!keep_going(found || violation(report, path, "enum",
                                       "must be one of " + shown(*node.enum_values)))) {
      return false;
    }
  }
  if (node.const_value && !keep_going(*node.const_value == value ||
                                      violation(report, path, "const",
                                                "must equal " + shown(*node.const_value)))) {
    return false;
  }
  if (value.is_object() && !keep_going(check_object(node, value, path, report, depth))) return false;
  if (value.is_array() && !keep_going(check_array(node, value, path, report, depth))) return false;
  if (value.is_number() && !keep_going(check_number(node, value, path, report))) return false;
  if (value.is_string() && !keep_going(check_string(node, value, path, report))) return false;
  if (!keep_going(check_combinators(node, value, path, report, depth))) return false;
  return ok;
}

bool Checker::check_object(const JsonSchema::Node& node, const json& value, std::string& path,
                           bool report, size_t depth) {
  bool ok = true;
  for (const auto& name : node.required) {
    if (value.contains(name)) continue;
    ok = violation(report, path, "required", "missing required property '" + name + "'");
    if (!report || full()) return false;
  }
  if (node.min_properties && value.size() < *node.min_properties) {
    ok = violation(report, path, "minProperties",
                   "must have at least " + std::to_string(*node.min_properties) + " properties");
    if (!report) return false;
  }
  if (node.max_properties && value.size() > *node.max_properties) {
    ok = violation(report, path, "maxProperties",
                   "must have at most " + std::to_string(*node.max_properties) + " properties");
    if (!report) return false;
  }
  for (const auto& [name, member] : value.items()) {
    if (report && full()) return false;
    std::optional<size_t> schema;
    for (const auto& [property, child] : node.properties) {
      if (property == name) schema = child;
    }
    size_t length = path.size();
    path += '/';
    path += pointer_token(name);
    bool passed = true;
    if (schema) {
      passed = check(*schema, member, path, report, depth + 1);
    } else if (node.additional) {
      passed = check(*node.additional, member, path, report, depth + 1);
    } else if (node.additional_allowed == false) {
      passed = violation(report, path, "additionalProperties",
                         "property '" + name + "' is not allowed");
    }
    path.resize(length);
    ok = ok && passed;
    if (!passed && !report) return false;
  }
  return ok;
}

bool Checker::check_array(const JsonSchema::Node& node, const json& value, std::string& path,
                          bool report, size_t depth) {
  bool ok = true;
  if (node.min_items && value.size() < *node.min_items) {
    ok = violation(report, path, "minItems",
                   "must have at least " + std::to_string(*node.min_items) + " items");
    if (!report) return false;
  }
  if (node.max_items && value.size() > *node.max_items) {
    ok = violation(report, path, "maxItems",
                   "must have at most " + std::to_string(*node.max_items) + " items");
    if (!report) return false;
  }
  if (!node.items) return ok;
  for (size_t i = 0; i < value.size(); ++i) {
    if (report && full()) return false;
    size_t length = path.size();
    path += '/';
    path += std::to_string(i);
    bool passed = check(*node.items, value[i], path, report, depth + 1);
    path.resize(length);
    ok = ok && passed;
    if (!passed && !report) return false;
  }
  return ok;
}

bool Checker::check_number(const JsonSchema::Node& node, const json& value,
                           const std::string& path, bool report) {
  struct Bound {
    const std::optional<json>& limit;
    const char* keyword;
    const char* relation;
    bool (*holds)(int);
  };
  const Bound bounds[] = {
      {node.minimum, "minimum", ">=", [](int c) { return c >= 0; }},
      {node.maximum, "maximum", "<=", [](int c) { return c <= 0; }},
      {node.exclusive_minimum, "exclusiveMinimum", ">", [](int c) { return c > 0; }},
      {node.exclusive_maximum, "exclusiveMaximum", "<", [](int c) { return c < 0; }},
  };
  bool ok = true;
  for (const auto& bound : bounds) {
    if (!bound.limit || bound.holds(compare_numbers(value, *bound.limit))) continue;
    ok = violation(report, path, bound.keyword,
                   std::string("must be ") + bound.relation + " " + shown(*bound.limit));
    if (!report) return false;
  }
  if (node.multiple_of) {
    bool multiple = false;
    if (is_integral(value)) {
      if (value.is_number_float()) {
        multiple = std::fmod(value.get<double>(), static_cast<double>(*node.multiple_of)) == 0;
      } else {
        multiple = value.is_number_unsigned()
                       ? value.get<uint64_t>() % static_cast<uint64_t>(*node.multiple_of) == 0
                       : value.get<int64_t>() % *node.multiple_of == 0;
      }
    }
    if (!multiple) {
      ok = violation(report, path, "multipleOf",
                     "must be a multiple of " + std::to_string(*node.multiple_of));
    }
  }
  return ok;
}

bool Checker::check_string(const JsonSchema::Node& node, const json& value,
                           const std::string& path, bool report) {
  const auto& text = value.get_ref<const std::string&>();
  bool ok = true;
  if (node.min_length || node.max_length) {
    size_t length = code_points(text);
    if (node.min_length && length < *node.min_length) {
      ok = violation(report, path, "minLength",
                     "must be at least " + std::to_string(*node.min_length) + " characters long");
      if (!report) return false;
    }
    if (node.max_length && length > *node.max_length) {
      ok = violation(report, path, "maxLength",
                     "must be at most " + std::to_string(*node.max_length) + " characters long");
      if (!report) return false;
    }
  }
  if (node.pattern && !check_pattern(node, text, path, report)) ok = false;
  return ok;
}

bool Checker::check_pattern(const JsonSchema::Node& node, const std::string& text,
                            const std::string& path, bool report) {
  if (text.size() > kPatternSubjectBytesMax) {
    unchecked = "pattern";
    return violation(report, path, "pattern",
                     "is longer than " + std::to_string(kPatternSubjectBytesMax) +
                         " bytes, the most a pattern is checked against");
  }
  RegexSearch found = searcher(node).search(text, pattern_steps_left_);
  if (!found.matched) {
    pattern_steps_left_ = 0;
    unchecked = "pattern";
    return violation(report, path, "pattern",
                     "was not checked against its pattern: the instance's pattern checks took "
                     "more than " +
                         std::to_string(pattern_steps_max_) + " steps");
  }
  pattern_steps_left_ -= std::min(found.steps, pattern_steps_left_);
  return *found.matched ||
         violation(report, path, "pattern", "must match the pattern " + node.pattern_source);
}

bool Checker::check_combinators(const JsonSchema::Node& node, const json& value,
                                std::string& path, bool report, size_t depth) {
  bool ok = true;
  if (node.ref && !check(*node.ref, value, path, report, depth + 1)) {
    ok = false;
    if (!report) return false;
  }
  for (size_t child : node.all_of) {
    if (check(child, value, path, report, depth + 1)) continue;
    ok = false;
    if (!report) return false;
  }
  if (!node.any_of.empty()) {
    bool any = false;
    for (size_t child : node.any_of) any = any || check(child, value, path, false, depth + 1);
    if (!any) ok = violation(report, path, "anyOf", "must match at least one schema in anyOf");
    if (!ok && !report) return false;
  }
  if (!node.one_of.empty()) {
    size_t matched = 0;
    for (size_t child : node.one_of) matched += check(child, value, path, false, depth + 1);
    if (matched != 1) {
      ok = violation(report, path, "oneOf",
                     "must match exactly one schema in oneOf (matched " + std::to_string(matched) +
                         ")");
      if (!report) return false;
    }
  }
  if (node.not_schema && check(*node.not_schema, value, path, false, depth + 1)) {
    ok = violation(report, path, "not", "must not match the schema in not");
  }
  return ok;
}

}  // namespace

std::vector<SchemaViolation> JsonSchema::validate(const json& instance,
                                                  uint64_t pattern_steps_max) const {
  Checker checker(*nodes_, pattern_steps_max);
  std::string path;
  bool valid = checker.check(0, instance, path, true, 0);
  if (checker.unchecked != nullptr && checker.violations.empty()) {
    // Only a failure that did not count (under not, anyOf or oneOf) gets here.
    std::string why =
        std::string_view(checker.unchecked) == "pattern"
            ? "a pattern under not, anyOf or oneOf could not be checked (a string over " +
                  std::to_string(kPatternSubjectBytesMax) + " bytes, or pattern checks over " +
                  std::to_string(pattern_steps_max) + " steps)"
            : "a subschema under not, anyOf or oneOf could not be checked (subschemas nested "
              "deeper than " +
                  std::to_string(kSchemaEvaluationDepthMax) + ")";
    checker.violations.push_back({"", checker.unchecked, why + ", so the instance is refused"});
  }
  if (!valid && checker.violations.empty()) {
    // Every failure reports itself; this guards the invariant that invalid means non-empty.
    checker.violations.push_back({"", "schema", "does not match the schema"});
  }
  return std::move(checker.violations);
}

std::string describe(const std::vector<SchemaViolation>& violations) {
  std::string out;
  for (const auto& v : violations) {
    if (!out.empty()) out += '\n';
    out += v.instance_path.empty() ? "(root)" : v.instance_path;
    out += ": ";
    out += v.message;
  }
  return out;
}

}  // namespace tollgate::structured
