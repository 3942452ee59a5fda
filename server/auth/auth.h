// Who is calling: resolves the API key in a request to its project and key kind.
//
// The key is read from `Authorization: Bearer …`, then `x-tollgate-key`, then a "key" field in
// the JSON body, then `?key=`. A malformed key is refused before any lookup; a well-formed one
// is looked up by its SHA-256. Found keys and projects are cached briefly (kAuthCacheTtl), so
// the hot path does no store read; a settings change made through this process applies at once,
// one made through another process within kAuthCacheTtl.
#pragma once

#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>

#include "server/http/types.h"
#include "server/store/store.h"

namespace tollgate::server {

inline constexpr std::chrono::seconds kAuthCacheTtl{2};
inline constexpr size_t kAuthCacheEntriesMax = 10'000;

// The key kinds an endpoint accepts.
enum class Access { kAnyKey, kSecretKey };

struct Caller {
  Project project;
  KeyKind kind = KeyKind::kPublishable;
  std::string key_id;  // the idempotency scope; "demo" for a keyless demo call
};

class Authenticator {
 public:
  // With `demo_project_id`, a request without any key acts as that project's publishable key.
  Authenticator(Store& store, std::optional<std::string> demo_project_id)
      : store_(store), demo_project_id_(std::move(demo_project_id)) {}

  // kUnauthenticated (401) for a missing, malformed or unknown key; kForbidden (403) when the
  // endpoint needs the secret key and got the publishable one.
  Result<Caller> authenticate(const Request& request, const nlohmann::json* body, Access access);

  // Makes keyless requests act as this project's publishable key. Call before serving.
  void set_demo_project(std::string id) { demo_project_id_ = std::move(id); }

  // The project, from the cache when fresh.
  Result<Project> project(const std::string& id);
  void forget_project(const std::string& id);

 private:
  struct CachedKey {
    KeyRecord record;
    std::chrono::steady_clock::time_point expires;
  };
  struct CachedProject {
    Project project;
    std::chrono::steady_clock::time_point expires;
  };

  Store& store_;
  std::optional<std::string> demo_project_id_;
  std::mutex mutex_;
  std::unordered_map<std::string, CachedKey> keys_;  // by SHA-256
  std::unordered_map<std::string, CachedProject> projects_;
};

// The token in `Authorization: Bearer <token>`; empty if none.
std::string_view bearer_token(const Request& request);

// The key a request carries, from the first place that has one; empty if none.
std::string request_key(const Request& request, const nlohmann::json* body);

// Checks a presented admin token against the stored SHA-256, in constant time.
bool admin_token_matches(std::string_view presented, std::string_view stored_hash);

}  // namespace tollgate::server
