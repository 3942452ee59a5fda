// JSON Schema validation for structured output: a draft 2020-12 subset, compiled once per
// feature and then checked against each model answer.
//
// Keywords: type (a name or a list), enum, const; properties, required, additionalProperties
// (true, false or a schema), minProperties, maxProperties; items (one schema for every element),
// minItems, maxItems; minimum, maximum, exclusiveMinimum, exclusiveMaximum, multipleOf
// (integers); minLength, maxLength (in Unicode code points), pattern (ECMAScript syntax with the
// u flag, the subset structured/regex.h accepts, searched anywhere in the string in linear time;
// a pattern that subset refuses is refused when compiling); anyOf, oneOf, allOf, not; $ref to
// "#" or "#/$defs/<name>"; $defs. Boolean schemas are allowed. Annotations are accepted and
// ignored: $schema, $id, $comment, title, description, default, examples, format, deprecated,
// readOnly, writeOnly. Any other keyword is refused when compiling, so a schema never silently
// checks less than its author meant.
//
// A pattern that cannot be checked (a string over kPatternSubjectBytesMax, or the instance's
// pattern checks over kSchemaPatternStepsMax) fails, and makes the instance invalid even under
// not, anyOf or oneOf: an unchecked pattern never lets an instance through. The same holds for
// subschemas past kSchemaEvaluationDepthMax (a $ref that recurses with the instance). A schema
// nested deeper than kSchemaDepthMax in its own text is refused when compiling.
//
// Numbers compare exactly when both sides are integers, otherwise as doubles; an integer-valued
// float (1.0) counts as an integer, as 2020-12 says.
//
// A compiled schema is immutable and safe to share between threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tollgate/core/result.h"
#include "tollgate/structured/regex.h"

namespace tollgate::structured {

inline constexpr size_t kSchemaBytesMax = size_t{64} << 10;  // the schema as JSON text
inline constexpr size_t kSchemaNodesMax = 2048;              // subschemas in one schema
inline constexpr size_t kSchemaPatternBytesMax = kRegexPatternBytesMax;  // one `pattern`
// A longer string fails `pattern`. Matching is linear, so one check costs at most about
// kRegexProgramSizeMax steps per byte of the string.
inline constexpr size_t kPatternSubjectBytesMax = size_t{64} << 10;
// Regex steps (see RegexSearch) one validate() may spend on all its `pattern` checks together,
// roughly 0.1-0.2 s of CPU at worst; once they are spent, the remaining checks fail. Many long
// strings against a costly pattern would otherwise add up without bound.
inline constexpr uint64_t kSchemaPatternStepsMax = uint64_t{1} << 24;
inline constexpr size_t kSchemaDepthMax = 64;  // subschemas nested in the schema's own text
inline constexpr size_t kSchemaEvaluationDepthMax = 128;  // nested subschema checks, $ref included
inline constexpr size_t kSchemaViolationsMax = 16;        // reported per validation

// One way an instance breaks the schema.
struct SchemaViolation {
  std::string instance_path;  // JSON Pointer into the instance, "" for the root
  std::string keyword;        // the schema keyword that failed, e.g. "required"
  std::string message;        // e.g. "missing required property 'title'"
};

class JsonSchema {
 public:
  // kInvalidArgument (param = `param`) naming the JSON Pointer of the bad keyword for an invalid
  // or unsupported schema; kPayloadTooLarge past the limits above.
  static Result<JsonSchema> compile(const nlohmann::json& schema, std::string param = "schema");

  // The instance's violations, at most kSchemaViolationsMax; empty when it is valid. Its
  // `pattern` checks together may take `pattern_steps_max` steps.
  std::vector<SchemaViolation> validate(const nlohmann::json& instance,
                                        uint64_t pattern_steps_max = kSchemaPatternStepsMax) const;

  bool accepts(const nlohmann::json& instance) const { return validate(instance).empty(); }

  struct Node;

 private:
  explicit JsonSchema(std::shared_ptr<const std::vector<Node>> nodes) : nodes_(std::move(nodes)) {}
  std::shared_ptr<const std::vector<Node>> nodes_;  // nodes_[0] is the root
};

// Violations as one line each, "<path>: <message>", for error messages and repair prompts.
std::string describe(const std::vector<SchemaViolation>& violations);

}  // namespace tollgate::structured
