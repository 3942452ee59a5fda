// The `demo/…` provider: answers at once, deterministically, with no key and no network, so a
// fresh `make run` shows a working feature. Every answer says it is a demo.
//
// - Text: a fixed sentence naming the demo and the input's size. It never repeats the prompt,
//   so nothing hidden can leak through it.
// - With a responseFormat: an object built from the schema (the first enum value, the minimum
//   number, "demo" strings padded to minLength, every listed property, minItems elements).
//   Schemas needing `pattern` or `not` may come out invalid; the server then treats the answer
//   like any model's invalid output.
// - With tools: the first answer calls the first tool with arguments built from its parameter
//   schema; once a tool result is in the conversation, it answers with text.
// - Usage: a quarter token per byte (rounded up) plus framing, like a real tokenizer's average,
//   and never more than the reservation's upper bound.
#pragma once

#include "server/ai/model.h"

namespace tollgate::server {

inline constexpr std::string_view kDemoProvider = "demo";
inline constexpr size_t kDemoStreamChunkBytes = 16;

class DemoProvider final : public ModelProvider {
 public:
  std::shared_ptr<ModelCall> start(ModelRequest request, OnDelta on_delta, OnDone done) override;
};

// A value the schema accepts where the generator can find one (see above).
nlohmann::json demo_value(const nlohmann::json& schema);

}  // namespace tollgate::server
