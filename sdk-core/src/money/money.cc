#include "tollgate/money/money.h"

#include <limits>
#include <span>

namespace tollgate::money {
namespace {

// GCC and Clang (native and wasm32) both provide a 128-bit integer; __extension__ keeps
// -Wpedantic quiet about it.
__extension__ typedef __int128 Int128;

Error overflow(std::string_view what) {
  return fail(ErrorCode::kOverflow, std::string(what) + " does not fit in a signed 64-bit amount",
              "amount");
}

// ceil(amount * numerator / denominator) for amount >= 0 and positive numerator/denominator.
Result<int64_t> scale_round_up(int64_t amount, int64_t numerator, int64_t denominator) {
  if (amount < 0) return fail(ErrorCode::kInvalidArgument, "amount must not be negative", "amount");
  if (numerator <= 0 || denominator <= 0) {
    return fail(ErrorCode::kInvalidArgument, "rate credits and micros must be positive", "rate");
  }
  // 128-bit intermediate: the product of two int64 values always fits.
  Int128 product = static_cast<Int128>(amount) * numerator;
  Int128 quotient = product / denominator;
  if (product % denominator != 0) ++quotient;
  if (quotient > std::numeric_limits<int64_t>::max()) return overflow("converted amount");
  return static_cast<int64_t>(quotient);
}

}  // namespace

template <typename Unit>
Result<Amount<Unit>> add(Amount<Unit> a, Amount<Unit> b) {
  int64_t out = 0;
  if (__builtin_add_overflow(a.value(), b.value(), &out)) return overflow("sum");
  return Amount<Unit>(out);
}

template <typename Unit>
Result<Amount<Unit>> sub(Amount<Unit> a, Amount<Unit> b) {
  int64_t out = 0;
  if (__builtin_sub_overflow(a.value(), b.value(), &out)) return overflow("difference");
  return Amount<Unit>(out);
}

template <typename Unit>
Result<Amount<Unit>> mul(Amount<Unit> a, int64_t factor) {
  int64_t out = 0;
  if (__builtin_mul_overflow(a.value(), factor, &out)) return overflow("product");
  return Amount<Unit>(out);
}

template Result<Credits> add(Credits, Credits);
template Result<Credits> sub(Credits, Credits);
template Result<Credits> mul(Credits, int64_t);
template Result<Micros> add(Micros, Micros);
template Result<Micros> sub(Micros, Micros);
template Result<Micros> mul(Micros, int64_t);

Result<Micros> to_micros(Credits amount, Rate rate) {
  auto scaled = scale_round_up(amount.value(), rate.micros.value(), rate.credits.value());
  if (!scaled) return scaled.error();
  return Micros(scaled.value());
}

Result<Credits> to_credits(Micros amount, Rate rate) {
  auto scaled = scale_round_up(amount.value(), rate.credits.value(), rate.micros.value());
  if (!scaled) return scaled.error();
  return Credits(scaled.value());
}

std::string format_usd(Micros amount) {
  // Work in unsigned magnitude so INT64_MIN formats correctly.
  int64_t v = amount.value();
  uint64_t magnitude = v < 0 ? uint64_t{0} - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  std::string fraction = std::to_string(magnitude % kMicrosPerUsd);
  fraction.insert(0, 6 - fraction.size(), '0');
  while (fraction.size() > 2 && fraction.back() == '0') fraction.pop_back();
  std::string out = v < 0 ? "-" : "";
  out += std::to_string(magnitude / kMicrosPerUsd);
  out += '.';
  out += fraction;
  return out;
}

Result<int64_t> parse_int64(std::string_view text) {
  bool negative = !text.empty() && text.front() == '-';
  std::string_view digits = negative ? text.substr(1) : text;
  if (digits.empty()) {
    return fail(ErrorCode::kInvalidArgument, "expected a base-10 integer", "amount");
  }
  // Accumulate as a negative number: its range includes INT64_MIN.
  int64_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') {
      return fail(ErrorCode::kInvalidArgument, "expected a base-10 integer", "amount");
    }
    if (__builtin_mul_overflow(value, 10, &value) ||
        __builtin_sub_overflow(value, c - '0', &value)) {
      return overflow("integer");
    }
  }
  if (!negative) {
    if (value == std::numeric_limits<int64_t>::min()) return overflow("integer");
    value = -value;
  }
  return value;
}

