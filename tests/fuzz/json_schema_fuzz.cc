// libFuzzer target for JSON Schema compile and validate (sdk-core structured/json_schema). The
// input's first line is the schema document and the rest is the instance document (JSON text
// holds no raw newline inside a string, so a one-line schema is any schema).
//
// For any input:
// - compile() succeeds or refuses cleanly: kInvalidArgument or kPayloadTooLarge, param "schema";
// - validate() reports at most kSchemaViolationsMax violations, each naming a keyword and a JSON
//   Pointer that exists in the instance; accepts() agrees with it; a second run gives the same;
// - the schema's meaning survives a JSON round trip, and {"not": schema} accepts exactly what
//   the schema refuses (when the wrapper cannot change what $ref points at or hit the depth limit).
// Build and run with `make fuzz`.
#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "fuzz_support.h"
#include "tollgate/core/bytes.h"
#include "tollgate/structured/json_schema.h"

using nlohmann::json;
using tollgate::ErrorCode;
using tollgate::fuzz::check;
using tollgate::structured::JsonSchema;
using tollgate::structured::kSchemaEvaluationDepthMax;
using tollgate::structured::kSchemaViolationsMax;
using tollgate::structured::SchemaViolation;

namespace {

// The deepest schema whose `not` wrapper still stays inside the evaluation depth limit: every
// subschema is at least one JSON level below its parent.
constexpr size_t kNegationDepthMax = kSchemaEvaluationDepthMax - 8;

size_t depth(const json& value) {
  size_t deepest = 0;
  if (value.is_structured()) {
    for (const auto& child : value) deepest = std::max(deepest, depth(child));
    return deepest + 1;
  }
  return 0;
}

bool has_ref(const json& value) {
  if (value.is_object() && value.contains("$ref")) return true;
  if (value.is_structured()) {
    for (const auto& child : value) {
      if (has_ref(child)) return true;
    }
  }
  return false;
}

bool same(const std::vector<SchemaViolation>& a, const std::vector<SchemaViolation>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].instance_path != b[i].instance_path || a[i].keyword != b[i].keyword ||
        a[i].message != b[i].message) {
      return false;
    }
  }
  return true;
}

void check_violations(const std::vector<SchemaViolation>& violations, const json& instance) {
  check(violations.size() <= kSchemaViolationsMax, "at most kSchemaViolationsMax violations");
  for (const SchemaViolation& violation : violations) {
    check(!violation.keyword.empty() && !violation.message.empty(),
          "a violation names a keyword and says what is wrong");
    bool found = false;
    try {
      found = instance.contains(json::json_pointer(violation.instance_path));
    } catch (const json::exception&) {
      check(false, "a violation's instance path is a well-formed JSON Pointer");
    }
    check(found, "a violation's instance path points into the instance");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input = tollgate::fuzz::as_text(data, size);
  size_t newline = input.find('\n');
  std::string_view schema_text = input.substr(0, newline);
  std::string_view instance_text =
      newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);
  json schema = json::parse(schema_text, nullptr, /*allow_exceptions=*/false);
  if (schema.is_discarded()) return 0;

  auto compiled = JsonSchema::compile(schema);
  if (!compiled) {
    const auto& error = compiled.error();
    check(error.code == ErrorCode::kInvalidArgument || error.code == ErrorCode::kPayloadTooLarge,
          "compile refuses with kInvalidArgument or kPayloadTooLarge");
    check(error.param == "schema" && !error.message.empty(), "a refusal names the schema");
    return 0;
  }
  // Text that is not JSON is checked as one string (what pattern and minLength see), if it could
  // have come from a JSON document: valid UTF-8.
  json instance = json::parse(instance_text, nullptr, /*allow_exceptions=*/false);
  if (instance.is_discarded()) {
    if (!tollgate::is_valid_utf8(instance_text)) return 0;
    instance = std::string(instance_text);
  }

  auto violations = compiled.value().validate(instance);
  check_violations(violations, instance);
  check(compiled.value().accepts(instance) == violations.empty(),
        "accepts() agrees with validate()");
  check(same(compiled.value().validate(instance), violations), "validate() is deterministic");

  auto reparsed = JsonSchema::compile(json::parse(schema.dump()));
  check(reparsed.ok(), "a schema that compiled compiles again after a JSON round trip");
  check(same(reparsed.value().validate(instance), violations),
        "a round-tripped schema reports the same violations");

  if (!has_ref(schema) && depth(schema) <= kNegationDepthMax) {
    auto negated = JsonSchema::compile(json{{"not", schema}});
    if (negated) {
      check(negated.value().accepts(instance) == !violations.empty(),
            "{\"not\": schema} accepts exactly what the schema refuses");
    }
  }
  return 0;
}
