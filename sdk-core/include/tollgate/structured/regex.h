// Regular expressions for JSON Schema `pattern`, matched in time linear in the subject, so text a
// model was steered to write can neither stall nor crash the validator.
//
// How it matches. A pattern compiles once into a Thompson NFA: a small program of instructions
// (a code point, a class, split, jump, an assertion, match). A search runs that program as a lazy
// DFA: a DFA state is the set of instructions alive after reading some code point, built the first
// time the search reaches it and then cached with its transitions, so looping over a long subject
// costs one table lookup per code point. Building one state walks each instruction at most once,
// so a search does at most (program size + 1) steps per code point even when no state repeats,
// and the cache is bounded (kRegexDfaCacheBytesMax; when full it is emptied and rebuilt as
// needed). Nothing recurses, on the subject or on the pattern. The answer is only yes or no, so
// no captures are tracked; that is why a lazy DFA suffices and a Pike VM (which tracks them) is
// not needed. A backtracking engine such as std::regex takes exponential time on (a+)+$ and
// recurses once per character.
//
// Syntax: ECMA-262 as `new RegExp(pattern, "u")` reads it, for the subset JSON Schema recommends.
// - Literals, and the escapes \f \n \r \t \v \0 \cA-\cZ \xHH \uHHHH (a surrogate pair written
//   as two \u escapes is one code point) \u{H...}, and \ before any of ^ $ \ . * + ? ( ) [ ] { } |
//   /.
// - `.` is any code point but a line terminator (\n \r U+2028 U+2029).
// - Classes [a-z0-9_] and [^...], holding the escapes above, \d \D \w \W \s \S, \b (backspace)
//   and \-. [] matches nothing and [^] anything.
// - \d \D \w \W \s \S as ECMAScript defines them (\w is [A-Za-z0-9_]; \s includes U+00A0, U+FEFF
//   and Unicode's space separators).
// - ^ and $ match at the start and end of the whole subject (there is no multiline flag); \b \B.
// - Groups ( ), (?: ) and (?<name> ) with an ASCII name; alternation |.
// - Quantifiers * + ? {n} {n,} {n,m} and their lazy forms, which match the same strings.
// Refused with kInvalidArgument naming the byte offset: anything RegExp(pattern, "u") refuses (a
// lone { } or ], an escape it does not know, a quantifier with nothing to repeat, an unclosed
// group), and what this engine does not do: backreferences (\1, \k<name>), lookahead and
// lookbehind, \p{...} property escapes, non-ASCII group names. There are no flags: matching is
// case-sensitive, since JSON Schema has no way to ask for anything else.
//
// Subjects are UTF-8, read as Unicode code points: `.` matches "é" whole, as minLength counts it.
// A byte that does not belong to well-formed UTF-8 reads as one U+FFFD.
//
// A compiled Regex is immutable and safe to share between threads; each Regex::search allocates
// its own DFA cache (at most kRegexDfaCacheBytesMax) and frees it on return, and a RegexSearcher
// keeps one cache for many searches. Nothing throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>

#include "tollgate/core/result.h"

namespace tollgate::structured {

inline constexpr size_t kRegexPatternBytesMax = 1024;
// Instructions once counted repetition is expanded: (a{1000}){1000} would need a million. Also
// bounds one search's work per code point.
inline constexpr size_t kRegexProgramSizeMax = 4096;
// The DFA states one search keeps, counted by content (the vectors holding them may have up to
// twice this allocated).
inline constexpr size_t kRegexDfaCacheBytesMax = size_t{256} << 10;
inline constexpr uint64_t kRegexStepsUnlimited = std::numeric_limits<uint64_t>::max();

// What a bounded search found, and what it cost.
struct RegexSearch {
  std::optional<bool> matched;  // nullopt: the step budget ran out first
  // One per code point read, plus one per instruction walked while building DFA states; at most
  // (program_size() + 1) × (code points + 1).
  uint64_t steps = 0;
};

class Regex {
 public:
  // kInvalidArgument (param "pattern") for invalid or unsupported syntax, naming the byte offset;
  // kPayloadTooLarge for a pattern over kRegexPatternBytesMax or a program over
  // kRegexProgramSizeMax.
  static Result<Regex> compile(std::string_view pattern);

  // Whether the pattern matches somewhere in `subject` (unanchored, as JSON Schema's `pattern`).
  bool search(std::string_view subject) const;

  // The same, but gives up once more than `steps_max` steps are done (it may overrun by one
  // state's construction, at most program_size() steps).
  RegexSearch search(std::string_view subject, uint64_t steps_max) const;

  // Instructions in the compiled program, match included.
  size_t program_size() const;

  struct Program;

 private:
  friend class RegexSearcher;
  explicit Regex(std::shared_ptr<const Program> program) : program_(std::move(program)) {}
  std::shared_ptr<const Program> program_;
};

class RegexDfa;

// Searches with one Regex again and again, keeping the DFA states it built between searches (at
// most kRegexDfaCacheBytesMax), so that checking many strings against one pattern costs little
// more than reading them. Keeps the Regex's program alive. Not safe to share between threads:
// use one per thread, or per task.
class RegexSearcher {
 public:
  explicit RegexSearcher(const Regex& regex);
  ~RegexSearcher();
  RegexSearcher(RegexSearcher&&) noexcept;
  RegexSearcher& operator=(RegexSearcher&&) noexcept;

  // As Regex::search; the steps count only this search's work, so a state built by an earlier
  // search costs nothing now.
  RegexSearch search(std::string_view subject, uint64_t steps_max = kRegexStepsUnlimited);

 private:
  std::shared_ptr<const Regex::Program> program_;
  std::unique_ptr<RegexDfa> dfa_;
};

}  // namespace tollgate::structured
