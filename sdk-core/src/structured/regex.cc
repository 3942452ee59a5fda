#include "tollgate/structured/regex.h"

#include <algorithm>
#include <array>
#include <bit>
#include <string>
#include <utility>
#include <vector>

namespace tollgate::structured {

namespace {

constexpr char32_t kCodePointMax = 0x10FFFF;
constexpr char32_t kReplacementCharacter = 0xFFFD;
// Counts in {n,m} saturate here while parsing; anything near it is refused by the program size.
constexpr uint64_t kCountSaturated = uint64_t{1} << 32;
constexpr uint64_t kUnbounded = std::numeric_limits<uint64_t>::max();

using Range = std::pair<char32_t, char32_t>;  // inclusive
using Ranges = std::vector<Range>;            // sorted and disjoint once normalized

constexpr Range kDigitRanges[] = {{'0', '9'}};
constexpr Range kWordRanges[] = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
// ECMAScript's WhiteSpace and LineTerminator: \t \n \v \f \r, space, U+00A0, U+FEFF and the
// Unicode space separators (Zs).
constexpr Range kSpaceRanges[] = {
    {0x09, 0x0D},     {0x20, 0x20},     {0xA0, 0xA0},     {0x1680, 0x1680}, {0x2000, 0x200A},
    {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000}, {0xFEFF, 0xFEFF}};
constexpr Range kLineTerminatorRanges[] = {{0x0A, 0x0A}, {0x0D, 0x0D}, {0x2028, 0x2029}};

enum class Op : uint8_t {
  kChar,    // consumes the code point x
  kClass,   // consumes a code point in classes[x]
  kSplit,   // continues at x and at y
  kJump,    // continues at x
  kAssert,  // continues at the next instruction if Assertion x holds here
  kMatch,
};

enum Assertion : uint32_t { kBegin, kEnd, kWordBoundary, kNotWordBoundary };

struct Inst {
  Op op = Op::kMatch;
  uint32_t x = 0;
  uint32_t y = 0;
};

// A piece of program. Its targets are local: a target equal to size() means "what follows".
using Code = std::vector<Inst>;

// Reads the code point at `i` and moves past it. A byte that does not start well-formed UTF-8
// (overlong, surrogate, past U+10FFFF, truncated) reads as U+FFFD and clears `well_formed`.
char32_t decode_utf8(std::string_view text, size_t& i, bool& well_formed) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char lead = byte(i);
  if (lead < 0x80) {
    ++i;
    return lead;
  }
  size_t length = 0;
  char32_t cp = 0, least = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2, cp = lead & 0x1F, least = 0x80;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3, cp = lead & 0x0F, least = 0x800;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4, cp = lead & 0x07, least = 0x10000;
  }
  bool valid = length > 0 && i + length <= text.size();
  for (size_t k = 1; valid && k < length; ++k) {
    valid = (byte(i + k) & 0xC0) == 0x80;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  valid = valid && cp >= least && cp <= kCodePointMax && (cp < 0xD800 || cp > 0xDFFF);
  if (!valid) {
    ++i;
    well_formed = false;
    return kReplacementCharacter;
  }
  i += length;
  return cp;
}

void normalize(Ranges& ranges) {
  std::sort(ranges.begin(), ranges.end());
  Ranges merged;
  for (const auto& range : ranges) {
    if (!merged.empty() && range.first <= merged.back().second + 1) {
      merged.back().second = std::max(merged.back().second, range.second);
    } else {
      merged.push_back(range);
    }
  }
  ranges = std::move(merged);
}

Ranges complement(const Ranges& normalized) {
  Ranges out;
  char32_t next = 0;
  for (const auto& [low, high] : normalized) {
    if (low > next) out.emplace_back(next, low - 1);
    next = high + 1;
  }
  if (next <= kCodePointMax) out.emplace_back(next, kCodePointMax);
  return out;
}

bool in_ranges(const Ranges& ranges, char32_t cp) {
  auto after = std::upper_bound(ranges.begin(), ranges.end(), cp,
                                [](char32_t v, const Range& range) { return v < range.first; });
  return after != ranges.begin() && std::prev(after)->second >= cp;
}

bool is_word(char32_t cp) {
  return (cp >= '0' && cp <= '9') || (cp >= 'A' && cp <= 'Z') || cp == '_' ||
         (cp >= 'a' && cp <= 'z');
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_ascii_letter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The set a class escape letter (d D w W s S) stands for.
std::optional<Ranges> class_escape(char letter) {
  auto of = [](const auto& ranges) { return Ranges(std::begin(ranges), std::end(ranges)); };
  switch (letter) {
    case 'd':
      return of(kDigitRanges);
    case 'D':
      return complement(of(kDigitRanges));
    case 'w':
      return of(kWordRanges);
    case 'W':
      return complement(of(kWordRanges));
    case 's':
      return of(kSpaceRanges);
    case 'S':
      return complement(of(kSpaceRanges));
    default:
      return std::nullopt;
  }
}

Inst shifted(Inst inst, uint32_t offset) {
  if (inst.op == Op::kSplit) inst.y += offset;
  if (inst.op == Op::kSplit || inst.op == Op::kJump) inst.x += offset;
  return inst;
}

void append(Code& to, const Code& code) {
  auto offset = static_cast<uint32_t>(to.size());
  for (const Inst& inst : code) to.push_back(shifted(inst, offset));
}

uint32_t size_of(const Code& code) { return static_cast<uint32_t>(code.size()); }

// e*: split(e, out); e; jump back to the split.
Code star(const Code& e) {
  Code out{{Op::kSplit, 1, size_of(e) + 2}};
  append(out, e);
  out.push_back({Op::kJump, 0, 0});
  return out;
}

// e+: e; split(back to e, out).
Code plus(const Code& e) {
  Code out = e;
  out.push_back({Op::kSplit, 0, size_of(e) + 1});
  return out;
}

// e?: split(e, out); e.
Code maybe(const Code& e) {
  Code out{{Op::kSplit, 1, size_of(e) + 1}};
  append(out, e);
  return out;
}

// e{min,max}, max kUnbounded for {min,}: `min` copies of e, then e* or (max - min) copies of e?.
Code repeat(const Code& e, uint64_t min, uint64_t max) {
  Code out;
  if (max == kUnbounded) {
    if (min == 0) return star(e);
    for (uint64_t i = 1; i < min; ++i) append(out, e);
    append(out, plus(e));
    return out;
  }
  for (uint64_t i = 0; i < min; ++i) append(out, e);
  Code once_or_not = maybe(e);
  for (uint64_t i = min; i < max; ++i) append(out, once_or_not);
  return out;
}

// Instructions repeat(e, min, max) emits for an e of `size` instructions.
uint64_t repeat_size(uint64_t size, uint64_t min, uint64_t max) {
  if (max == kUnbounded) return min == 0 ? size + 2 : min * size + 1;
  return min * size + (max - min) * (size + 1);
}

// a|b|c: split(a, next); a; jump out; split(b, next); b; jump out; c.
Code alternation(std::vector<Code>& alternatives) {
  if (alternatives.size() == 1) return std::move(alternatives.front());
  Code out;
  std::vector<size_t> jumps;
  for (size_t i = 0; i < alternatives.size(); ++i) {
    bool last = i + 1 == alternatives.size();
    size_t split = out.size();
    if (!last) out.push_back({Op::kSplit, size_of(out) + 1, 0});
    append(out, alternatives[i]);
    if (last) break;
    jumps.push_back(out.size());
    out.push_back({Op::kJump, 0, 0});
    out[split].y = size_of(out);
  }
  for (size_t jump : jumps) out[jump].x = size_of(out);
  return out;
}

}  // namespace

struct Regex::Program {
  std::vector<Inst> insts;      // insts[0] starts; the last is kMatch
  std::vector<Ranges> classes;  // for kClass
  // The alphabet is cut into equivalence classes ("symbols") that no instruction or word test
  // tells apart: alphabet[k] is the least code point of symbol k, ascending from 0.
  std::vector<char32_t> alphabet;
  std::array<uint32_t, 128> ascii_symbol{};  // the symbol of each ASCII code point
  std::vector<uint8_t> symbol_is_word;
  // Which symbols each class holds: class_words bits per class, one per symbol. At most about
  // 512 classes × 2,100 symbols for a pattern of kRegexPatternBytesMax, so 140 KB.
  std::vector<uint64_t> class_symbols;
  size_t class_words = 0;

