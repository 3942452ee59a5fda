// libFuzzer target for `{{variable}}` templates (sdk-core prompt/template). The input is a
// template source.
//
// For any input:
// - Template::parse agrees with a reference reading of the syntax in template.h, written here
//   as a plain scan: same outcome, same error code, same variables;
// - render() with every variable set to a value that is itself template syntax (the input, so
//   a value can never pull in another variable) gives the reference's text, or refuses past
//   kRenderedBytesMax exactly when the reference's text would pass it; with one variable left
//   out it refuses with kTemplateVariableMissing naming a missing one;
// - escape(input) parses to a template without variables that renders back to the input.
// Build and run with `make fuzz`.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.h"
#include "tollgate/prompt/template.h"

using tollgate::ErrorCode;
using tollgate::fuzz::check;
namespace prompt = tollgate::prompt;

namespace {

struct Segment {
  bool is_variable = false;
  std::string text;
};

struct Reading {
  bool ok = true;
  ErrorCode code = ErrorCode::kInternal;
  std::vector<Segment> segments;
  std::vector<std::string> variables;
};

bool is_name(std::string_view name) {
  auto start = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  auto rest = [&](char c) { return start(c) || (c >= '0' && c <= '9'); };
  return !name.empty() && name.size() <= prompt::kVariableNameBytesMax && start(name[0]) &&
         std::all_of(name.begin(), name.end(), rest);
}

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

Reading refuse(ErrorCode code) {
  Reading out;
  out.ok = false;
  out.code = code;
  return out;
}

Reading read(std::string_view source) {
  if (source.size() > prompt::kTemplateBytesMax) return refuse(ErrorCode::kInvalidArgument);
  Reading out;
  auto literal = [&out](char c) {
    if (out.segments.empty() || out.segments.back().is_variable) out.segments.push_back({});
    out.segments.back().text += c;
  };
  for (size_t i = 0; i < source.size();) {
    std::string_view rest = source.substr(i);
    if (rest.size() >= 2 && rest[0] == '\\' &&
        std::string_view("{}\\").find(rest[1]) != rest.npos) {
      literal(rest[1]);
      i += 2;
    } else if (rest.starts_with("{{")) {
      size_t close = rest.find("}}", 2);
      if (close == rest.npos) return refuse(ErrorCode::kTemplateSyntax);
      std::string name(trimmed(rest.substr(2, close - 2)));
      if (!is_name(name)) return refuse(ErrorCode::kTemplateSyntax);
      if (std::find(out.variables.begin(), out.variables.end(), name) == out.variables.end()) {
        if (out.variables.size() == prompt::kTemplateVariablesMax) {
          return refuse(ErrorCode::kInvalidArgument);
        }
        out.variables.push_back(name);
      }
      out.segments.push_back({true, name});
      i += close + 2;
    } else {
      literal(rest[0]);
      ++i;
    }
  }
  return out;
}

// The reference's rendering: the text, or the code render() must refuse with.
struct Rendering {
  bool ok = true;
  ErrorCode code = ErrorCode::kInternal;
  std::string text;
};

Rendering render(const Reading& reading, const prompt::Variables& values) {
  Rendering out;
  for (const Segment& segment : reading.segments) {
    const std::string* piece = &segment.text;
    if (segment.is_variable) {
      auto value = values.find(segment.text);
      if (value == values.end()) return {false, ErrorCode::kTemplateVariableMissing, {}};
      piece = &value->second;
    }
    if (out.text.size() + piece->size() > prompt::kRenderedBytesMax) {
      return {false, ErrorCode::kInvalidArgument, {}};
    }
    out.text += *piece;
  }
  return out;
}

void check_render(const prompt::Template& parsed, const Reading& reading,
                  const prompt::Variables& values) {
  auto rendered = parsed.render(values);
  Rendering expected = render(reading, values);
  check(rendered.ok() == expected.ok, "render() succeeds exactly when the reference does");
  if (!rendered) {
    check(rendered.error().code == expected.code, "render() refuses with the reference's code");
    if (expected.code == ErrorCode::kTemplateVariableMissing) {
      check(!values.contains(rendered.error().param), "a refusal names a missing variable");
    }
    return;
  }
  check(rendered.value() == expected.text, "render() gives the reference's text");
}

void check_escape(std::string_view input) {
  std::string escaped = prompt::escape(input);
  if (escaped.size() > prompt::kTemplateBytesMax) return;
  auto parsed = prompt::Template::parse(escaped);
  check(parsed.ok() && parsed.value().variables().empty(),
        "an escaped text parses to a template without variables");
  auto rendered = parsed.value().render({});
  check(rendered.ok() && rendered.value() == input, "an escaped text renders back to itself");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input = tollgate::fuzz::as_text(data, size);
  check_escape(input);

  auto parsed = prompt::Template::parse(input);
  Reading reading = read(input);
  check(parsed.ok() == reading.ok, "parse() succeeds exactly when the reference reading does");
  if (!parsed) {
    check(parsed.error().code == reading.code, "parse() refuses with the reference's code");
    if (reading.code == ErrorCode::kTemplateSyntax) {
      check(parsed.error().param == "template", "a syntax error names the template");
    }
    return 0;
  }
  check(parsed.value().variables() == reading.variables, "parse() finds the reference's variables");

  prompt::Variables values;
  for (const std::string& name : reading.variables)
    values[name] = "<" + name + ">" + std::string(input);
  check_render(parsed.value(), reading, values);
  if (!reading.variables.empty()) {
    values.erase(reading.variables.back());
    check_render(parsed.value(), reading, values);
  }
  return 0;
}
