// Raw embind entry points for @tollgate/sdk. The TypeScript wrapper in src/ is the only public
// surface: it converts bigint and Uint8Array values and turns {ok:false} into TollgateError.
//
// Every entry point returns {ok:true, value} or {ok:false, error:{code,message,param}} and never
// throws. int64 amounts cross the boundary as decimal strings so no precision is lost.
#include <emscripten/bind.h>
#include <emscripten/val.h>

#include <cmath>
#include <string>
#include <utility>

#include "tollgate/calendar/calendar.h"
#include "tollgate/codec/base64url.h"
#include "tollgate/money/money.h"
#include "tollgate/pricing/pricing.h"
#include "tollgate/prompt/template.h"
#include "tollgate/stream/sse.h"
#include "tollgate/structured/partial_json.h"
#include "tollgate/structured/regex.h"
#include "tollgate/token/runtime_token.h"

namespace {

using emscripten::val;
using namespace tollgate;

constexpr double kMaxSafeInteger = 9007199254740991.0;  // 2^53 - 1

val ok(val value) {
  val out = val::object();
  out.set("ok", true);
  out.set("value", std::move(value));
  return out;
}

val failed(const Error& error) {
  val detail = val::object();
  detail.set("code", std::string(error_code_name(error.code)));
  detail.set("message", error.message);
  detail.set("param", error.param.empty() ? val::null() : val(error.param));
  val out = val::object();
  out.set("ok", false);
  out.set("error", detail);
  return out;
}

Error bad_argument(std::string param, std::string message) {
  return fail(ErrorCode::kInvalidArgument, std::move(message), std::move(param));
}

// Uint8Array -> bytes, copied straight into wasm memory.
std::string bytes_from(const val& array) {
  std::string out(array["length"].as<size_t>(), '\0');
  val view(emscripten::typed_memory_view(out.size(), reinterpret_cast<uint8_t*>(out.data())));
  view.call<void>("set", array);
  return out;
}

// bytes -> a new Uint8Array that owns a copy (a view into wasm memory would dangle).
val bytes_to(const std::string& bytes) {
  val view(
      emscripten::typed_memory_view(bytes.size(), reinterpret_cast<const uint8_t*>(bytes.data())));
  return view.call<val>("slice");
}

Result<int64_t> safe_integer(const val& value, const char* param) {
  if (!value.isNumber()) return bad_argument(param, std::string(param) + " must be a number");
  double number = value.as<double>();
  if (!std::isfinite(number) || std::floor(number) != number ||
      std::fabs(number) > kMaxSafeInteger) {
    return bad_argument(param, std::string(param) + " must be a safe integer");
  }
  return static_cast<int64_t>(number);
}

Result<std::string> string_field(const val& object, const char* key) {
  val field = object[key];
  if (!field.isString()) return bad_argument(key, std::string(key) + " must be a string");
  return field.as<std::string>();
}

Result<token::RuntimeClaims> claims_from(const val& object) {
  if (object.typeOf().as<std::string>() != "object" || object.isNull()) {
    return bad_argument("claims", "claims must be an object");
  }
  token::RuntimeClaims claims;
  auto key_id = string_field(object, "keyId");
  auto session = string_field(object, "sessionId");
  auto project = string_field(object, "projectId");
  auto user = string_field(object, "endUserId");
  auto issued = safe_integer(object["issuedAtMs"], "issuedAtMs");
  auto expires = safe_integer(object["expiresAtMs"], "expiresAtMs");
  if (!key_id) return key_id.error();
  if (!session) return session.error();
  if (!project) return project.error();
  if (!user) return user.error();
  if (!issued) return issued.error();
  if (!expires) return expires.error();
  val operations = object["operations"];
  if (!val::global("Array").call<bool>("isArray", operations)) {
    return bad_argument("operations", "operations must be an array of strings");
  }
  size_t count = operations["length"].as<size_t>();
  if (count > token::kOperationsMax)
    return bad_argument("operations", "operations must list 1-64 operation slugs");
  for (size_t i = 0; i < count; ++i) {
    val op = operations[i];
    if (!op.isString()) return bad_argument("operations", "operations must be an array of strings");
    claims.operations.push_back(op.as<std::string>());
  }
  claims.key_id = key_id.value();
  claims.session_id = session.value();
  claims.project_id = project.value();
  claims.end_user_id = user.value();
  claims.issued_at_ms = issued.value();
  claims.expires_at_ms = expires.value();
  return claims;
}

val claims_to(const token::RuntimeClaims& claims) {
  val out = val::object();
  out.set("keyId", claims.key_id);
  out.set("sessionId", claims.session_id);
  out.set("projectId", claims.project_id);
  out.set("endUserId", claims.end_user_id);
  val operations = val::array();
  for (const auto& op : claims.operations) operations.call<void>("push", op);
  out.set("operations", operations);
  out.set("issuedAtMs", static_cast<double>(claims.issued_at_ms));
  out.set("expiresAtMs", static_cast<double>(claims.expires_at_ms));
  return out;
}

// Adapts a JS function (signingInput: string) => Uint8Array | null into a token::Signer. The
// wrapper guarantees the function never throws; null means it failed and holds the reason.
token::Signer signer_from(val sign) {
  return [sign](std::string_view input) -> Result<std::string> {
    val mac = sign(std::string(input));
    if (!mac.instanceof (val::global("Uint8Array"))) {
      return fail(ErrorCode::kInternal, "the signer did not return a Uint8Array", "signer");
    }
    return bytes_from(mac);
  };
}

// ---- entry points ----

val error_code_names() {
  val names = val::array();
  for (int32_t i = 0; i < kErrorCodeCount; ++i) {
    names.call<void>("push", std::string(error_code_name(static_cast<ErrorCode>(i))));
  }
  return names;
}

std::string base64url_encode(val bytes) { return codec::base64url_encode(bytes_from(bytes)); }

val base64url_decode(std::string text) {
  auto bytes = codec::base64url_decode(text);
  return bytes ? ok(bytes_to(bytes.value())) : failed(bytes.error());
}

template <typename Unit>
val amount_result(const Result<money::Amount<Unit>>& result) {
  return result ? ok(val(std::to_string(result.value().value()))) : failed(result.error());
}

val amount_op(std::string op, std::string a, std::string b) {
  auto left = money::parse_int64(a);
  auto right = money::parse_int64(b);
  if (!left) return failed(left.error());
  if (!right) return failed(right.error());
  money::Micros x(left.value());
  if (op == "add") return amount_result(money::add(x, money::Micros(right.value())));
  if (op == "sub") return amount_result(money::sub(x, money::Micros(right.value())));
  if (op == "mul") return amount_result(money::mul(x, right.value()));
  return failed(bad_argument("op", "op must be add, sub or mul"));
}

val convert(std::string to, std::string amount, std::string rate_credits, std::string rate_micros) {
  auto value = money::parse_int64(amount);
  auto credits = money::parse_int64(rate_credits);
  auto micros = money::parse_int64(rate_micros);
  if (!value) return failed(value.error());
  if (!credits || !micros)
    return failed(bad_argument("rate", "rate credits and micros must be integers"));
  money::Rate rate{money::Credits(credits.value()), money::Micros(micros.value())};
  if (to == "micros") return amount_result(money::to_micros(money::Credits(value.value()), rate));
  return amount_result(money::to_credits(money::Micros(value.value()), rate));
}

val format_usd(std::string micros) {
  auto value = money::parse_int64(micros);
  return value ? ok(val(money::format_usd(money::Micros(value.value())))) : failed(value.error());
}

val parse_usd(std::string text) { return amount_result(money::parse_usd(text)); }

// calendar.h: "day", "month" or "next_month" start of the UTC period holding `ms` (a number).
val calendar_start(std::string which, val ms) {
  auto time = safe_integer(ms, "timeMs");
  if (!time) return failed(time.error());
  Result<int64_t> start = which == "day"     ? calendar::day_start_ms(time.value())
                          : which == "month" ? calendar::month_start_ms(time.value())
                                             : calendar::next_month_start_ms(time.value());
  return start ? ok(val(static_cast<double>(start.value()))) : failed(start.error());
}

// pricing.h's hold_worst_case; int64 inputs as decimal strings (bigint on the JS side).
val hold_worst_case(std::string input_per_million, std::string output_per_million,
                    std::string prompt_bytes, std::string messages, std::string max_tokens,
                    bool repair) {
  const std::pair<const std::string*, const char*> fields[] = {
      {&input_per_million, "inputPerMillion"}, {&output_per_million, "outputPerMillion"},
      {&prompt_bytes, "promptBytes"},          {&messages, "messages"},
      {&max_tokens, "maxTokens"}};
  int64_t values[5] = {};
  for (size_t i = 0; i < 5; ++i) {
    auto parsed = money::parse_int64(*fields[i].first);
    if (!parsed) return failed(bad_argument(fields[i].second, std::string(fields[i].second) +
                                                                  " must be an int64"));
    values[i] = parsed.value();
  }
  pricing::HoldBound bound{{money::Micros(values[0]), money::Micros(values[1])},
                           values[2],
                           values[3],
                           values[4],
                           repair};
  return amount_result(pricing::hold_worst_case(bound));
}

val parse_int64(std::string text) {
  auto value = money::parse_int64(text);
  return value ? ok(val(std::to_string(value.value()))) : failed(value.error());
}

val token_encode(val claims, val sign) {
  auto parsed = claims_from(claims);
  if (!parsed) return failed(parsed.error());
  auto token = token::encode(parsed.value(), signer_from(std::move(sign)));
  return token ? ok(val(token.value())) : failed(token.error());
}

val token_decode(std::string token) {
  auto claims = token::decode_unverified(token);
  return claims ? ok(claims_to(claims.value())) : failed(claims.error());
}

val token_verify(std::string token, val sign, val now_ms) {
  auto now = safe_integer(now_ms, "nowMs");
  if (!now) return failed(now.error());
  auto claims = token::verify(token, signer_from(std::move(sign)), now.value());
  return claims ? ok(claims_to(claims.value())) : failed(claims.error());
}

val token_check(val claims, val now_ms, val operation) {
  auto parsed = claims_from(claims);
  if (!parsed) return failed(parsed.error());
  if (!now_ms.isUndefined()) {
    auto now = safe_integer(now_ms, "nowMs");
    if (!now) return failed(now.error());
    if (auto fresh = token::check_expiry(parsed.value(), now.value()); !fresh)
      return failed(fresh.error());
  }
  if (!operation.isUndefined()) {
    if (!operation.isString())
      return failed(bad_argument("operation", "operation must be a string"));
    auto scoped = token::check_scope(parsed.value(), operation.as<std::string>());
    if (!scoped) return failed(scoped.error());
  }
  return ok(val::undefined());
}

val template_parse(std::string source) {
  auto parsed = prompt::Template::parse(source);
  if (!parsed) return failed(parsed.error());
  val variables = val::array();
  for (const auto& name : parsed.value().variables()) variables.call<void>("push", name);
  val out = val::object();
  out.set("variables", variables);
  return ok(out);
}

val template_render(std::string source, val values) {
  auto parsed = prompt::Template::parse(source);
  if (!parsed) return failed(parsed.error());
  if (values.typeOf().as<std::string>() != "object" || values.isNull()) {
    return failed(bad_argument("variables", "variables must be an object of strings"));
  }
  prompt::Variables variables;
  val has_own = val::global("Object")["prototype"]["hasOwnProperty"];
  for (const auto& name : parsed.value().variables()) {
    // Own properties only: {{constructor}} must not find Object.prototype.constructor.
    if (!has_own.call<bool>("call", values, name)) continue;  // render() names the missing one
    val value = values[name];
    if (!value.isString())
      return failed(bad_argument(name, "template variable '" + name + "' must be a string"));
    variables.emplace(name, value.as<std::string>());
  }
  auto rendered = parsed.value().render(variables);
  return rendered ? ok(val(rendered.value())) : failed(rendered.error());
}

std::string template_escape(std::string text) { return prompt::escape(text); }

}  // namespace