  uint32_t symbol(char32_t cp) const {
    if (cp < ascii_symbol.size()) return ascii_symbol[cp];
    auto after = std::upper_bound(alphabet.begin(), alphabet.end(), cp);
    return static_cast<uint32_t>(after - alphabet.begin() - 1);
  }
  // Whether `inst` consumes the code points of `symbol`, whose least is `least`.
  bool consumes(const Inst& inst, uint32_t symbol, char32_t least) const {
    if (inst.op == Op::kChar) return inst.x == least;  // a literal is a symbol of its own
    uint64_t word = class_symbols[inst.x * class_words + symbol / 64];
    return (word >> (symbol % 64)) & 1;
  }
};

namespace {

// Parses a pattern and emits its program in one pass, without recursion: each open group is a
// Frame on an explicit stack, so a deeply nested pattern cannot exhaust the native (or wasm)
// stack.
class Compiler {
 public:
  explicit Compiler(std::string_view source) : source_(source) {}
  Result<Regex::Program> run();

 private:
  struct Frame {
    std::vector<Code> alternatives;  // finished alternatives
    Code sequence;                   // the alternative being read, but for its last term
    Code atom;                       // the last term, kept apart so a quantifier can apply to it
    bool has_atom = false;
    bool quantifiable = false;
    size_t open_at = 0;  // byte offset of the group's '('
  };
  struct ClassAtom {
    Ranges ranges;
    bool is_set = false;  // a class escape such as \d, which cannot bound a range
  };

