// libFuzzer target for the regular-expression engine (sdk-core structured/regex).
//
// Input: two bytes (little-endian) give the pattern's length, then the pattern, then the subject.
// For any input:
// - compiling never crashes, and a compiled program stays within kRegexProgramSizeMax;
// - a search never crashes and stays linear: at most (program size + 1) steps per subject byte
//   (plus one), the bound RegexSearch promises, whatever the pattern;
// - a search under a step budget either gives up or agrees with the unbounded search;
// - a RegexSearcher, which keeps its DFA between searches, agrees with fresh searches;
// - the same pattern inside (?: ) and as p|p finds the same answer (or is refused as too large).
// Seeds are in tests/fuzz/corpus/regex_fuzz/.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tollgate/structured/regex.h"

using tollgate::structured::kRegexProgramSizeMax;
using tollgate::structured::kRegexStepsUnlimited;
using tollgate::structured::Regex;
using tollgate::structured::RegexSearch;
using tollgate::structured::RegexSearcher;

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

// The same answer as `expected`, or a refusal for a reason the rewrite can explain: the group or
// the alternation adds instructions (the program limit) or bytes (the pattern limit).
void check_same(const std::string& rewritten, std::string_view subject, bool expected) {
  auto regex = Regex::compile(rewritten);
  if (!regex) {
    check(regex.error().code == tollgate::ErrorCode::kPayloadTooLarge);
    return;
  }
  check(regex.value().search(subject) == expected);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  size_t length = data[0] | (size_t{data[1]} << 8);
  std::string_view rest(reinterpret_cast<const char*>(data) + 2, size - 2);
  length = std::min(length, rest.size());
  std::string pattern(rest.substr(0, length));
  std::string_view subject = rest.substr(length);

  auto regex = Regex::compile(pattern);
  if (!regex) {
    check(!regex.error().message.empty());
    return 0;
  }
  size_t program = regex.value().program_size();
  check(program >= 1 && program <= kRegexProgramSizeMax);

  RegexSearch whole = regex.value().search(subject, kRegexStepsUnlimited);
  check(whole.matched.has_value());
  check(whole.steps <= (program + 1) * (subject.size() + 1));
  check(regex.value().search(subject) == *whole.matched);

  // A searcher that keeps its DFA between searches answers as a fresh search does, for the
  // subject, for it again (mostly from cached states), and for a prefix of it.
  RegexSearcher searcher(regex.value());
  std::string_view prefix = subject.substr(0, subject.size() / 2);
  check(searcher.search(subject).matched == whole.matched);
  RegexSearch again = searcher.search(subject);
  check(again.matched == whole.matched && again.steps <= (program + 1) * (subject.size() + 1));
  check(searcher.search(prefix).matched ==
        regex.value().search(prefix, kRegexStepsUnlimited).matched);

  RegexSearch cut = regex.value().search(subject, whole.steps / 2);
  check(!cut.matched || *cut.matched == *whole.matched);
  check(cut.steps <= whole.steps);

  check_same("(?:" + pattern + ")", subject, *whole.matched);
  // Two copies of a named group would be a duplicate name, refused for that reason alone.
  if (pattern.find("(?<") == std::string::npos) {
    check_same(pattern + "|" + pattern, subject, *whole.matched);
  }
  return 0;
}
