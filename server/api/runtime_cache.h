// What a runtime call looks up on every request, kept briefly per process: features by
// (project, slug) and provider credentials by (project, name), with the key already unsealed.
//
// Entries live kRuntimeCacheTtl, the same window as the key cache (server/auth/auth.h): a change
// made through this process applies at once (the writer calls forget_*), one made through
// another process on the same database within the TTL. At most kRuntimeCacheEntriesMax entries
// per map; a full map is emptied rather than grown. Thread-safe.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "server/ai/http_provider.h"
#include "server/features/operation.h"

namespace tollgate::server {

inline constexpr std::chrono::seconds kRuntimeCacheTtl{2};
inline constexpr size_t kRuntimeCacheEntriesMax = 10'000;

class RuntimeCache {
 public:
  // A stored feature, or nullopt for "no such feature" (also cached, so a flood of calls to a
  // deleted feature does not reach the store).
  using FeatureLookup = std::function<Result<std::optional<Operation>>()>;
  Result<std::optional<Operation>> feature(const std::string& project_id, const std::string& slug,
                                           const FeatureLookup& load);
  void forget_feature(const std::string& project_id, const std::string& slug);

  using ProviderLookup = std::function<Result<std::optional<ProviderCredentials>>()>;
  Result<std::optional<ProviderCredentials>> provider(const std::string& project_id,
                                                      const std::string& name,
                                                      const ProviderLookup& load);
  void forget_provider(const std::string& project_id, const std::string& name);

 private:
  template <typename T>
  struct Entry {
    std::optional<T> value;
    std::chrono::steady_clock::time_point expires;
  };
  template <typename T, typename Load>
  Result<std::optional<T>> get(std::unordered_map<std::string, Entry<T>>& map,
                               const std::string& key, const Load& load);

  std::mutex mutex_;
  std::unordered_map<std::string, Entry<Operation>> features_;
  std::unordered_map<std::string, Entry<ProviderCredentials>> providers_;
};

}  // namespace tollgate::server
