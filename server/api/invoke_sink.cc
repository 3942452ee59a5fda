#include "server/api/invoke_sink.h"

#include "server/http/error_response.h"

namespace tollgate::server {

void JsonSink::finish(http::status status, const nlohmann::ordered_json& body) {
  respond_(json_response(status, body));
}

void JsonSink::fail(const Error& error) { respond_(error_response(error)); }

std::string sse_frame(std::string_view name, const nlohmann::ordered_json& data) {
  std::string frame = "event: ";
  frame += name;
  frame += "\ndata: ";
  frame += data.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  frame += "\n\n";
  return frame;
}

void EventSink::event(std::string_view name, const nlohmann::ordered_json& data) {
  stream_->write(sse_frame(name, data));
}

void EventSink::finish(http::status, const nlohmann::ordered_json& body) {
  event("done", body);
  stream_->finish();
}

void EventSink::fail(const Error& error) {
  event("error", error_body(error));
  stream_->finish();
}

}  // namespace tollgate::server