Result<Micros> parse_usd(std::string_view text) {
  auto invalid = [] {
    return fail(ErrorCode::kInvalidArgument,
                "expected a decimal USD amount with at most six decimals, e.g. \"12.50\"",
                "amount");
  };
  size_t dot = text.find('.');
  std::string_view whole = text.substr(0, dot);
  std::string_view fraction = dot == std::string_view::npos ? "" : text.substr(dot + 1);
  bool negative = !whole.empty() && whole.front() == '-';
  std::string_view whole_digits = negative ? whole.substr(1) : whole;
  if (whole_digits.empty() || fraction.size() > 6) return invalid();
  if (dot != std::string_view::npos && fraction.empty()) return invalid();
  if (fraction.find_first_not_of("0123456789") != std::string_view::npos) return invalid();
  if (whole_digits.find_first_not_of("0123456789") != std::string_view::npos) return invalid();

  // Parse "<whole><fraction padded to 6>" as one integer so the check covers the whole range.
  std::string joined(whole);
  joined += fraction;
  joined.append(6 - fraction.size(), '0');
  auto micros = parse_int64(joined);
  if (!micros) return micros.error();
  return Micros(micros.value());
}

// ---- Currencies ----------------------------------------------------------------------------

namespace {

// Stripe's zero-decimal and three-decimal currencies (https://docs.stripe.com/currencies).
constexpr std::string_view kZeroDecimal[] = {"bif", "clp", "djf", "gnf", "jpy", "kmf",
                                             "krw", "mga", "pyg", "rwf", "ugx", "vnd",
                                             "vuv", "xaf", "xof", "xpf"};
constexpr std::string_view kThreeDecimal[] = {"bhd", "jod", "kwd", "omr", "tnd"};

bool listed(std::string_view currency, std::span<const std::string_view> list) {
  for (std::string_view code : list)
    if (code == currency) return true;
  return false;
}

int64_t micros_per_minor_unit(int decimals) {
  return decimals == 0 ? 1'000'000 : decimals == 3 ? 1'000 : 10'000;
}

}  // namespace

bool valid_currency(std::string_view currency) {
  if (currency.size() != 3) return false;
  for (char c : currency)
    if (c < 'a' || c > 'z') return false;
  return true;
}

int minor_unit_decimals(std::string_view currency) {
  if (!valid_currency(currency)) return -1;
  if (listed(currency, kZeroDecimal)) return 0;
  if (listed(currency, kThreeDecimal)) return 3;
  return 2;
}

Result<int64_t> to_minor_units(Micros amount, std::string_view currency) {
  int decimals = minor_unit_decimals(currency);
  if (decimals < 0) {
    return fail(ErrorCode::kInvalidArgument,
                "a currency is three lower-case letters, such as 'usd'", "currency");
  }
  std::string code(currency);
  if (amount.value() < 0)
    return fail(ErrorCode::kInvalidArgument, "a price is not negative", "priceMicros");
  int64_t per_unit = micros_per_minor_unit(decimals);
  if (amount.value() % per_unit != 0) {
    std::string message = std::to_string(amount.value()) + " micros of " + code +
                          " is not a whole number of its minor units (one is " +
                          std::to_string(per_unit) + " micros)";
    return fail(ErrorCode::kInvalidArgument, std::move(message), "priceMicros");
  }
  int64_t minor = amount.value() / per_unit;
  // Stripe: three-decimal amounts end in 0; isk, two decimals in the API, takes whole krónur.
  int64_t step = decimals == 3 ? 10 : code == "isk" ? 100 : 1;
  if (minor % step != 0) {
    std::string message = std::to_string(amount.value()) + " micros of " + code +
                          " is not an amount Stripe takes: it must be a multiple of " +
                          std::to_string(step * per_unit) + " micros";
    return fail(ErrorCode::kInvalidArgument, std::move(message), "priceMicros");
  }
  return minor;
}

Result<Micros> from_minor_units(int64_t minor_units, std::string_view currency) {
  int decimals = minor_unit_decimals(currency);
  if (decimals < 0) {
    return fail(ErrorCode::kInvalidArgument,
                "a currency is three lower-case letters, such as 'usd'", "currency");
  }
  return mul(Micros(minor_units), micros_per_minor_unit(decimals));
}

}  // namespace tollgate::money
