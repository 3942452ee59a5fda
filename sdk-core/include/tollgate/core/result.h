// Result<T>: either a value or an Error. The core returns these instead of throwing.
//
// Reading value() of a failed Result (or error() of a successful one) is a programming error and
// aborts; check ok() first. [[nodiscard]] makes an ignored Result a compile warning.
#pragma once

#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

#include "tollgate/core/error.h"

namespace tollgate {

// Builds an Error in one expression: `return fail(ErrorCode::kOverflow, "…", "amount");`.
inline Error fail(ErrorCode code, std::string message, std::string param = {}) {
  return Error{code, std::move(message), std::move(param)};
}

// Aborts on a broken precondition; reading the wrong side of a Result is a bug, not an input error.
inline void require(bool condition) {
  if (!condition) std::abort();
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value)
      : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  const T& value() const& { return require(ok()), std::get<0>(state_); }
  T& value() & { return require(ok()), std::get<0>(state_); }
  T&& value() && { return require(ok()), std::get<0>(std::move(state_)); }
  const Error& error() const { return require(!ok()), std::get<1>(state_); }

 private:
  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), failed_(true) {}  // NOLINT: implicit by design

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return require(failed_), error_; }

 private:
  Error error_;
  bool failed_ = false;
};

}  // namespace tollgate
