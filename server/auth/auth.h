// Who is calling: resolves the API key in a request to its project and key kind.
//
// The key is read from `Authorization: Bearer …`, then `x-tollgate-key`, then a "key" field in
// the JSON body, then `?key=`. A malformed key is refused before any lookup; a well-formed one
// is looked up by its SHA-256. Found keys and projects are cached briefly (kAuthCacheTtl), so
// the hot path does no store read; a settings change made through this process applies at once,
// one made through another process within kAuthCacheTtl.
//
// A rolled key works until its expiry, checked on every call against the wall clock (so a
// cached key stops on time too); a key rolled or a project revoked through another process
// stops here within kAuthCacheTtl, once the cached record is reread.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>

#include "server/http/types.h"
#include "server/store/store.h"

namespace tollgate::server {

inline constexpr std::chrono::seconds kAuthCacheTtl{2};
// User keys are cached for less: a revoke through any process stops a key everywhere within a
// second. (Spending never trusts the cache: the ledger rereads the key under its lock.)
inline constexpr std::chrono::milliseconds kUserKeyCacheTtl{500};
inline constexpr std::string_view kUserKeyPrefix = "tgk";
inline constexpr size_t kAuthCacheEntriesMax = 10'000;

// The key kinds an endpoint accepts.
enum class Access { kAnyKey, kSecretKey };

struct Caller {
  Project project;
  KeyKind kind = KeyKind::kPublishable;
  std::string key_id;  // the idempotency scope; "demo" for a keyless demo call
  std::optional<int64_t> key_expires_at_ms;  // the key was rolled and stops at this time
};

// A request made with a user key (tgk_…).
struct UserKeyCaller {
  Project project;
  UserKey key;
};

// The wall clock, in Unix milliseconds.
int64_t wall_clock_ms();

class Authenticator {
 public:
  // With `demo_project_id`, a request without any key acts as that project's publishable key.
  // `now_ms` is the wall clock key expiries are checked against.
  Authenticator(Store& store, std::optional<std::string> demo_project_id,
                std::function<int64_t()> now_ms = wall_clock_ms)
      : store_(store), demo_project_id_(std::move(demo_project_id)), now_ms_(std::move(now_ms)) {}

  // kUnauthenticated (401) for a missing, malformed, unknown or stopped (rolled and expired)
  // key, or a key of a revoked project; kForbidden (403) when the endpoint needs the secret key
  // and got the publishable one.
  Result<Caller> authenticate(const Request& request, const nlohmann::json* body, Access access);

  // As authenticate(request, body, Access::kSecretKey), but also admits a secret key that was
  // rolled and stopped at most `stopped_within_ms` ago. Such a key may do one thing only: replay
  // the roll that stopped it (server/api/projects.cc), so a client whose answer was lost can
  // still learn its new key.
  Result<Caller> authenticate_stopped_secret_key(const Request& request, const nlohmann::json* body,
                                                 int64_t stopped_within_ms);

  // A user key from `Authorization: Bearer`, `x-api-key` (as Anthropic's clients send it), or
  // the other places request_key() reads. 401 for a missing, malformed (checked before any
  // lookup), unknown, revoked or expired key, a previous secret past its grace period, or a
  // key of a revoked project.
  Result<UserKeyCaller> authenticate_user_key(const Request& request, const nlohmann::json* body);

  // Makes keyless requests act as this project's publishable key. Call before serving.
  void set_demo_project(std::string id) { demo_project_id_ = std::move(id); }

  // The project, from the cache when fresh; kUnauthenticated once it was revoked.
  Result<Project> project(const std::string& id);
  // Drop a project or a key (by its SHA-256) from the cache, so a change made through this
  // process applies here at once.
  void forget_project(const std::string& id);
  void forget_key(const std::string& hash);
  // Drops every cached user key: after a change through this process (revoke, roll, patch).
  void forget_user_keys();

 private:
  Result<Caller> authenticate_key(const Request& request, const nlohmann::json* body, Access access,
                                  int64_t stopped_within_ms);
  Result<KeyRecord> find_key(const std::string& key);

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
  std::function<int64_t()> now_ms_;
  std::mutex mutex_;
  std::unordered_map<std::string, CachedKey> keys_;  // by SHA-256
  std::unordered_map<std::string, CachedProject> projects_;
  struct CachedUserKey {
    UserKey key;
    std::chrono::steady_clock::time_point expires;
    bool refreshing = false;  // a request is rereading it from the store
  };
  std::unordered_map<std::string, CachedUserKey> user_keys_;  // by SHA-256
};

// The token in `Authorization: Bearer <token>`; empty if none.
std::string_view bearer_token(const Request& request);

// The key a request carries, from the first place that has one; empty if none.
std::string request_key(const Request& request, const nlohmann::json* body);

// The key a user-key request carries: request_key()'s, else `x-api-key` (Anthropic's clients).
std::string user_key_of(const Request& request, const nlohmann::json* body);

// Checks a presented admin token against the stored SHA-256, in constant time.
bool admin_token_matches(std::string_view presented, std::string_view stored_hash);

}  // namespace tollgate::server
