// The metered call for a feature, as runtime invoke and the gateway's "tollgate/<slug>" models
// make it: the feature's model, fallback, price, response format and invocation limits; and
// the one way every route prepares a metered call, with the server's dependencies and the
// project's provider credentials.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "server/api/api.h"
#include "server/calls/metered_call.h"
#include "server/features/operation.h"

namespace tollgate::server {

// The start of the UTC month holding `now_ms`.
int64_t utc_month_start(int64_t now_ms);

// The plan for running `op` for `user_id` of `project_id` on `messages` (its system prompt
// first). kInternal when the feature's response format no longer compiles.
Result<MeteredCallPlan> feature_plan(ApiContext& api, const std::string& project_id,
                                     const std::string& user_id, const Operation& op,
                                     std::vector<ChatMessage> messages, bool stream);

// MeteredCall::prepare with the server's dependencies, resolving providers from the project's
// credentials.
Result<std::shared_ptr<MeteredCall>> prepare_metered_call(ApiContext& api, MeteredCallPlan plan);

}  // namespace tollgate::server
