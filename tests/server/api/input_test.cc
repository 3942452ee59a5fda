// What api/input.h adds to the field checks (tests/server/input/fields_test.cc): the request's
// JSON body and its query parameters.
#include "server/api/input.h"

#include <gtest/gtest.h>

#include <string>

namespace tollgate::server {
namespace {

Request post(std::string body, std::optional<std::string> content_type = "application/json") {
  Request request(http::verb::post, "/v1/meter", 11);
  if (content_type) request.set(http::field::content_type, *content_type);
  request.body() = std::move(body);
  request.prepare_payload();
  return request;
}

void expect_refused(const Result<json>& body, std::string_view param, std::string_view message) {
  ASSERT_FALSE(body.ok()) << "accepted: " << body.value().dump();
  EXPECT_EQ(body.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(body.error().param, param);
  EXPECT_EQ(body.error().message, message);
}

// `levels` nested JSON values, the outermost an object: {"a":[[…]]}.
std::string nested(int levels) {
  std::string text = "{\"a\":";
  for (int i = 1; i < levels; ++i) text += "[";
  text += "1";
  for (int i = 1; i < levels; ++i) text += "]";
  return text + "}";
}

// ---- The JSON body ----------------------------------------------------------------------------

TEST(JsonObjectBody, AnObjectWithTheJsonContentType) {
  auto body = json_object_body(post(R"({"userId":"a","cost":2})"));
  ASSERT_TRUE(body.ok()) << body.error().message;
  EXPECT_EQ(body.value()["userId"], "a");
  EXPECT_EQ(body.value()["cost"], 2);
  // Parameters after the media type are allowed, with or without spaces before them.
  EXPECT_TRUE(json_object_body(post("{}", "application/json; charset=utf-8")).ok());
  EXPECT_TRUE(json_object_body(post("{}", "application/json ;charset=utf-8")).ok());
}

TEST(JsonObjectBody, AnyOtherContentTypeIsRefusedNamingTheHeader) {
  constexpr std::string_view kMessage =
      "the body must be JSON with 'Content-Type: application/json'";
  for (std::optional<std::string> type :
       {std::optional<std::string>(), std::optional<std::string>("text/plain"),
        std::optional<std::string>("application/x-www-form-urlencoded"),
        std::optional<std::string>("application/jsonx"), std::optional<std::string>("")}) {
    expect_refused(json_object_body(post("{}", type)), "content-type", kMessage);
  }
}

TEST(JsonObjectBody, NotJsonOrNotAnObject) {
  for (std::string text : {"{", "{\"a\":}", "not json", "{\"a\":1} trailing", "{'a':1}"}) {
    expect_refused(json_object_body(post(text)), "body", "the body is not valid JSON");
  }
  for (std::string text : {"[1,2]", "42", "\"text\"", "null", "true"}) {
    expect_refused(json_object_body(post(text)), "body", "the body must be a JSON object");
  }
}

TEST(JsonObjectBody, AnEmptyBodyIsAnObjectOnlyWhenAllowed) {
  auto allowed = json_object_body(post(""), true);
  ASSERT_TRUE(allowed.ok());
  EXPECT_EQ(allowed.value(), json::object());
  // Allowed empty needs no content type (a bodyless POST usually sends none)…
  EXPECT_TRUE(json_object_body(post("", std::nullopt), true).ok());
  // …but a body that is there is still checked.
  expect_refused(json_object_body(post("[]"), true), "body", "the body must be a JSON object");
  expect_refused(json_object_body(post(""), false), "body", "the body is not valid JSON");
  expect_refused(json_object_body(post("", std::nullopt), false), "content-type",
                 "the body must be JSON with 'Content-Type: application/json'");
}

TEST(JsonObjectBody, NestingIsBoundedAtTheLimit) {
  ASSERT_EQ(kJsonDepthMax, 32);
  auto at_limit = json_object_body(post(nested(kJsonDepthMax)));
  ASSERT_TRUE(at_limit.ok()) << at_limit.error().message;
  expect_refused(json_object_body(post(nested(kJsonDepthMax + 1))), "body",
                 "the JSON body nests deeper than 32");
  // Far deeper is refused the same way (the parser keeps no stack frame per level).
  expect_refused(json_object_body(post(nested(100'000))), "body",
                 "the JSON body nests deeper than 32");
  // Depth counts objects and arrays alike; a wide body is not deep.
  std::string objects = "{";
  for (int i = 1; i < kJsonDepthMax + 1; ++i) objects += "\"a\":{";
  objects += std::string(kJsonDepthMax + 1, '}');
  expect_refused(json_object_body(post(objects)), "body", "the JSON body nests deeper than 32");
  std::string wide = "{\"a\":[";
  for (int i = 0; i < 1000; ++i) wide += "[1],";
  wide += "[1]]}";
  EXPECT_TRUE(json_object_body(post(wide)).ok());
}

// ---- Query parameters -------------------------------------------------------------------------

TEST(StringParam, RequiredAndCheckedAsText) {
  QueryParams query = parse_query("/v1/check?userId=alice&event=&bad=a%0Ab");
  EXPECT_EQ(string_param(query, "userId", kUserIdBytesMax).value(), "alice");
  auto missing = string_param(query, "feature", 10);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().param, "feature");
  EXPECT_EQ(missing.error().message, "'feature' is required");
  auto empty = string_param(query, "event", 10);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().message, "'event' must not be empty");
  auto control = string_param(query, "bad", 10);
  ASSERT_FALSE(control.ok());
  EXPECT_EQ(control.error().message, "'bad' must not contain control characters");
  auto long_value = string_param(query, "userId", 4);
  ASSERT_FALSE(long_value.ok());
  EXPECT_EQ(long_value.error().message, "'userId' must be at most 4 bytes");
}

TEST(IntParam, DigitsInRangeOrTheFallback) {
  QueryParams query = parse_query("/v1/x?limit=20&neg=-3&empty=&word=ten&mixed=5x&big=999");
  EXPECT_EQ(int_param(query, "limit", 1, 100).value(), 20);
  EXPECT_EQ(int_param(query, "neg", -5, 5).value(), -3);
  EXPECT_EQ(int_param(query, "missing", 1, 100, 10).value(), 10);
  // An empty value counts as absent.
  EXPECT_EQ(int_param(query, "empty", 1, 100, 10).value(), 10);
  auto required = int_param(query, "missing", 1, 100);
  ASSERT_FALSE(required.ok());
  EXPECT_EQ(required.error().message, "'missing' is required");
  for (const char* name : {"word", "mixed"}) {
    auto refused = int_param(query, name, 1, 100);
    ASSERT_FALSE(refused.ok()) << name;
    EXPECT_EQ(refused.error().param, name);
    EXPECT_EQ(refused.error().message,
              quoted_field(name) + " must be an integer between 1 and 100");
  }
  auto big = int_param(query, "big", 1, 100);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().message, "'big' must be between 1 and 100");
  auto past_int64 = int_param(parse_query("/x?n=99999999999999999999"), "n", 0, 10);
  ASSERT_FALSE(past_int64.ok());
  EXPECT_EQ(past_int64.error().param, "n");
}

}  // namespace
}  // namespace tollgate::server
