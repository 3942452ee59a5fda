#include "server/http/query.h"

#include "server/http/router.h"

namespace tollgate::server {

QueryParams parse_query(std::string_view target) {
  QueryParams params;
  size_t question = target.find('?');
  if (question == std::string_view::npos) return params;
  std::string_view rest = target.substr(question + 1);
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    size_t eq = pair.find('=');
    std::string name(pair.substr(0, eq));
    std::string value(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    for (char& c : value) {
      if (c == '+') c = ' ';
    }
    auto decoded_name = percent_decode(name);
    auto decoded_value = percent_decode(value);
    if (decoded_name && decoded_value && !decoded_name->empty())
      params.emplace(std::move(*decoded_name), std::move(*decoded_value));
  }
  return params;
}

}  // namespace tollgate::server
