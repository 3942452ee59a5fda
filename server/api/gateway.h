// The gateway: OpenAI- and Anthropic-compatible model calls made with a user key (tgk_…). Both
// wire formats become one ModelRequest and run through the one metered call
// (server/calls/metered_call.h) that runtime invoke uses, so the hold covers every budget level
// at once: the project's budget, the end user's credits and spend cap, the key's cap, and for a
// feature its invocation limits. This file holds what the two surfaces share: which model a
// request names, what it may cost, and the call.
//
// A model is "provider/model", run with the project's credentials for that provider, or
// "tollgate/<feature slug>", which runs a hidden-prompt feature: its system prompt (and its
// template, rendered with the request's `metadata` as the input variables) go before the
// caller's messages, and never come back in any answer.
//
// Gateway calls are priced in micros (the catalogue's price of the model that answers) and charge
// no credits, except a feature's, which charges its own price. A model the catalogue does not
// price is refused. A request without max_tokens reserves the model's maximum output from the
// catalogue; when the budget left affords less, the answer is 402 naming the tokens it affords.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "server/api/api.h"
#include "server/api/route.h"
#include "server/calls/metered_call.h"

namespace tollgate::server {

inline constexpr std::string_view kFeatureModelPrefix = "tollgate/";
inline constexpr size_t kGatewayMessagesMax = 1000;
inline constexpr size_t kGatewayToolsMax = 128;

// The `model` field both surfaces declare.
Field gateway_model_field();

// "messages[3]": a field of the request that is an element of a list, for errors.
std::string indexed_field(std::string_view list, size_t index);

// What a parsed request asks for, before it is priced.
struct GatewayRequest {
  std::string model;     // as the client named it: "openai/gpt-4o-mini", "tollgate/summarize"
  ModelRequest request;  // messages, tools, format; `model` and `max_tokens` are set here
  bool max_tokens_given = false;
  std::optional<structured::JsonSchema> schema;        // the client's json_schema, validated
  nlohmann::json metadata = nlohmann::json::object();  // a feature's input variables
  bool stream = false;
};

// What a call would cost and what is left to pay for it.
struct GatewayQuote {
  int64_t worst_case_micros = 0;
  int64_t input_micros = 0;                 // the prompt alone, at worst
  std::optional<int64_t> remaining_micros;  // the least the key and the user's cap leave
  int64_t affordable_max_tokens = 0;        // the most output tokens that fit in it
  int64_t max_tokens = 0;                   // what the call would reserve
};

// The metered call for a request, refused before anything is reserved when the model is not
// allowed to the key, not priced, unknown, or its provider has no credentials. Whether the
// budget pays for the worst case is the ledger's to decide when the call starts.
Result<std::shared_ptr<MeteredCall>> gateway_call(ApiContext& api, const UserKeyCaller& caller,
                                                  GatewayRequest request);

// The quote for a request (user key, or the secret key with no key cap to count).
Result<GatewayQuote> gateway_quote(ApiContext& api, const std::string& project_id,
                                   const std::string& user_id, const UserKey* key,
                                   const GatewayRequest& request);

// The 402 message for a refusal, with what the budget affords.
std::string cannot_afford_message(const GatewayQuote& quote);

// Starts `call`, answering through a listener `make` builds: over server-sent events when
// `open_stream` is given (the call is cancelled when the client goes away), or as one reply.
// A refusal answers `reply` with its error.
//
// A stream whose answer is checked against a schema (`structured`) sends its text once it is
// valid, as one delta: a repair would otherwise replace text the client already has.
using MakeListener = std::function<std::shared_ptr<CallListener>(
    std::shared_ptr<ResponseStream> stream, const std::string& hold_id, bool structured)>;
void run_gateway_call(const std::shared_ptr<MeteredCall>& call, const OpenStream& open_stream,
                      const MakeListener& make, const Reply& reply);

// POST /v1/messages (gateway_anthropic.cc).
void add_anthropic_routes(Router& router, ApiContext& api);

}  // namespace tollgate::server
