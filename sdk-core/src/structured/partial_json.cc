#include "tollgate/structured/partial_json.h"

namespace tollgate::structured {

using nlohmann::json;

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A byte that a string takes as is: printable ASCII other than the quote and the backslash.
bool is_plain(char c) {
  auto byte = static_cast<unsigned char>(c);
  return byte >= 0x20 && byte < 0x80 && c != '"' && c != '\\';
}

}  // namespace

Error PartialJsonParser::syntax(std::string_view what) const {
  std::string message = "invalid JSON at byte ";
  message += std::to_string(offset_);
  message += ": ";
  message += what;
  return fail(ErrorCode::kJsonSyntax, std::move(message));
}

Result<void> PartialJsonParser::feed(std::string_view chunk) {
  if (state_ == State::kFailed) return syntax("the stream failed earlier");
  if (chunk.size() > kJsonStreamBytesMax - offset_) {
    state_ = State::kFailed;
    return fail(ErrorCode::kPayloadTooLarge,
                "a JSON stream may be at most " + std::to_string(kJsonStreamBytesMax) + " bytes");
  }
  size_t i = 0;
  while (i < chunk.size()) {
    // Runs of plain string bytes are appended in one go.
    if ((state_ == State::kString || state_ == State::kKey) && !escaped_ && hex_digits_left_ == 0 &&
        utf8_left_ == 0 && !want_low_surrogate_ && is_plain(chunk[i])) {
      size_t end = i + 1;
      while (end < chunk.size() && is_plain(chunk[end])) ++end;
      text().append(chunk.data() + i, end - i);
      offset_ += end - i;
      i = end;
      continue;
    }
    auto consumed = step(chunk[i]);
    if (!consumed) {
      state_ = State::kFailed;
      return consumed.error();
    }
    if (consumed.value()) {
      ++i;
      ++offset_;
    }
  }
  return {};
}

Result<json> PartialJsonParser::finish() {
  if (state_ == State::kFailed) return syntax("the stream failed earlier");
  if (state_ == State::kNumber && stack_.empty()) {
    if (auto ended = end_number(); !ended) {
      state_ = State::kFailed;
      return ended.error();
    }
  }
  if (state_ != State::kDone) {
    Error error = syntax(offset_ == 0 ? "the document is empty" : "the document ended early");
    state_ = State::kFailed;
    return error;
  }
  return root_;
}

// Handles one byte; the result says whether it was consumed (a number's end is not: the byte
// after it is read again in the next state).
Result<bool> PartialJsonParser::step(char c) {
  switch (state_) {
    case State::kValue:
      if (is_space(c)) return true;
      return start_value(c);
    case State::kArrayFirst:
      if (is_space(c)) return true;
      if (c == ']') return close_container();
      return start_value(c);
    case State::kObjectFirst:
    case State::kObjectKey:
      if (is_space(c)) return true;
      if (c == '}' && state_ == State::kObjectFirst) return close_container();
      if (c != '"') return syntax("expected an object key in double quotes");
      key_.clear();
      state_ = State::kKey;
      return true;
    case State::kKey:
    case State::kString:
      return string_byte(c);
    case State::kColon:
      if (is_space(c)) return true;
      if (c != ':') return syntax("expected ':' after an object key");
      state_ = State::kValue;
      return true;
    case State::kNumber:
      return number_byte(c);
    case State::kLiteral:
      if (c != literal_[literal_matched_]) {
        std::string what = "expected '";
        what += literal_;
        what += "'";
        return syntax(what);
      }
      if (++literal_matched_ < literal_.size()) return true;
      if (auto inserted = insert(literal_ == "null" ? json(nullptr) : json(literal_ == "true"));
          !inserted) {
        return inserted.error();
      }
      value_done();
      return true;
    case State::kAfterValue:
      return after_value(c);
    case State::kDone:
      if (is_space(c)) return true;
      return syntax("unexpected data after the value");
    case State::kFailed:
      break;
  }
  return syntax("the stream failed earlier");
}