  Result<void> term();
  Result<void> open_group();
  Result<void> group_name(size_t at);
  Result<void> close_group();
  Result<void> quantifier();
  Result<void> char_class();
  Result<ClassAtom> class_atom();
  Result<void> escape();
  Result<char32_t> character_escape(size_t at);
  Result<char32_t> unicode_escape(size_t at);
  std::optional<uint64_t> count();
  std::optional<uint32_t> hex_digits(size_t n);

  Result<void> emit(Inst inst, bool quantifiable, size_t at);
  Result<void> emit_class(Ranges ranges, size_t at);
  Result<Code> close_frame();
  void flush();
  Result<void> grow(uint64_t instructions, size_t at);
  Regex::Program finish(Code code);

  Frame& top() { return frames_.back(); }
  bool next_is(char c, size_t ahead = 0) const {
    return pos_ + ahead < source_.size() && source_[pos_ + ahead] == c;
  }
  Error invalid(std::string_view what, size_t at) const {
    std::string message(what);
    message += " at byte ";
    message += std::to_string(at);
    return fail(ErrorCode::kInvalidArgument, std::move(message), "pattern");
  }

  std::string_view source_;
  size_t pos_ = 0;
  std::vector<Frame> frames_;
  std::vector<Ranges> classes_;
  std::vector<std::string> group_names_;
  std::optional<uint32_t> dot_class_;
  uint64_t live_ = 0;  // instructions held by all frames
};

Result<Regex::Program> Compiler::run() {
  if (source_.size() > kRegexPatternBytesMax) {
    return fail(ErrorCode::kPayloadTooLarge,
                "a pattern may be at most " + std::to_string(kRegexPatternBytesMax) + " bytes",
                "pattern");
  }
  frames_.emplace_back();
  while (pos_ < source_.size()) {
    if (auto done = term(); !done) return done.error();
  }
  if (frames_.size() > 1) return invalid("an unclosed group", top().open_at);
  auto code = close_frame();
  if (!code) return code.error();
  return finish(std::move(code).value());
}

Result<void> Compiler::term() {
  size_t at = pos_;
  switch (source_[pos_]) {
    case '|':
      ++pos_;
      flush();
      top().alternatives.push_back(std::move(top().sequence));
      top().sequence.clear();
      return {};
    case '(':
      return open_group();
    case ')':
      return close_group();
    case '*':
    case '+':
    case '?':
    case '{':
      return quantifier();
    case '}':
      return invalid("a lone '}'", at);
    case ']':
      return invalid("a lone ']'", at);
    case '^':
      ++pos_;
      return emit({Op::kAssert, kBegin, 0}, false, at);
    case '$':
      ++pos_;
      return emit({Op::kAssert, kEnd, 0}, false, at);
    case '.':
      ++pos_;
      if (!dot_class_) {
        dot_class_ = static_cast<uint32_t>(classes_.size());
        classes_.push_back(
            complement(Ranges(std::begin(kLineTerminatorRanges), std::end(kLineTerminatorRanges))));
      }
      return emit({Op::kClass, *dot_class_, 0}, true, at);
    case '[':
      return char_class();
    case '\\':
      return escape();
    default: {
      bool well_formed = true;
      char32_t cp = decode_utf8(source_, pos_, well_formed);
      if (!well_formed) return invalid("a byte that is not UTF-8", at);
      return emit({Op::kChar, cp, 0}, true, at);
    }
  }
}

Result<void> Compiler::open_group() {
  size_t at = pos_++;
  if (next_is('?')) {
    if (next_is(':', 1)) {
      pos_ += 2;
    } else if (next_is('=', 1) || next_is('!', 1)) {
      return invalid("lookahead is not supported", at);
    } else if (next_is('<', 1) && (next_is('=', 2) || next_is('!', 2))) {
      return invalid("lookbehind is not supported", at);
    } else if (next_is('<', 1)) {
      pos_ += 2;
      if (auto named = group_name(at); !named) return named;
    } else {
      return invalid("an unknown kind of group", at);
    }
  }
  frames_.emplace_back();
  top().open_at = at;
  return {};
}

// Reads "name>" after "(?<". Capture groups capture nothing here; the name is checked only so
// that what RegExp refuses is refused.
Result<void> Compiler::group_name(size_t at) {
  std::string name;
  while (pos_ < source_.size() && source_[pos_] != '>') {
    char c = source_[pos_];
    bool allowed = is_ascii_letter(c) || c == '_' || c == '$' || (!name.empty() && is_digit(c));
    if (!allowed && (static_cast<unsigned char>(c) >= 0x80 || c == '\\')) {
      return invalid("a group name outside [A-Za-z0-9_$] is not supported", at);
    }
    if (!allowed) return invalid("an invalid group name", at);
    name += c;
    ++pos_;
  }
  if (pos_ >= source_.size() || name.empty()) return invalid("an invalid group name", at);
  ++pos_;
  if (std::find(group_names_.begin(), group_names_.end(), name) != group_names_.end()) {
    return invalid("a duplicate group name", at);
  }
  group_names_.push_back(std::move(name));
  return {};
}

Result<void> Compiler::close_group() {
  if (frames_.size() == 1) return invalid("an unmatched ')'", pos_);
  ++pos_;
  auto code = close_frame();
  if (!code) return code.error();
  frames_.pop_back();
  flush();
  top().atom = std::move(code).value();
  top().has_atom = true;
  top().quantifiable = true;
  return {};
}

Result<void> Compiler::quantifier() {
  size_t at = pos_;
  uint64_t min = 0, max = kUnbounded;
  char c = source_[pos_++];
  if (c == '+') {
    min = 1;
  } else if (c == '?') {
    max = 1;
  } else if (c == '{') {
    auto low = count();
    if (!low) return invalid("an incomplete quantifier", at);
    min = max = *low;
    if (next_is(',')) {
      ++pos_;
      max = kUnbounded;
      if (!next_is('}')) {
        auto high = count();
        if (!high) return invalid("an incomplete quantifier", at);
        max = *high;
      }
    }
    if (!next_is('}')) return invalid("an incomplete quantifier", at);
    ++pos_;
    if (min > max) return invalid("numbers out of order in a {} quantifier", at);
  }
  if (next_is('?')) ++pos_;  // lazy: it matches the same strings
  Frame& frame = top();
  if (!frame.has_atom || !frame.quantifiable) return invalid("nothing to repeat", at);
  frame.quantifiable = false;
  uint64_t size = frame.atom.size();
  if (size == 0) return {};  // an empty group repeated is still empty
  uint64_t expanded = repeat_size(size, min, max);
  if (expanded > size) {
    if (auto grown = grow(expanded - size, at); !grown) return grown;
  } else {
    live_ -= size - expanded;
  }
  frame.atom = repeat(frame.atom, min, max);
  return {};
}

Result<void> Compiler::char_class() {
  size_t open = pos_++;
  bool negated = next_is('^');
  if (negated) ++pos_;
  Ranges ranges;
  while (!next_is(']')) {
    if (pos_ >= source_.size()) return invalid("an unclosed character class", open);
    size_t first_at = pos_;
    auto first = class_atom();
    if (!first) return first.error();
    if (next_is('-') && pos_ + 1 < source_.size() && !next_is(']', 1)) {
      ++pos_;
      auto last = class_atom();
      if (!last) return last.error();
      if (first.value().is_set || last.value().is_set) {
        return invalid("a class escape cannot bound a range", first_at);
      }
      char32_t low = first.value().ranges[0].first, high = last.value().ranges[0].first;
      if (low > high) return invalid("a range out of order in a character class", first_at);
      ranges.emplace_back(low, high);
    } else {
      ranges.insert(ranges.end(), first.value().ranges.begin(), first.value().ranges.end());
    }
  }
  ++pos_;
  normalize(ranges);
  if (negated) ranges = complement(ranges);
  return emit_class(std::move(ranges), open);
}

Result<Compiler::ClassAtom> Compiler::class_atom() {
  size_t at = pos_;
  if (!next_is('\\')) {
    bool well_formed = true;
    char32_t cp = decode_utf8(source_, pos_, well_formed);
    if (!well_formed) return invalid("a byte that is not UTF-8", at);
    return ClassAtom{{{cp, cp}}, false};
  }
  ++pos_;
  if (pos_ >= source_.size()) return invalid("a '\\' at the end of the pattern", at);
  char c = source_[pos_];
  if (c == 'b' || c == '-') {
    ++pos_;
    char32_t cp = c == 'b' ? 0x08 : '-';  // in a class, \b is backspace
    return ClassAtom{{{cp, cp}}, false};
  }
  if (auto set = class_escape(c)) {
    ++pos_;
    return ClassAtom{std::move(*set), true};
  }
  if (c == 'p' || c == 'P') return invalid("a Unicode property escape is not supported", at);
  auto cp = character_escape(at);
  if (!cp) return cp.error();
  return ClassAtom{{{cp.value(), cp.value()}}, false};
}

Result<void> Compiler::escape() {
  size_t at = pos_++;
  if (pos_ >= source_.size()) return invalid("a '\\' at the end of the pattern", at);
  char c = source_[pos_];
  if (c == 'b' || c == 'B') {
    ++pos_;
    return emit({Op::kAssert, c == 'b' ? kWordBoundary : kNotWordBoundary, 0}, false, at);
  }
  if (auto set = class_escape(c)) {
    ++pos_;
    return emit_class(std::move(*set), at);
  }
  if (c >= '1' && c <= '9') return invalid("a backreference is not supported", at);
  if (c == 'k') return invalid("a named backreference is not supported", at);
  if (c == 'p' || c == 'P') return invalid("a Unicode property escape is not supported", at);
  auto cp = character_escape(at);
  if (!cp) return cp.error();
  return emit({Op::kChar, cp.value(), 0}, true, at);
}

// The escapes that mean one code point, read after the '\' at `at`.
Result<char32_t> Compiler::character_escape(size_t at) {
  char c = source_[pos_++];
  switch (c) {
    case 'f':
      return char32_t{0x0C};
    case 'n':
      return char32_t{0x0A};
    case 'r':
      return char32_t{0x0D};
    case 't':
      return char32_t{0x09};
    case 'v':
      return char32_t{0x0B};
    case 'c':
      if (pos_ < source_.size() && is_ascii_letter(source_[pos_])) {
        return static_cast<char32_t>(source_[pos_++] % 32);
      }
      return invalid("an invalid \\c escape", at);
    case '0':
      if (pos_ < source_.size() && is_digit(source_[pos_])) {
        return invalid("an octal escape (not allowed with the u flag)", at);
      }
      return char32_t{0};
    case 'x': {
      auto value = hex_digits(2);
      if (!value) return invalid("an invalid \\x escape", at);
      return char32_t{*value};
    }
    case 'u':
      return unicode_escape(at);
    default:
      break;
  }
  // With the u flag, only syntax characters and '/' may be escaped to stand for themselves.
  constexpr std::string_view kSyntaxCharacters = "^$\\.*+?()[]{}|/";
  if (kSyntaxCharacters.find(c) != std::string_view::npos) return static_cast<char32_t>(c);
  return invalid("an unknown escape", at);
}

Result<char32_t> Compiler::unicode_escape(size_t at) {
  if (next_is('{')) {
    ++pos_;
    uint32_t value = 0;
    size_t digits = 0;
    for (; pos_ < source_.size() && hex_value(source_[pos_]) >= 0; ++pos_, ++digits) {
      value = value * 16 + static_cast<uint32_t>(hex_value(source_[pos_]));
      if (value > kCodePointMax) return invalid("a \\u{...} escape past U+10FFFF", at);
    }
    if (digits == 0 || !next_is('}')) return invalid("an invalid \\u{...} escape", at);
    ++pos_;
    return char32_t{value};
  }
  auto lead = hex_digits(4);
  if (!lead) return invalid("an invalid \\u escape", at);
  // With the u flag, "\uD83D\uDE00" is one code point, U+1F600.
  if (*lead >= 0xD800 && *lead <= 0xDBFF && next_is('\\') && next_is('u', 1)) {
    size_t resume = pos_;
    pos_ += 2;
    auto trail = hex_digits(4);
    if (trail && *trail >= 0xDC00 && *trail <= 0xDFFF) {
      return char32_t{0x10000 + ((*lead - 0xD800) << 10) + (*trail - 0xDC00)};
    }
    pos_ = resume;
  }
  return char32_t{*lead};
}

std::optional<uint64_t> Compiler::count() {
  if (pos_ >= source_.size() || !is_digit(source_[pos_])) return std::nullopt;
  uint64_t value = 0;
  for (; pos_ < source_.size() && is_digit(source_[pos_]); ++pos_) {
    value = std::min(kCountSaturated, value * 10 + static_cast<uint64_t>(source_[pos_] - '0'));
  }
  return value;
}

std::optional<uint32_t> Compiler::hex_digits(size_t n) {
  if (pos_ + n > source_.size()) return std::nullopt;
  uint32_t value = 0;
  for (size_t k = 0; k < n; ++k) {
    int digit = hex_value(source_[pos_ + k]);
    if (digit < 0) return std::nullopt;
    value = value * 16 + static_cast<uint32_t>(digit);
  }
  pos_ += n;
  return value;
}

Result<void> Compiler::emit(Inst inst, bool quantifiable, size_t at) {
  if (auto grown = grow(1, at); !grown) return grown;
  flush();
  Frame& frame = top();
  frame.atom.assign(1, inst);
  frame.has_atom = true;
  frame.quantifiable = quantifiable;
  return {};
}

Result<void> Compiler::emit_class(Ranges ranges, size_t at) {
  classes_.push_back(std::move(ranges));
  return emit({Op::kClass, static_cast<uint32_t>(classes_.size() - 1), 0}, true, at);
}

// Ends the innermost group (or the whole pattern) and returns its code.
Result<Code> Compiler::close_frame() {
  flush();
  Frame& frame = top();
  frame.alternatives.push_back(std::move(frame.sequence));
  if (auto grown = grow(2 * (frame.alternatives.size() - 1), frame.open_at); !grown) {
    return grown.error();
  }
  return alternation(frame.alternatives);
}

void Compiler::flush() {
  Frame& frame = top();
  if (!frame.has_atom) return;
  append(frame.sequence, frame.atom);
  frame.atom.clear();
  frame.has_atom = false;
}

Result<void> Compiler::grow(uint64_t instructions, size_t at) {
  if (live_ + instructions + 1 > kRegexProgramSizeMax) {  // + 1: the final match
    return fail(ErrorCode::kPayloadTooLarge,
                "the pattern compiles to more than " + std::to_string(kRegexProgramSizeMax) +
                    " instructions (counted repetition copies what it repeats), at byte " +
                    std::to_string(at),
                "pattern");
  }
  live_ += instructions;
  return {};
}

Regex::Program Compiler::finish(Code code) {
  Regex::Program program;
  program.insts = std::move(code);
  program.insts.push_back({Op::kMatch, 0, 0});
  program.classes = std::move(classes_);
  std::vector<char32_t> cuts = {0};
  auto cut = [&](char32_t low, char32_t high) {
    cuts.push_back(low);
    if (high < kCodePointMax) cuts.push_back(high + 1);
  };
  for (const Inst& inst : program.insts) {
    if (inst.op == Op::kChar) cut(inst.x, inst.x);
  }
  for (const Ranges& ranges : program.classes) {
    for (const auto& [low, high] : ranges) cut(low, high);
  }
  for (const auto& [low, high] : kWordRanges) cut(low, high);  // for \b and \B
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  program.alphabet = std::move(cuts);
  for (char32_t cp = 0; cp < program.ascii_symbol.size(); ++cp) {
    auto after = std::upper_bound(program.alphabet.begin(), program.alphabet.end(), cp);
    program.ascii_symbol[cp] = static_cast<uint32_t>(after - program.alphabet.begin() - 1);
  }
  for (char32_t least : program.alphabet) program.symbol_is_word.push_back(is_word(least));
  program.class_words = (program.alphabet.size() + 63) / 64;
  program.class_symbols.assign(program.classes.size() * program.class_words, 0);
  for (size_t c = 0; c < program.classes.size(); ++c) {
    for (size_t symbol = 0; symbol < program.alphabet.size(); ++symbol) {
      if (!in_ranges(program.classes[c], program.alphabet[symbol])) continue;
      program.class_symbols[c * program.class_words + symbol / 64] |= uint64_t{1} << (symbol % 64);
    }
  }
  return program;
}

}  // namespace

// The lazy DFA of one RegexSearcher. A state is a key: flags for what assertions need to know about
// the position (nothing read yet; the last code point was a word character), then the kernel, the
// sorted instructions that consuming the last code point led to. A transition on a symbol walks
// the NFA from the kernel and from the start (the search is unanchored), deciding assertions
// with the symbol as the next code point, then consumes the symbol.
//
// States live back to back in flat arrays, found through an open-addressing hash table, so the
// cache's memory is counted exactly and building a state allocates nothing once warm.
class RegexDfa {
 public:
  explicit RegexDfa(const Regex::Program& program)
      : program_(program),
        symbols_(program.alphabet.size()),
        mark_(program.insts.size(), 0),
        next_bits_((program.insts.size() + 63) / 64, 0) {
    reset();
  }

