// libFuzzer target for the incremental JSON parser (sdk-core structured/partial_json).
//
// For any input, differential against nlohmann/json's whole-document parser, and against itself
// however the input is split:
// - fed whole, it accepts exactly what nlohmann/json accepts (outside our named limits and a
//   leading byte order mark, which nlohmann/json skips, and NUL bytes, where nlohmann/json stops
//   reading) and yields the same value;
// - fed in two pieces at an input-chosen offset, and fed byte by byte, it gives the same outcome;
// - value() serializes at every step (whole UTF-8 characters only).
// Build and run with `make fuzz`.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "tollgate/structured/partial_json.h"

using nlohmann::json;
using tollgate::structured::PartialJsonParser;

namespace {

struct Outcome {
  bool ok = false;
  bool limit = false;  // refused by one of our named limits (depth, number length)
  json value;
};

Outcome finish(PartialJsonParser& parser, bool fed) {
  Outcome out;
  if (!fed) return out;
  auto done = parser.finish();
  out.ok = done.ok();
  if (out.ok) out.value = done.value();
  return out;
}

bool limit_error(const tollgate::Error& error) {
  return error.message.find("at most") != std::string::npos;
}

Outcome parse_split(std::string_view text, size_t cut) {
  PartialJsonParser parser;
  auto first = parser.feed(text.substr(0, cut));
  if (!first) return Outcome{false, limit_error(first.error()), {}};
  auto second = parser.feed(text.substr(cut));
  if (!second) return Outcome{false, limit_error(second.error()), {}};
  return finish(parser, true);
}

Outcome parse_bytes(std::string_view text) {
  PartialJsonParser parser;
  for (size_t i = 0; i < text.size(); ++i) {
    auto fed = parser.feed(text.substr(i, 1));
    if (!fed) return Outcome{false, limit_error(fed.error()), {}};
    (void)parser.value().dump();  // throws (and the fuzzer reports it) on a partial character
  }
  return finish(parser, true);
}

void check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks where to split; the rest is the document.
  size_t cut_seed = data[0];
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);

  Outcome whole = parse_split(text, text.size());
  bool bom = text.starts_with("\xEF\xBB\xBF");
  bool nul = text.find('\0') != std::string_view::npos;
  if (!whole.limit && !bom && !nul) {
    json reference = json::parse(text, nullptr, /*allow_exceptions=*/false);
    check(whole.ok == !reference.is_discarded());
    if (whole.ok) check(whole.value == reference);
  }
  Outcome split = parse_split(text, text.empty() ? 0 : cut_seed % (text.size() + 1));
  check(split.ok == whole.ok);
  if (whole.ok) check(split.value == whole.value);
  if (text.size() <= 4096) {
    Outcome bytes = parse_bytes(text);
    check(bytes.ok == whole.ok);
    if (whole.ok) check(bytes.value == whole.value);
  }
  return 0;
}