Result<bool> PartialJsonParser::start_value(char c) {
  switch (c) {
    case '{':
      return open_container(json::object(), State::kObjectFirst);
    case '[':
      return open_container(json::array(), State::kArrayFirst);
    case '"': {
      auto inserted = insert(json(std::string()));
      if (!inserted) return inserted.error();
      string_ = &inserted.value()->get_ref<std::string&>();
      state_ = State::kString;
      return true;
    }
    case 't':
    case 'f':
    case 'n':
      literal_ = c == 't' ? "true" : c == 'f' ? "false" : "null";
      literal_matched_ = 1;
      state_ = State::kLiteral;
      return true;
    default:
      break;
  }
  if (c != '-' && !is_digit(c)) return syntax("expected a value");
  number_.assign(1, c);
  number_part_ = c == '-' ? NumberPart::kSign : c == '0' ? NumberPart::kZero : NumberPart::kInt;
  state_ = State::kNumber;
  return true;
}

Result<bool> PartialJsonParser::string_byte(char c) {
  if (escaped_ || hex_digits_left_ > 0) return escape_byte(c);
  auto byte = static_cast<unsigned char>(c);
  if (utf8_left_ > 0) return utf8_byte(byte);
  if (want_low_surrogate_ && c != '\\') {
    return syntax("a \\uD800-\\uDBFF escape must be followed by a \\uDC00-\\uDFFF escape");
  }
  if (c == '"') return end_string();
  if (c == '\\') {
    escaped_ = true;
    return true;
  }
  if (byte < 0x20) return syntax("a control character must be escaped inside a string");
  if (byte < 0x80) {
    text() += c;
    return true;
  }
  // The lead byte of a UTF-8 sequence: how many continuation bytes follow.
  if (byte >= 0xC2 && byte <= 0xDF) {
    utf8_left_ = 1, utf8_code_point_ = byte & 0x1F, utf8_min_ = 0x80;
  } else if (byte >= 0xE0 && byte <= 0xEF) {
    utf8_left_ = 2, utf8_code_point_ = byte & 0x0F, utf8_min_ = 0x800;
  } else if (byte >= 0xF0 && byte <= 0xF4) {
    utf8_left_ = 3, utf8_code_point_ = byte & 0x07, utf8_min_ = 0x10000;
  } else {
    return syntax("invalid UTF-8");
  }
  utf8_pending_.assign(1, c);
  return true;
}

// Whole characters only reach the value, so value() is valid UTF-8 at every moment.
Result<bool> PartialJsonParser::utf8_byte(unsigned char byte) {
  if ((byte & 0xC0) != 0x80) return syntax("invalid UTF-8");
  utf8_code_point_ = (utf8_code_point_ << 6) | (byte & 0x3F);
  utf8_pending_ += static_cast<char>(byte);
  if (--utf8_left_ > 0) return true;
  bool surrogate = utf8_code_point_ >= 0xD800 && utf8_code_point_ <= 0xDFFF;
  if (utf8_code_point_ < utf8_min_ || utf8_code_point_ > 0x10FFFF || surrogate) {
    return syntax("invalid UTF-8");
  }
  text() += utf8_pending_;
  return true;
}

Result<bool> PartialJsonParser::escape_byte(char c) {
  if (hex_digits_left_ > 0) {
    int digit = hex_digit(c);
    if (digit < 0) return syntax("a \\u escape needs four hex digits");
    hex_value_ = hex_value_ * 16 + static_cast<uint32_t>(digit);
    if (--hex_digits_left_ > 0) return true;
    bool high = hex_value_ >= 0xD800 && hex_value_ <= 0xDBFF;
    bool low = hex_value_ >= 0xDC00 && hex_value_ <= 0xDFFF;
    if (want_low_surrogate_) {
      if (!low) return syntax("a \\uD800-\\uDBFF escape must be followed by a \\uDC00-\\uDFFF escape");
      want_low_surrogate_ = false;
      append_code_point(0x10000 + ((high_surrogate_ - 0xD800) << 10) + (hex_value_ - 0xDC00));
    } else if (high) {
      high_surrogate_ = hex_value_;
      want_low_surrogate_ = true;
    } else if (low) {
      return syntax("a \\uDC00-\\uDFFF escape must follow a \\uD800-\\uDBFF escape");
    } else {
      append_code_point(hex_value_);
    }
    return true;
  }
  escaped_ = false;
  if (want_low_surrogate_ && c != 'u') {
    return syntax("a \\uD800-\\uDBFF escape must be followed by a \\uDC00-\\uDFFF escape");
  }
  switch (c) {
    case '"': text() += '"'; break;
    case '\\': text() += '\\'; break;
    case '/': text() += '/'; break;
    case 'b': text() += '\b'; break;
    case 'f': text() += '\f'; break;
    case 'n': text() += '\n'; break;
    case 'r': text() += '\r'; break;
    case 't': text() += '\t'; break;
    case 'u':
      hex_digits_left_ = 4;
      hex_value_ = 0;
      break;
    default:
      return syntax("invalid escape in a string");
  }
  return true;
}

