// Money: strong int64 amounts of credits and of USD micros (millionths of a dollar).
//
// Every operation is checked: overflow is an Error, never a wrapped value. Conversions between
// credits and micros round up, so a charge is never under-counted. There is no floating point.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tollgate/core/result.h"

namespace tollgate::money {

// An int64 amount tagged with its unit so credits and micros cannot be mixed by accident.
template <typename Unit>
class Amount {
 public:
  constexpr Amount() = default;
  constexpr explicit Amount(int64_t value) : value_(value) {}
  constexpr int64_t value() const { return value_; }
  friend constexpr auto operator<=>(Amount, Amount) = default;

 private:
  int64_t value_ = 0;
};

struct CreditsUnit {};
struct MicrosUnit {};
using Credits = Amount<CreditsUnit>;  // whole credits, the unit end users spend
using Micros = Amount<MicrosUnit>;    // USD * 1,000,000

inline constexpr int64_t kMicrosPerUsd = 1'000'000;

// Checked arithmetic; kOverflow when the exact result does not fit in int64.
template <typename Unit>
Result<Amount<Unit>> add(Amount<Unit> a, Amount<Unit> b);
template <typename Unit>
Result<Amount<Unit>> sub(Amount<Unit> a, Amount<Unit> b);
template <typename Unit>
Result<Amount<Unit>> mul(Amount<Unit> a, int64_t factor);

// An exchange rate: `credits` credits are worth `micros` micros. Both must be positive.
struct Rate {
  Credits credits{1};
  Micros micros{1};
};

// Converts a non-negative amount, rounding up to the next whole unit.
// kInvalidArgument for a negative amount or a non-positive rate; kOverflow when out of range.
Result<Micros> to_micros(Credits amount, Rate rate);
Result<Credits> to_credits(Micros amount, Rate rate);

// "1.50", "0.000001", "-2.00": at least two decimals, at most six, no trailing zeros past two.
std::string format_usd(Micros amount);

// Parses a plain decimal USD string ("12", "-0.5", "3.141592") exactly into micros.
// kInvalidArgument for anything else (exponents, spaces, '+', more than six decimals).
Result<Micros> parse_usd(std::string_view text);

// ---- Currencies: micros of any currency as Stripe's minor units ---------------------------------

// A currency code as Stripe takes it: three lower-case ASCII letters ("usd", "jpy").
bool valid_currency(std::string_view currency);

// The decimals of `currency`'s minor unit as Stripe counts them: 0 for zero-decimal currencies
// (jpy, krw, …), 3 for bhd, jod, kwd, omr and tnd, 2 otherwise. -1 for an invalid code.
int minor_unit_decimals(std::string_view currency);

// A price in micros (millionths) of `currency` as Stripe's integer minor units, exactly:
// 1'990'000 micros of usd is 199 cents. kInvalidArgument (param "currency") for an invalid
// code, and (param "priceMicros") for a negative amount or one that is not a whole number of
// minor units: a fraction of a cent, decimals in a zero-decimal currency, a three-decimal
// amount whose last digit is not 0, or isk that is not whole krónur (Stripe's rules).
Result<int64_t> to_minor_units(Micros amount, std::string_view currency);
// Minor units back to micros; kOverflow when they do not fit.
Result<Micros> from_minor_units(int64_t minor_units, std::string_view currency);

// Parses a base-10 int64 ("-42") exactly; kInvalidArgument or kOverflow otherwise.
Result<int64_t> parse_int64(std::string_view text);

}  // namespace tollgate::money
