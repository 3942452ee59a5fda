// Query strings: "?a=1&b=x%20y" to {a: "1", b: "x y"}. The first occurrence of a name wins;
// a malformed escape leaves that value out.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace tollgate::server {

using QueryParams = std::map<std::string, std::string, std::less<>>;

QueryParams parse_query(std::string_view target);

}  // namespace tollgate::server