  RegexSearch run(std::string_view subject, uint64_t steps_max);

 private:
  static constexpr int32_t kUnknown = -1;
  static constexpr int32_t kMatched = -2;
  static constexpr uint32_t kAtStart = 1;
  static constexpr uint32_t kAfterWord = 2;
  static constexpr size_t kTableSlotsMin = 64;

  struct Context {
    bool at_start, at_end, after_word, before_word;
  };
  struct Span {
    const uint32_t* begin;
    const uint32_t* end;
  };

  bool closure(Span kernel, const Context& context, uint64_t& steps);
  int32_t transition(int32_t state, uint32_t symbol, uint64_t& steps);
  int32_t intern(const std::vector<uint32_t>& key);
  void reset();
  void place(int32_t state);
  Span key_of(int32_t state) const {
    return {pool_.data() + begins_[state], pool_.data() + begins_[state + 1]};
  }
  Span kernel_of(int32_t state) const { return {key_of(state).begin + 1, key_of(state).end}; }
  Context context_of(int32_t state, bool at_end, bool before_word) const {
    uint32_t flags = *key_of(state).begin;
    return {(flags & kAtStart) != 0, at_end, (flags & kAfterWord) != 0, before_word};
  }
  int32_t& row(int32_t state, uint32_t symbol) {
    return rows_[static_cast<size_t>(state) * symbols_ + symbol];
  }
  static uint64_t hash(const uint32_t* begin, const uint32_t* end) {
    uint64_t h = 1469598103934665603u;  // FNV-1a
    for (; begin != end; ++begin) h = (h ^ *begin) * 1099511628211u;
    return h;
  }

