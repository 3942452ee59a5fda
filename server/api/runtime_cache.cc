#include "server/api/runtime_cache.h"

namespace tollgate::server {
namespace {

std::string cache_key(const std::string& project_id, const std::string& name) {
  std::string key = project_id;
  key += '\0';
  key += name;
  return key;
}

}  // namespace

template <typename T, typename Load>
Result<std::optional<T>> RuntimeCache::get(std::unordered_map<std::string, Entry<T>>& map,
                                           const std::string& key, const Load& load) {
  auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mutex_);
    auto found = map.find(key);
    if (found != map.end() && found->second.expires > now) return found->second.value;
  }
  // Loaded outside the lock: two callers may both load, and the later one's entry stays.
  auto loaded = load();
  if (!loaded) return loaded.error();  // a store error is never cached
  std::lock_guard lock(mutex_);
  if (map.size() >= kRuntimeCacheEntriesMax) map.clear();
  map[key] = Entry<T>{loaded.value(), now + kRuntimeCacheTtl};
  return loaded.value();
}

Result<std::optional<Operation>> RuntimeCache::feature(const std::string& project_id,
                                                       const std::string& slug,
                                                       const FeatureLookup& load) {
  return get(features_, cache_key(project_id, slug), load);
}

void RuntimeCache::forget_feature(const std::string& project_id, const std::string& slug) {
  std::lock_guard lock(mutex_);
  features_.erase(cache_key(project_id, slug));
}

Result<std::optional<ProviderCredentials>> RuntimeCache::provider(const std::string& project_id,
                                                                  const std::string& name,
                                                                  const ProviderLookup& load) {
  return get(providers_, cache_key(project_id, name), load);
}

void RuntimeCache::forget_provider(const std::string& project_id, const std::string& name) {
  std::lock_guard lock(mutex_);
  providers_.erase(cache_key(project_id, name));
}

}  // namespace tollgate::server
