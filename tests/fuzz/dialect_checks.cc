#include "dialect_checks.h"

#include <string>
#include <vector>

#include "fuzz_support.h"
#include "tollgate/core/bytes.h"

namespace tollgate::fuzz {
namespace {

void check_answer(const server::ModelAnswer& answer) {
  check(is_valid_utf8(answer.text), "the answer's text is valid UTF-8");
  check(is_valid_utf8(answer.finish_reason), "the finish reason is valid UTF-8");
  for (const server::ToolCall& call : answer.tool_calls) {
    check(is_valid_utf8(call.id) && is_valid_utf8(call.name) && is_valid_utf8(call.arguments),
          "a tool call's id, name and arguments are valid UTF-8");
  }
  if (answer.usage) {
    check(answer.usage->input_tokens >= 0 && answer.usage->output_tokens >= 0,
          "usage is non-negative");
  }
}

void check_whole(const server::Dialect& dialect, std::string_view body) {
  auto answer = dialect.parse(body);
  if (!answer) {
    check(answer.error().code == ErrorCode::kUpstreamError, "parse refuses with kUpstreamError");
    return;
  }
  check_answer(answer.value());
}

// What HttpModelCall::produced() reads from a finished stream.
void check_finished(server::StreamState& state) {
  check_answer(state.answer);
  if (state.input_tokens) check(*state.input_tokens >= 0, "input tokens are non-negative");
  if (state.output_tokens) check(*state.output_tokens >= 0, "output tokens are non-negative");
  if (state.tools.empty()) return;
  auto calls = state.tools.finish();
  if (!calls) return;  // the call is then incomplete and fails; nothing more to hold
  for (const structured::ToolCall& call : calls.value()) {
    check(!call.id.empty() && !call.name.empty(), "a finished tool call has an id and a name");
    check(call.arguments.is_object(), "a finished tool call's arguments are an object");
    check(is_valid_utf8(call.id) && is_valid_utf8(call.name),
          "a finished tool call's id and name are valid UTF-8");
    (void)call.arguments.dump();  // throws (and the fuzzer reports it) on invalid UTF-8
  }
}

void check_stream(const server::Dialect& dialect, std::string_view body) {
  stream::SseParser sse;
  server::StreamState state;
  std::vector<stream::SseEvent> events;
  std::string delta_text;
  server::OnDelta on_delta = [&delta_text](const server::ModelDelta& delta) {
    check(delta.tool_index >= -1 && delta.tool_index < static_cast<int>(structured::kToolCallsMax),
          "a delta's tool index is -1 or in [0, kToolCallsMax)");
    if (delta.tool_index < 0) delta_text += delta.text;
  };
  for (std::string_view piece : pieces(body)) {
    events.clear();
    if (!sse.feed(piece, events)) return;  // a stream past the framer's limits: stopped
    for (const stream::SseEvent& event : events) {
      if (state.finished) break;
      auto handled = dialect.on_event(event, state, on_delta);
      check(delta_text == state.answer.text, "the deltas' text adds up to the answer's text");
      if (!handled) {
        check(handled.error().code == ErrorCode::kUpstreamError,
              "on_event refuses with kUpstreamError");
        return;
      }
    }
  }
  if (state.finished) check_finished(state);
}

}  // namespace

void fuzz_dialect(const server::Dialect& dialect, std::string_view input) {
  check_whole(dialect, input);
  check_stream(dialect, input);
}

}  // namespace tollgate::fuzz
