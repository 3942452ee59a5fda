#include "server/http/cors.h"

#include <algorithm>
#include <cctype>
#include <string>

namespace tollgate::server {
namespace {

std::string lowercase_trimmed(std::string_view text) {
  size_t begin = text.find_first_not_of(" \t");
  size_t end = text.find_last_not_of(" \t");
  std::string out;
  if (begin == std::string_view::npos) return out;
  for (char c : text.substr(begin, end - begin + 1))
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Every header in a comma-separated Access-Control-Request-Headers is one Tollgate reads.
bool headers_allowed(std::string_view requested) {
  size_t count = 0;
  while (!requested.empty()) {
    size_t comma = requested.find(',');
    std::string name = lowercase_trimmed(requested.substr(0, comma));
    if (!name.empty()) {
      if (++count > kCorsRequestHeadersMax) return false;
      if (std::find(kCorsRequestHeaders.begin(), kCorsRequestHeaders.end(), name) ==
          kCorsRequestHeaders.end())
        return false;
    }
    if (comma == std::string_view::npos) break;
    requested.remove_prefix(comma + 1);
  }
  return true;
}

}  // namespace

bool echoable_origin(std::string_view origin) {
  std::string_view rest;
  if (origin.starts_with("https://")) {
    rest = origin.substr(8);
  } else if (origin.starts_with("http://")) {
    rest = origin.substr(7);
  } else {
    return false;
  }
  if (rest.empty()) return false;
  return std::all_of(rest.begin(), rest.end(), [](char c) {
    auto byte = static_cast<unsigned char>(c);
    return std::isalnum(byte) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']';
  });
}

Response preflight_response(const Router& router, const Request& request) {
  Response response{http::status::no_content, request.version()};
  // The answer depends on all three, so a cache must not reuse it for another.
  response.set(http::field::vary,
               "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
  auto origin = request.find(http::field::origin);
  auto method = request.find(http::field::access_control_request_method);
  if (origin == request.end() || method == request.end() || !echoable_origin(origin->value()))
    return response;
  std::vector<http::verb> methods = router.browser_methods(request.target());
  http::verb asked = http::string_to_verb(method->value());
  if (std::find(methods.begin(), methods.end(), asked) == methods.end()) return response;
  if (auto headers = request.find(http::field::access_control_request_headers);
      headers != request.end() && !headers_allowed(headers->value())) {
    return response;
  }
  std::string allowed_methods;
  for (http::verb verb : methods) {
    allowed_methods += (allowed_methods.empty() ? "" : ", ") + std::string(http::to_string(verb));
  }
  std::string allowed_headers;
  for (std::string_view name : kCorsRequestHeaders) {
    allowed_headers += (allowed_headers.empty() ? "" : ", ") + std::string(name);
  }
  response.set(http::field::access_control_allow_origin, origin->value());
  response.set(http::field::access_control_allow_methods, allowed_methods);
  response.set(http::field::access_control_allow_headers, allowed_headers);
  response.set(http::field::access_control_max_age, kCorsPreflightMaxAgeSeconds);
  return response;
}

}  // namespace tollgate::server