  const Regex::Program& program_;
  size_t symbols_;
  std::vector<uint32_t> pool_;    // every state's key, back to back
  std::vector<uint32_t> begins_;  // where each state's key starts in pool_, then pool_.size()
  std::vector<int32_t> rows_;     // symbols_ transitions per state
  std::vector<int32_t> table_;    // hash slots: a state, or kUnknown; a power of two in size
  uint64_t resets_ = 0;
  std::vector<uint32_t> mark_;  // the closure that last visited each instruction
  uint32_t stamp_ = 0;
  std::vector<uint32_t> stack_;
  std::vector<uint32_t> consuming_;
  std::vector<uint64_t> next_bits_;  // the next kernel, as a bitmap over instructions
  std::vector<uint32_t> next_;
};

RegexSearch RegexDfa::run(std::string_view subject, uint64_t steps_max) {
  RegexSearch out;
  int32_t state = intern({kAtStart});
  for (size_t i = 0; i < subject.size();) {
    if (out.steps > steps_max) return out;
    bool well_formed = true;  // ill-formed bytes read as U+FFFD, which is all a search needs
    char32_t cp = decode_utf8(subject, i, well_formed);
    uint32_t symbol = program_.symbol(cp);
    ++out.steps;
    int32_t next = row(state, symbol);
    if (next == kUnknown) {
      uint64_t resets = resets_;
      next = transition(state, symbol, out.steps);
      if (resets == resets_) row(state, symbol) = next;  // else `state` was emptied out
    }
    if (next == kMatched) {
      out.matched = true;
      return out;
    }
    state = next;
  }
  if (out.steps > steps_max) return out;
  out.matched = closure(kernel_of(state), context_of(state, true, false), out.steps);
  return out;
}

// Walks from the kernel and the start through splits, jumps and the assertions that hold; true
// if that reaches the match, otherwise consuming_ lists the consuming instructions reached.
bool RegexDfa::closure(Span kernel, const Context& context, uint64_t& steps) {
  if (++stamp_ == 0) {  // wrapped: forget every old visit
    std::fill(mark_.begin(), mark_.end(), 0);
    stamp_ = 1;
  }
  consuming_.clear();
  stack_.assign(kernel.begin, kernel.end);
  stack_.push_back(0);
  while (!stack_.empty()) {
    uint32_t pc = stack_.back();
    stack_.pop_back();
    if (mark_[pc] == stamp_) continue;
    mark_[pc] = stamp_;
    ++steps;
    const Inst& inst = program_.insts[pc];
    switch (inst.op) {
      case Op::kChar:
      case Op::kClass:
        consuming_.push_back(pc);
        break;
      case Op::kSplit:
        stack_.push_back(inst.y);
        stack_.push_back(inst.x);
        break;
      case Op::kJump:
        stack_.push_back(inst.x);
        break;
      case Op::kAssert: {
        bool holds = inst.x == kBegin          ? context.at_start
                     : inst.x == kEnd          ? context.at_end
                     : inst.x == kWordBoundary ? context.after_word != context.before_word
                                               : context.after_word == context.before_word;
        if (holds) stack_.push_back(pc + 1);
        break;
      }
      case Op::kMatch:
        return true;
    }
  }
  return false;
}

int32_t RegexDfa::transition(int32_t state, uint32_t symbol, uint64_t& steps) {
  bool word = program_.symbol_is_word[symbol] != 0;
  if (closure(kernel_of(state), context_of(state, false, word), steps)) return kMatched;
  char32_t cp = program_.alphabet[symbol];  // every code point of the symbol behaves alike
  // The kernel goes through a bitmap to come out sorted, a canonical key, in O(program / 64 + k).
  for (uint32_t pc : consuming_) {
    if (!program_.consumes(program_.insts[pc], symbol, cp)) continue;
    next_bits_[(pc + 1) / 64] |= uint64_t{1} << ((pc + 1) % 64);
  }
  next_.assign(1, word ? kAfterWord : 0);
  for (size_t w = 0; w < next_bits_.size(); ++w) {
    for (uint64_t bits = next_bits_[w]; bits != 0; bits &= bits - 1) {
      next_.push_back(static_cast<uint32_t>(w * 64 + static_cast<size_t>(std::countr_zero(bits))));
    }
    next_bits_[w] = 0;
  }
  return intern(next_);
}

int32_t RegexDfa::intern(const std::vector<uint32_t>& key) {
  size_t mask = table_.size() - 1;
  for (size_t slot = hash(key.data(), key.data() + key.size()) & mask;; slot = (slot + 1) & mask) {
    int32_t found = table_[slot];
    if (found == kUnknown) break;
    Span other = key_of(found);
    if (std::equal(key.begin(), key.end(), other.begin, other.end)) return found;
  }
  // The cache with this state added: keys, offsets, transitions and hash slots.
  size_t states = begins_.size();
  size_t slots = 2 * (states + 1) > table_.size() ? 2 * table_.size() : table_.size();
  size_t bytes = (pool_.size() + key.size() + states + 1) * sizeof(uint32_t) +
                 (states * symbols_ + slots) * sizeof(int32_t);
  if (bytes > kRegexDfaCacheBytesMax) reset();
  auto state = static_cast<int32_t>(begins_.size() - 1);
  pool_.insert(pool_.end(), key.begin(), key.end());
  begins_.push_back(static_cast<uint32_t>(pool_.size()));
  rows_.resize(rows_.size() + symbols_, kUnknown);
  if (2 * begins_.size() > table_.size()) {  // keep the table at most half full
    table_.assign(2 * table_.size(), kUnknown);
    for (int32_t s = 0; s <= state; ++s) place(s);
  } else {
    place(state);
  }
  return state;
}

void RegexDfa::place(int32_t state) {
  size_t mask = table_.size() - 1;
  Span key = key_of(state);
  size_t slot = hash(key.begin, key.end) & mask;
  while (table_[slot] != kUnknown) slot = (slot + 1) & mask;
  table_[slot] = state;
}

// Empties the cache; states built from here on start again at 0.
void RegexDfa::reset() {
  pool_.clear();
  begins_.assign(1, 0);
  rows_.clear();
  table_.assign(kTableSlotsMin, kUnknown);
  ++resets_;
}

Result<Regex> Regex::compile(std::string_view pattern) {
  auto program = Compiler(pattern).run();
  if (!program) return program.error();
  return Regex(std::make_shared<const Program>(std::move(program).value()));
}

bool Regex::search(std::string_view subject) const {
  return search(subject, kRegexStepsUnlimited).matched.value_or(false);
}

RegexSearch Regex::search(std::string_view subject, uint64_t steps_max) const {
  return RegexSearcher(*this).search(subject, steps_max);
}

size_t Regex::program_size() const { return program_->insts.size(); }

RegexSearcher::RegexSearcher(const Regex& regex)
    : program_(regex.program_), dfa_(std::make_unique<RegexDfa>(*program_)) {}

RegexSearcher::~RegexSearcher() = default;
RegexSearcher::RegexSearcher(RegexSearcher&&) noexcept = default;
RegexSearcher& RegexSearcher::operator=(RegexSearcher&&) noexcept = default;

RegexSearch RegexSearcher::search(std::string_view subject, uint64_t steps_max) {
  return dfa_->run(subject, steps_max);
}

}  // namespace tollgate::structured
