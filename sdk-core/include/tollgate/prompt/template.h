// `{{variable}}` templates for feature prompts.
//
// Syntax: `{{ name }}` inserts a variable (name: [A-Za-z_][A-Za-z0-9_]*, spaces allowed inside the
// braces). A backslash before `{`, `}` or `\` makes that one character literal, so `\{{name}}`
// prints the text `{{name}}` (escape() writes `\{\{name\}\}`); any other backslash is literal.
// Single braces are plain text, so JSON in a prompt needs no escaping. Rendering is one pass over
// the parsed template: a value is inserted verbatim and is never parsed, so a value such as
// "{{secret}}" cannot pull in another variable.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tollgate/core/result.h"

namespace tollgate::prompt {

inline constexpr size_t kTemplateBytesMax = size_t{64} * 1024;
inline constexpr size_t kTemplateVariablesMax = 64;
inline constexpr size_t kVariableNameBytesMax = 64;
inline constexpr size_t kRenderedBytesMax = size_t{1024} * 1024;

using Variables = std::map<std::string, std::string, std::less<>>;

// A parsed template. Immutable and safe to share between threads once built.
class Template {
 public:
  // kTemplateSyntax (naming the byte offset) or kInvalidArgument for an oversized template.
  static Result<Template> parse(std::string_view source);

  // Distinct variable names, in order of first use.
  const std::vector<std::string>& variables() const { return variables_; }

  // kTemplateVariableMissing (param = the variable) when a used variable has no value;
  // kInvalidArgument when the output would exceed kRenderedBytesMax. Extra values are ignored.
  Result<std::string> render(const Variables& values) const;

 private:
  struct Segment {
    bool is_variable = false;
    std::string text;  // literal text, or the variable name
  };
  std::vector<Segment> segments_;
  std::vector<std::string> variables_;
};

// Escapes text so that, placed in a template source, it renders back to exactly itself.
std::string escape(std::string_view literal);

}  // namespace tollgate::prompt