void PartialJsonParser::append_code_point(uint32_t code_point) {
  std::string& out = text();
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code_point >> 18));
    out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
}

std::string& PartialJsonParser::text() { return state_ == State::kKey ? key_ : *string_; }

Result<bool> PartialJsonParser::end_string() {
  if (state_ == State::kKey) {
    state_ = State::kColon;
  } else {
    string_ = nullptr;
    value_done();
  }
  return true;
}

// RFC 8259: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
Result<bool> PartialJsonParser::number_byte(char c) {
  using enum NumberPart;
  bool digit = is_digit(c);
  bool exponent = c == 'e' || c == 'E';
  NumberPart next = number_part_;
  switch (number_part_) {
    case kSign:
      if (!digit) return syntax("expected a digit after '-'");
      next = c == '0' ? kZero : kInt;
      break;
    case kZero:
    case kInt:
    case kFrac:
      if (digit && number_part_ == kZero) return syntax("a number may not have a leading zero");
      if (c == '.' && number_part_ != kFrac) {
        next = kDot;
      } else if (exponent) {
        next = kExp;
      } else if (!digit) {
        if (auto ended = end_number(); !ended) return ended.error();
        return false;  // the delimiter is read again after the number
      }
      break;
    case kDot:
      if (!digit) return syntax("expected a digit after '.'");
      next = kFrac;
      break;
    case kExp:
      if (c == '+' || c == '-') {
        next = kExpSign;
        break;
      }
      [[fallthrough]];
    case kExpSign:
      if (!digit) return syntax("expected a digit in the exponent");
      next = kExpDigits;
      break;
    case kExpDigits:
      if (!digit) {
        if (auto ended = end_number(); !ended) return ended.error();
        return false;
      }
      break;
  }
  if (number_.size() >= kJsonNumberBytesMax) {
    return syntax("a number may be at most " + std::to_string(kJsonNumberBytesMax) + " characters");
  }
  number_ += c;
  number_part_ = next;
  return true;
}

Result<bool> PartialJsonParser::end_number() {
  using enum NumberPart;
  if (number_part_ != kZero && number_part_ != kInt && number_part_ != kFrac &&
      number_part_ != kExpDigits) {
    return syntax("a number ended early");
  }
  json number = json::parse(number_, nullptr, /*allow_exceptions=*/false);
  if (number.is_discarded() || !number.is_number()) return syntax("a number is out of range");
  if (auto inserted = insert(std::move(number)); !inserted) return inserted.error();
  value_done();
  return true;
}

Result<bool> PartialJsonParser::after_value(char c) {
  if (is_space(c)) return true;
  bool in_array = stack_.back()->is_array();
  if (c == ',') {
    state_ = in_array ? State::kValue : State::kObjectKey;
    return true;
  }
  if ((c == ']' && in_array) || (c == '}' && !in_array)) return close_container();
  return syntax(in_array ? "expected ',' or ']'" : "expected ',' or '}'");
}

// Places a new value: the root, the next element of the open array, or the open object's
// member named key_. The pointer stays valid while the value is open: only the innermost open
// container grows, and its elements are never on the stack while it does.
Result<json*> PartialJsonParser::insert(json value) {
  if (stack_.empty()) {
    root_ = std::move(value);
    return &root_;
  }
  json& container = *stack_.back();
  if (container.is_array()) {
    container.push_back(std::move(value));
    return &container.back();
  }
  json& slot = container[key_];
  slot = std::move(value);
  return &slot;
}

Result<bool> PartialJsonParser::open_container(json empty, State first) {
  if (stack_.size() >= kJsonDepthMax) {
    return syntax("nesting may be at most " + std::to_string(kJsonDepthMax) + " levels deep");
  }
  auto inserted = insert(std::move(empty));
  if (!inserted) return inserted.error();
  stack_.push_back(inserted.value());
  state_ = first;
  return true;
}

Result<bool> PartialJsonParser::close_container() {
  stack_.pop_back();
  value_done();
  return true;
}

void PartialJsonParser::value_done() {
  state_ = stack_.empty() ? State::kDone : State::kAfterValue;
}

}  // namespace tollgate::structured
