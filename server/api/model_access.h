// A project's model providers, ready to call: the demo model, or the project's stored
// credentials for a provider (opened from their sealed form, cached briefly in RuntimeCache).
// Every entry point that calls a model (runtime invoke; the chat-completions gateway) takes its
// providers from here.
#pragma once

#include <memory>
#include <string>

#include "server/ai/model.h"
#include "server/api/api.h"

namespace tollgate::server {

// The provider `name` for `project_id`. Without stored credentials (or a base URL) it is a 502
// that tells the project owner what to set: the caller never sees the key or its absence.
Result<std::unique_ptr<ModelProvider>> model_provider(ApiContext& api,
                                                      const std::string& project_id,
                                                      const std::string& name);

}  // namespace tollgate::server