// An incremental JSON parser behind an embind handle; JavaScript must delete() it. Values cross
// as JSON text, produced only when asked for, so feeding stays O(n) over a stream.
class PartialJsonHandle {
 public:
  val feed(val bytes) {
    auto fed = parser_.feed(bytes_from(bytes));
    return fed ? ok(val::undefined()) : failed(fed.error());
  }
  std::string value() const { return parser_.value().dump(); }
  bool complete() const { return parser_.complete(); }
  val finish() {
    auto done = parser_.finish();
    return done ? ok(val(done.value().dump())) : failed(done.error());
  }

 private:
  structured::PartialJsonParser parser_;
};

// A text/event-stream parser behind an embind handle; JavaScript must delete() it.
class SseHandle {
 public:
  val feed(val bytes) {
    std::vector<stream::SseEvent> events;
    auto fed = parser_.feed(bytes_from(bytes), events);
    if (!fed) return failed(fed.error());
    val out = val::array();
    for (const auto& event : events) {
      val item = val::object();
      item.set("type", event.type);
      item.set("data", event.data);
      item.set("id", event.id);
      out.call<void>("push", item);
    }
    return ok(out);
  }
  val retry_ms() const {
    auto retry = parser_.retry_ms();
    return retry ? val(static_cast<double>(*retry)) : val::null();
  }
  bool pending() const { return parser_.pending(); }

