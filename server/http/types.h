// The request and response types every HTTP component shares.
#pragma once

#include <boost/beast/http.hpp>

namespace tollgate::server {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

}  // namespace tollgate::server
