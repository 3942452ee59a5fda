// An incremental JSON parser for streamed model output: fed chunk by chunk, it keeps the value
// parsed so far, so a caller can show a partial object while tokens are still arriving.
//
// Each byte is examined once and the value is built in place (a string grows where it sits in the
// tree), so a whole stream costs O(n) however it is split; value() returns a reference, never a
// copy. The grammar is RFC 8259 strictly: no comments, no trailing commas, no leading zeros, no
// raw control characters in strings, valid UTF-8 only (overlong forms and surrogates refused),
// and \u escapes with paired surrogates. A later duplicate key replaces the earlier value.
// Objects are nlohmann::json objects, so members are kept in key order, not arrival order.
//
// What value() shows mid-stream:
// - every complete member and element;
// - a string as far as it has arrived (whole UTF-8 characters and whole escapes only);
// - an open object or array with what it holds so far;
// - not yet: an object key whose value has not started, or a number or true/false/null that
//   has not ended (a number ends at the next delimiter, or at finish() at the top level).
//
// Not thread-safe; one parser per stream. After an error the parser stays failed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tollgate/core/result.h"

namespace tollgate::structured {

inline constexpr size_t kJsonStreamBytesMax = size_t{8} << 20;  // a whole streamed document
inline constexpr size_t kJsonDepthMax = 64;                     // nested objects and arrays
inline constexpr size_t kJsonNumberBytesMax = 64;               // one number's text

class PartialJsonParser {
 public:
  PartialJsonParser() = default;

  // Consumes the next chunk (any split, even inside a character or an escape). kJsonSyntax
  // naming the byte offset for malformed input; kPayloadTooLarge past kJsonStreamBytesMax.
  Result<void> feed(std::string_view chunk);

  // Ends the stream: a top-level number is complete now. kJsonSyntax if the document is empty
  // or unfinished. Returns the whole value.
  Result<nlohmann::json> finish();

  // The value so far (null before anything has arrived). Valid until the next feed().
  const nlohmann::json& value() const { return root_; }

  // True once a whole top-level value has arrived (only whitespace may follow).
  bool complete() const { return state_ == State::kDone; }

  // Bytes consumed so far.
  size_t bytes() const { return offset_; }

 private:
  enum class State : uint8_t {
    kValue,        // a value must start here
    kArrayFirst,   // after '[': a value or ']'
    kObjectFirst,  // after '{': a key or '}'
    kObjectKey,    // after ',' in an object: a key
    kKey,          // inside a key string
    kColon,        // after a key: ':'
    kString,       // inside a string value
    kNumber,
    kLiteral,      // inside true, false or null
    kAfterValue,   // after a value inside a container: ',' or the closing bracket
    kDone,         // the top-level value is complete: only whitespace
    kFailed,
  };
  enum class NumberPart : uint8_t { kSign, kZero, kInt, kDot, kFrac, kExp, kExpSign, kExpDigits };

  Error syntax(std::string_view what) const;
  Result<bool> step(char c);
  Result<bool> start_value(char c);
  Result<bool> string_byte(char c);
  Result<bool> escape_byte(char c);
  Result<bool> utf8_byte(unsigned char byte);
  Result<bool> number_byte(char c);
  Result<bool> end_number();
  Result<bool> end_string();
  Result<bool> after_value(char c);
  Result<nlohmann::json*> insert(nlohmann::json value);
  Result<bool> open_container(nlohmann::json empty, State first);
  Result<bool> close_container();
  void value_done();
  void append_code_point(uint32_t code_point);
  std::string& text();  // the key or string value being read

  State state_ = State::kValue;
  nlohmann::json root_;
  std::vector<nlohmann::json*> stack_;  // open containers, innermost last
  std::string key_;                     // the object key being read, or the last complete one
  std::string* string_ = nullptr;       // the string value being read, inside root_
  size_t offset_ = 0;

  // Inside a string: an escape, a \uXXXX (and a pending high surrogate), a UTF-8 sequence.
  bool escaped_ = false;
  int hex_digits_left_ = 0;  // > 0 while reading \uXXXX
  uint32_t hex_value_ = 0;
  uint32_t high_surrogate_ = 0;  // a \uD800-\uDBFF waiting for its low half
  bool want_low_surrogate_ = false;  // the next thing must be \uDC00-\uDFFF
  int utf8_left_ = 0;                // continuation bytes still expected
  uint32_t utf8_code_point_ = 0;
  uint32_t utf8_min_ = 0;  // smallest code point the sequence's length may encode
  std::string utf8_pending_;

  std::string number_;
  NumberPart number_part_ = NumberPart::kSign;
  std::string_view literal_;  // "true", "false" or "null"
  size_t literal_matched_ = 0;
};

}  // namespace tollgate::structured
