// Runtime tokens on the server: who a runtime-token request is (the token verified, its project
// found), and the origin rule a feature adds, the one check shared by session minting
// (server/api/runtime.cc) and the runtime routes (server/api/invoke.cc).
#pragma once

#include <string>

#include "server/api/api.h"
#include "server/features/operation.h"
#include "tollgate/token/runtime_token.h"

namespace tollgate::server {

struct RuntimeCaller {
  token::RuntimeClaims claims;
  Project project;
};

// Verifies the runtime token (SigningKeys::verify: the key it names, the signature in constant
// time, the expiry), then finds its project. Every failure is a 401 (param "token") that says
// what to do.
Result<RuntimeCaller> authenticate_runtime(ApiContext& api, const Request& request);

// The request's Origin header, or "" when it sent none (not a browser).
std::string origin_of(const Request& request);

// A feature's own allowedOrigins narrow the project's: from a browser (a non-empty `origin`)
// the feature may be used only from one of them, when it lists any. 403 naming `param`.
Result<void> check_feature_origin(const Operation& op, const std::string& origin,
                                  std::string param);

// The project's feature `slug`, existing and not paused (from the runtime cache).
Result<Operation> project_feature(ApiContext& api, const std::string& project_id,
                                  const std::string& slug);

// The feature a runtime caller may run: granted by the token's scope, existing, usable from
// `origin`, not paused.
Result<Operation> runnable_operation(ApiContext& api, const RuntimeCaller& caller,
                                     const std::string& slug, const std::string& origin);

}  // namespace tollgate::server
