#include "server/http/router.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <memory>
#include <optional>

#include "server/http/error_response.h"

namespace tollgate::server {

std::string_view target_path(std::string_view target) { return target.substr(0, target.find('?')); }

std::vector<std::string_view> path_segments(std::string_view path) {
  std::vector<std::string_view> segments;
  size_t start = path.empty() || path[0] != '/' ? 0 : 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start || end < path.size()) segments.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return segments;
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    int high = hex(text[i + 1]);
    int low = hex(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

void Router::add(http::verb method, std::string_view path, Handler handler) {
  add_async(method, path,
            [handler = std::move(handler)](const Request& request, const PathParams&,
                                           Respond respond) { respond(handler(request)); });
}

void Router::add(http::verb method, std::string_view path, ParamHandler handler) {
  add_async(method, path,
            [handler = std::move(handler)](const Request& request, const PathParams& params,
                                           Respond respond) { respond(handler(request, params)); });
}

void Router::add_async(http::verb method, std::string_view path, AsyncHandler handler) {
  add_streaming(method, path,
                [handler = std::move(handler)](const Request& request, const PathParams& params,
                                               Respond respond, const OpenStream&) {
                  handler(request, params, std::move(respond));
                });
}

void Router::add_streaming(http::verb method, std::string_view path, StreamingHandler handler,
                           RouteKind kind) {
  std::vector<std::string> segments;
  for (std::string_view segment : path_segments(path)) segments.emplace_back(segment);
  auto same = std::find_if(routes_.begin(), routes_.end(),
                           [&](const Route& route) { return route.segments == segments; });
  if (same == routes_.end()) {
    std::string joined;
    for (const std::string& segment : segments) joined += "/" + segment;
    same = routes_.insert(routes_.end(),
                          Route{std::move(segments), joined.empty() ? "/" : joined, {}, {}, {}});
  }
  same->handlers[method] = std::move(handler);
  std::erase(same->browser, method);
  if (kind == RouteKind::kBrowser) same->browser.push_back(method);
}

std::vector<http::verb> Router::browser_methods(std::string_view path) const {
  PathParams unused;
  const Route* route = match(target_path(path), unused);
  return route == nullptr ? std::vector<http::verb>() : route->browser;
}

void Router::describe(http::verb method, std::string_view path, RouteDoc doc) {
  std::vector<std::string> segments;
  for (std::string_view segment : path_segments(path)) segments.emplace_back(segment);
  for (Route& route : routes_) {
    if (route.segments == segments) route.docs[method] = std::move(doc);
  }
}

std::vector<Router::Entry> Router::table() const {
  std::vector<Entry> entries;
  for (const Route& route : routes_) {
    for (const auto& [verb, unused] : route.handlers) {
      auto doc = route.docs.find(verb);
      entries.push_back(Entry{verb, route.path, doc == route.docs.end() ? nullptr : &doc->second});
    }
  }
  return entries;
}

std::optional<std::string> Router::template_of(std::string_view path) const {
  PathParams unused;
  const Route* route = match(target_path(path), unused);
  if (route == nullptr) return std::nullopt;
  return route->path;
}

const Router::Route* Router::match(std::string_view path, PathParams& params) const {
  std::vector<std::string_view> segments = path_segments(path);
  const Route* best = nullptr;
  int best_literals = -1;
  PathParams best_params;
  for (const Route& route : routes_) {
    if (route.segments.size() != segments.size()) continue;
    PathParams captured;
    int literals = 0;
    bool matches = true;
    for (size_t i = 0; i < segments.size() && matches; ++i) {
      const std::string& pattern = route.segments[i];
      if (pattern.size() > 2 && pattern.front() == '{' && pattern.back() == '}') {
        auto decoded = percent_decode(segments[i]);
        matches = decoded.has_value() && !decoded->empty();
        if (matches) captured[pattern.substr(1, pattern.size() - 2)] = std::move(*decoded);
      } else {
        matches = pattern == segments[i];
        ++literals;
      }
    }
    // The most literal match wins: "/v1/accounts/stats" before "/v1/accounts/{userId}".
    if (matches && literals > best_literals) {
      best = &route;
      best_literals = literals;
      best_params = std::move(captured);
    }
  }
  params = std::move(best_params);
  return best;
}

void Router::route(const Request& request, Respond respond, OpenStream open_stream) const {
  std::string_view path = target_path(request.target());
  PathParams params;
  const Route* route = match(path, params);
  if (route == nullptr) {
    return respond(error_response(fail(ErrorCode::kNotFound, "no route for " + std::string(path))));
  }
  auto handler = route->handlers.find(request.method());
  if (handler == route->handlers.end()) {
    std::string allow;
    for (const auto& [verb, unused] : route->handlers) {
      allow += (allow.empty() ? "" : ", ") + std::string(http::to_string(verb));
    }
    Response res = error_response(fail(
        ErrorCode::kMethodNotAllowed, std::string(request.method_string()) + " is not allowed on " +
                                          std::string(path) + "; allowed: " + allow));
    res.set(http::field::allow, allow);
    return respond(std::move(res));
  }
  // The handler may throw before or after responding; only the first answer is sent. Only a
  // browser route's answer may let another origin read it.
  bool browser = std::find(route->browser.begin(), route->browser.end(), request.method()) !=
                 route->browser.end();
  auto answered = std::make_shared<std::atomic<bool>>(false);
  Respond once = [answered, respond, browser](Response response) {
    if (answered->exchange(true)) return;
    if (!browser) response.erase(http::field::access_control_allow_origin);
    respond(std::move(response));
  };
  OpenStream open_once;
  if (open_stream) {
    open_once = [answered, open_stream, browser](
                    Response head, std::function<void(std::shared_ptr<ResponseStream>)> ready) {
      if (answered->exchange(true)) return;
      if (!browser) head.erase(http::field::access_control_allow_origin);
      open_stream(std::move(head), std::move(ready));
    };
  }
  try {
    handler->second(request, params, once, open_once);
  } catch (const std::exception&) {
    // Never echo exception text: it may carry internal detail.
    once(error_response(fail(ErrorCode::kInternal, "internal error")));
  }
}

Response Router::route(const Request& request) const {
  std::optional<Response> out;
  route(request, [&out](Response response) { out = std::move(response); });
  if (!out) return error_response(fail(ErrorCode::kInternal, "handler did not answer at once"));
  return std::move(*out);
}

}  // namespace tollgate::server
