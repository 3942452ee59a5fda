// libFuzzer target for the tool-call assembler (sdk-core structured/tool_calls). The input is a
// list of deltas, one per line: `index<TAB>id<TAB>name<TAB>arguments fragment` (missing fields
// are empty, an index that is not a decimal number is 0), fed in order until one is refused, as
// a dialect does with a provider's stream.
//
// Checked against a model kept here: each call's id and name are the first non-empty ones, its
// arguments the concatenated fragments.
// - add() refuses an index outside [0, kToolCallsMax), an oversized id or name, or a changed one
//   with kInvalidArgument, and nothing else with that code; argument text it refuses is
//   kJsonSyntax or kPayloadTooLarge;
// - partial() shows every call with the model's id and name, and serializes (whole characters);
// - finish() succeeds exactly when every call has an id and a name and its arguments are empty
//   or one JSON object as nlohmann/json reads them, and then gives those objects.
// Build and run with `make fuzz`.
#include <charconv>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.h"
#include "tollgate/structured/tool_calls.h"

using nlohmann::json;
using tollgate::ErrorCode;
using tollgate::fuzz::check;
using tollgate::structured::kToolCallIdBytesMax;
using tollgate::structured::kToolCallsMax;
using tollgate::structured::ToolCallAssembler;

namespace {

struct Delta {
  int64_t index = 0;
  std::string_view id, name, arguments;
};

Delta parse_delta(std::string_view line) {
  std::string_view fields[4];
  for (size_t i = 0; i < 3; ++i) {
    size_t tab = line.find('\t');
    fields[i] = line.substr(0, tab);
    line = tab == std::string_view::npos ? std::string_view() : line.substr(tab + 1);
  }
  fields[3] = line;
  Delta delta;
  std::from_chars(fields[0].data(), fields[0].data() + fields[0].size(), delta.index);
  delta.id = fields[1];
  delta.name = fields[2];
  delta.arguments = fields[3];
  return delta;
}

struct Expected {
  std::string id, name, arguments;
};

// Whether a delta's id or name may merge into the stored one (and merges it).
bool merges(std::string& stored, std::string_view incoming) {
  if (incoming.empty()) return true;
  if (incoming.size() > kToolCallIdBytesMax) return false;
  if (stored.empty()) stored = incoming;
  return stored == incoming;
}

// Feeds deltas until one is refused; true when all were taken.
bool feed(ToolCallAssembler& assembler, std::map<int64_t, Expected>& model, std::string_view text) {
  while (!text.empty()) {
    size_t newline = text.find('\n');
    Delta delta = parse_delta(text.substr(0, newline));
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);

    auto added = assembler.add(delta.index, delta.id, delta.name, delta.arguments);
    bool in_range = delta.index >= 0 && delta.index < static_cast<int64_t>(kToolCallsMax);
    bool fits = in_range && merges(model[delta.index].id, delta.id) &&
                merges(model[delta.index].name, delta.name);
    if (!fits) {
      check(!added && added.error().code == ErrorCode::kInvalidArgument,
            "a bad index or an oversized or changed id or name is kInvalidArgument");
      return false;
    }
    if (!added) {
      check(added.error().code == ErrorCode::kJsonSyntax ||
                added.error().code == ErrorCode::kPayloadTooLarge,
            "refused argument text is kJsonSyntax or kPayloadTooLarge");
      return false;
    }
    model[delta.index].arguments += delta.arguments;

    auto calls = assembler.partial();
    check(calls.size() == model.size(), "partial() shows every call");
    size_t i = 0;
    for (const auto& [index, expected] : model) {
      check(calls[i].id == expected.id && calls[i].name == expected.name,
            "partial() shows the first non-empty id and name");
      (void)calls[i].arguments.dump();  // throws (and the fuzzer reports it) on a partial character
      ++i;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ToolCallAssembler assembler;
  std::map<int64_t, Expected> model;
  if (!feed(assembler, model, tollgate::fuzz::as_text(data, size))) return 0;

  std::vector<json> expected_arguments;
  bool expect_ok = true;
  for (const auto& [index, expected] : model) {
    json arguments = expected.arguments.empty()
                         ? json::object()
                         : json::parse(expected.arguments, nullptr, /*allow_exceptions=*/false);
    expect_ok =
        expect_ok && !expected.id.empty() && !expected.name.empty() && arguments.is_object();
    expected_arguments.push_back(std::move(arguments));
  }
  auto finished = assembler.finish();
  check(finished.ok() == expect_ok,
        "finish() succeeds exactly when every call has an id, a name and object arguments");
  if (!finished) {
    check(finished.error().code == ErrorCode::kInvalidArgument,
          "finish() refuses as kInvalidArgument");
    return 0;
  }
  check(finished.value().size() == model.size(), "finish() gives every call");
  for (size_t i = 0; i < model.size(); ++i) {
    check(finished.value()[i].arguments == expected_arguments[i],
          "finish() gives the arguments nlohmann/json reads from the fragments");
  }
  return 0;
}
