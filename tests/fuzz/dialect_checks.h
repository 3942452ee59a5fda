// The body the provider-dialect fuzz targets share. The input is what a provider sent back: it is
// read as a whole answer by Dialect::parse, and as a stream fed in pieces (cut by the input's
// hash) through the real stream::SseParser, each event going to Dialect::on_event with one
// StreamState, as HttpModelCall does (server/ai/http_provider.cc).
//
// For any input neither path may throw or trip a sanitizer, and:
// - a refusal is kUpstreamError;
// - what comes out is valid UTF-8 (it is written into JSON answers), and usage is non-negative;
// - the text reported in deltas adds up to the answer's text, and every tool delta names an
//   index in [0, kToolCallsMax);
// - a finished stream's tool calls have an id, a name and object arguments.
#pragma once

#include <string_view>

#include "server/ai/http_provider.h"

namespace tollgate::fuzz {

void fuzz_dialect(const server::Dialect& dialect, std::string_view input);

}  // namespace tollgate::fuzz
