#include "tollgate/prompt/template.h"

#include <algorithm>

namespace tollgate::prompt {
namespace {

bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }
bool is_escapable(char c) { return c == '{' || c == '}' || c == '\\'; }

Error syntax(size_t offset, const std::string& what) {
  return fail(ErrorCode::kTemplateSyntax, what + " at byte " + std::to_string(offset), "template");
}

// Parses the name inside `{{ … }}` starting at `open` (the first '{'); sets `end` past the '}}'.
Result<std::string> parse_variable(std::string_view source, size_t open, size_t& end) {
  size_t close = source.find("}}", open + 2);
  if (close == std::string_view::npos) return syntax(open, "unclosed {{");
  std::string_view inner = source.substr(open + 2, close - open - 2);
  size_t first = inner.find_first_not_of(" \t");
  size_t last = inner.find_last_not_of(" \t");
  if (first == std::string_view::npos) return syntax(open, "empty {{}}");
  std::string_view name = inner.substr(first, last - first + 1);
  if (name.size() > kVariableNameBytesMax || !is_name_start(name.front()) ||
      !std::all_of(name.begin(), name.end(), is_name_char)) {
    return syntax(open, "variable name must match [A-Za-z_][A-Za-z0-9_]* (at most 64 bytes)");
  }
  end = close + 2;
  return std::string(name);
}

}  // namespace

Result<Template> Template::parse(std::string_view source) {
  if (source.size() > kTemplateBytesMax) {
    return fail(ErrorCode::kInvalidArgument, "template is larger than 64 KiB", "template");
  }
  Template out;
  std::string literal;
  size_t i = 0;
  while (i < source.size()) {
    char c = source[i];
    if (c == '\\' && i + 1 < source.size() && is_escapable(source[i + 1])) {
      literal += source[i + 1];
      i += 2;
      continue;
    }
    if (c != '{' || i + 1 >= source.size() || source[i + 1] != '{') {
      literal += c;
      ++i;
      continue;
    }
    size_t end = 0;
    auto name = parse_variable(source, i, end);
    if (!name) return name.error();
    if (!literal.empty()) out.segments_.push_back({false, std::move(literal)});
    literal.clear();
    if (std::find(out.variables_.begin(), out.variables_.end(), name.value()) ==
        out.variables_.end()) {
      if (out.variables_.size() == kTemplateVariablesMax) {
        return fail(ErrorCode::kInvalidArgument, "template uses more than 64 variables",
                    "template");
      }
      out.variables_.push_back(name.value());
    }
    out.segments_.push_back({true, std::move(name).value()});
    i = end;
  }
  if (!literal.empty()) out.segments_.push_back({false, std::move(literal)});
  return out;
}

Result<std::string> Template::render(const Variables& values) const {
  std::string out;
  for (const Segment& segment : segments_) {
    const std::string* piece = &segment.text;
    if (segment.is_variable) {
      auto it = values.find(segment.text);
      if (it == values.end()) {
        return fail(ErrorCode::kTemplateVariableMissing,
                    "template variable '" + segment.text + "' has no value", segment.text);
      }
      piece = &it->second;
    }
    if (out.size() + piece->size() > kRenderedBytesMax) {
      return fail(ErrorCode::kInvalidArgument, "rendered template would exceed 1 MiB", "input");
    }
    out += *piece;
  }
  return out;
}

std::string escape(std::string_view literal) {
  std::string out;
  out.reserve(literal.size());
  for (char c : literal) {
    if (is_escapable(c)) out += '\\';
    out += c;
  }
  return out;
}

}  // namespace tollgate::prompt
