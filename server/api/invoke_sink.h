// Where an invocation's answer goes: one JSON response, or a stream of server-sent events
// (`event: <name>` / `data: <JSON>`), ending with `done` or `error`. docs/features.md lists the
// events.
#pragma once

#include <memory>
#include <string_view>

#include <nlohmann/json.hpp>

#include "server/http/router.h"
#include "tollgate/core/result.h"

namespace tollgate::server {

class Sink {
 public:
  virtual ~Sink() = default;
  virtual void event(std::string_view name, const nlohmann::ordered_json& data) = 0;
  virtual void finish(http::status status, const nlohmann::ordered_json& body) = 0;  // last word
  virtual void fail(const Error& error) = 0;                                        // or this
};

// Answers once, with the final body or the error; events are not sent.
class JsonSink final : public Sink {
 public:
  explicit JsonSink(Respond respond) : respond_(std::move(respond)) {}
  void event(std::string_view, const nlohmann::ordered_json&) override {}
  void finish(http::status status, const nlohmann::ordered_json& body) override;
  void fail(const Error& error) override;

 private:
  Respond respond_;
};

// Writes each event as it comes; the final body is the `done` event, an error the `error` one.
class EventSink final : public Sink {
 public:
  explicit EventSink(std::shared_ptr<ResponseStream> stream) : stream_(std::move(stream)) {}
  void event(std::string_view name, const nlohmann::ordered_json& data) override;
  void finish(http::status status, const nlohmann::ordered_json& body) override;
  void fail(const Error& error) override;

 private:
  std::shared_ptr<ResponseStream> stream_;
};

// One server-sent event: "event: <name>\ndata: <JSON on one line>\n\n". Invalid UTF-8 in the
// data is replaced, so a frame is always valid.
std::string sse_frame(std::string_view name, const nlohmann::ordered_json& data);

}  // namespace tollgate::server
