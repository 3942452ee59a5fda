// The one log line, and the one metrics sample, of every answered request: a whole response
// (Session::send) or a streamed one (Session::open_stream). A line names the request by its
// route template only, never the raw path (user ids are often emails) nor the query string
// (keys may travel in ?key=).
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "server/http/types.h"
#include "server/log/logger.h"
#include "server/metrics/metrics.h"

namespace tollgate::server {

// A new request id, "req_" and 16 hex digits: sent back as x-request-id and logged, so a client
// can quote it.
std::string new_request_id();

// The `error.code` of an error response in the JSON error shape; nullopt otherwise (and for a
// body over kErrorBodyScanBytesMax, which is not scanned). Never throws.
inline constexpr size_t kErrorBodyScanBytesMax = 64 * 1024;
std::optional<std::string> error_code_of(const Response& response);

// Counts the request in `metrics` (when set) under `method` and `route` ("" when no route
// matched), then writes `line` as its "http_request" log line, at the level its status calls
// for (request_log_level).
void record_request(Logger& log, Metrics* metrics, std::string_view method, std::string_view route,
                    unsigned status, std::chrono::steady_clock::duration elapsed,
                    nlohmann::ordered_json line);

}  // namespace tollgate::server