 private:
  stream::SseParser parser_;
};

// Compiles the pattern for this one call: patterns are short (kRegexPatternBytesMax), and no
// handle is left for JavaScript to free.
val pattern_matches(std::string pattern, std::string text) {
  auto regex = structured::Regex::compile(pattern);
  return regex ? ok(val(regex.value().search(text))) : failed(regex.error());
}

EMSCRIPTEN_BINDINGS(tollgate_core) {
  emscripten::class_<SseHandle>("SseParser")
      .constructor<>()
      .function("feed", &SseHandle::feed)
      .function("retryMs", &SseHandle::retry_ms)
      .function("pending", &SseHandle::pending);
  emscripten::class_<PartialJsonHandle>("PartialJsonParser")
      .constructor<>()
      .function("feed", &PartialJsonHandle::feed)
      .function("value", &PartialJsonHandle::value)
      .function("complete", &PartialJsonHandle::complete)
      .function("finish", &PartialJsonHandle::finish);
  emscripten::function("errorCodeNames", &error_code_names);
  emscripten::function("base64urlEncode", &base64url_encode);
  emscripten::function("base64urlDecode", &base64url_decode);
  emscripten::function("amountOp", &amount_op);
  emscripten::function("convert", &convert);
  emscripten::function("formatUsd", &format_usd);
  emscripten::function("parseUsd", &parse_usd);
  emscripten::function("parseInt64", &parse_int64);
  emscripten::function("calendarStart", &calendar_start);
  emscripten::function("holdWorstCase", &hold_worst_case);
  emscripten::function("tokenEncode", &token_encode);
  emscripten::function("tokenDecode", &token_decode);
  emscripten::function("tokenVerify", &token_verify);
  emscripten::function("tokenCheck", &token_check);
  emscripten::function("templateParse", &template_parse);
  emscripten::function("templateRender", &template_render);
  emscripten::function("templateEscape", &template_escape);
  emscripten::function("patternMatches", &pattern_matches);
}
