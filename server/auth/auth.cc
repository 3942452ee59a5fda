#include "server/auth/auth.h"

#include <cctype>

#include "server/auth/crypto.h"
#include "server/http/query.h"
#include "tollgate/core/bytes.h"
#include "tollgate/keys/api_key.h"

namespace tollgate::server {

std::string_view bearer_token(const Request& request) {
  auto header = request.find(http::field::authorization);
  if (header == request.end()) return {};
  std::string_view value(header->value().data(), header->value().size());
  // The scheme is case-insensitive (RFC 7235): "Bearer", "bearer" and "BEARER" all count.
  constexpr std::string_view kScheme = "bearer ";
  if (value.size() <= kScheme.size()) return {};
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(value[i])) != kScheme[i]) return {};
  }
  return value.substr(kScheme.size());
}

std::string request_key(const Request& request, const nlohmann::json* body) {
  if (std::string_view key = bearer_token(request); !key.empty()) return std::string(key);
  if (auto header = request.find("x-tollgate-key"); header != request.end()) {
    if (!header->value().empty()) return std::string(header->value());
  }
  if (body != nullptr && body->is_object()) {
    auto field = body->find("key");
    if (field != body->end() && field->is_string()) return field->get<std::string>();
  }
  auto query = parse_query(request.target());
  if (auto key = query.find("key"); key != query.end()) return key->second;
  return {};
}

std::string user_key_of(const Request& request, const nlohmann::json* body) {
  std::string key = request_key(request, body);
  if (!key.empty()) return key;
  auto header = request.find("x-api-key");
  return header == request.end() ? std::string() : std::string(header->value());
}

bool admin_token_matches(std::string_view presented, std::string_view stored_hash) {
  return constant_time_equal(sha256_hex(presented), stored_hash);
}

int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<Caller> Authenticator::authenticate(const Request& request, const nlohmann::json* body,
                                           Access access) {
  return authenticate_key(request, body, access, 0);
}

Result<Caller> Authenticator::authenticate_stopped_secret_key(const Request& request,
                                                              const nlohmann::json* body,
                                                              int64_t stopped_within_ms) {
  return authenticate_key(request, body, Access::kSecretKey, stopped_within_ms);
}

Result<Caller> Authenticator::authenticate_key(const Request& request, const nlohmann::json* body,
                                               Access access, int64_t stopped_within_ms) {
  if (request.find(http::field::authorization) != request.end() && bearer_token(request).empty()) {
    // Never fall back to the demo project for a key sent the wrong way.
    return fail(ErrorCode::kUnauthenticated, "the Authorization header must be 'Bearer <key>'");
  }
  std::string key = request_key(request, body);
  if (key.empty()) {
    if (!demo_project_id_) {
      return fail(ErrorCode::kUnauthenticated,
                  "no API key: send it as 'Authorization: Bearer <key>'");
    }
    if (access == Access::kSecretKey) {
      return fail(ErrorCode::kUnauthenticated, "this endpoint needs the project's secret key");
    }
    auto demo = project(*demo_project_id_);
    if (!demo) return demo.error();
    return Caller{std::move(demo).value(), KeyKind::kPublishable, "demo", std::nullopt};
  }
  auto found = find_key(key);
  if (!found) return found.error();
  const KeyRecord& record = found.value();
  if (record.expires_at_ms) {
    int64_t now = now_ms_();
    bool stopped = now >= *record.expires_at_ms;
    bool admitted = !stopped || (stopped_within_ms > 0 && record.kind == KeyKind::kSecret &&
                                 now - *record.expires_at_ms <= stopped_within_ms);
    if (!admitted) {
      return fail(ErrorCode::kUnauthenticated, "this API key was rolled and stopped working at " +
                                                   std::to_string(*record.expires_at_ms) +
                                                   " (Unix ms); use the key that replaced it");
    }
  }
  if (access == Access::kSecretKey && record.kind != KeyKind::kSecret) {
    return fail(ErrorCode::kForbidden, "this endpoint needs the secret key (sk_…), not pk_…");
  }
  auto owner = project(record.project_id);
  if (!owner) return owner.error();
  return Caller{std::move(owner).value(), record.kind, record.id, record.expires_at_ms};
}

Result<KeyRecord> Authenticator::find_key(const std::string& key) {
  auto prefix = keys::parse_key(key);
  if (!prefix || (prefix.value() != "pk" && prefix.value() != "sk")) {
    return fail(ErrorCode::kUnauthenticated, "malformed API key");
  }
  std::string hash = sha256_hex(key);
  auto now = std::chrono::steady_clock::now();
  std::optional<KeyRecord> record;
  {
    std::lock_guard lock(mutex_);
    if (auto cached = keys_.find(hash); cached != keys_.end() && cached->second.expires > now)
      record = cached->second.record;
  }
  if (!record) {
    auto found = store_.find_key(hash);
    if (!found) return found.error();
    if (!found.value()) return fail(ErrorCode::kUnauthenticated, "unknown or revoked API key");
    record = *found.value();
    std::lock_guard lock(mutex_);
    if (keys_.size() >= kAuthCacheEntriesMax) keys_.clear();
    keys_[hash] = {*record, now + kAuthCacheTtl};
  }
  // The stored hash was found by equality in the database; comparing once more here in
  // constant time keeps a cache or index quirk from ever admitting a different key.
  if (!constant_time_equal(record->hash, hash)) {
    return fail(ErrorCode::kUnauthenticated, "unknown or revoked API key");
  }
  return *std::move(record);
}

Result<UserKeyCaller> Authenticator::authenticate_user_key(const Request& request,
                                                           const nlohmann::json* body) {
  std::string key = user_key_of(request, body);
  if (key.empty()) {
    return fail(ErrorCode::kUnauthenticated,
                "no API key: send the user key as 'Authorization: Bearer tgk_…'");
  }
  auto prefix = keys::parse_key(key);
  if (!prefix) return prefix.error();
  if (prefix.value() != kUserKeyPrefix) {
    return fail(ErrorCode::kUnauthenticated,
                "this endpoint takes a user key (tgk_…); create one with POST /v1/keys");
  }
  std::string hash = sha256_hex(key);
  auto now = std::chrono::steady_clock::now();
  std::optional<UserKey> found;
  bool refresh = true;
  {
    // One request rereads an expired entry; those arriving meanwhile use it as it was, for at
    // most that read's time more, rather than all reading the store at once.
    std::lock_guard lock(mutex_);
    if (auto cached = user_keys_.find(hash); cached != user_keys_.end()) {
      CachedUserKey& entry = cached->second;
      if (entry.expires > now || entry.refreshing) {
        found = entry.key;
        refresh = false;
      } else {
        entry.refreshing = true;
      }
    }
  }
  if (refresh) {
    auto stored = store_.find_user_key(hash);
    std::lock_guard lock(mutex_);
    if (!stored || !stored.value()) {
      user_keys_.erase(hash);
      if (!stored) return stored.error();
      return fail(ErrorCode::kUnauthenticated, "unknown API key");
    }
    found = *stored.value();
    if (user_keys_.size() >= kAuthCacheEntriesMax) user_keys_.clear();
    user_keys_[hash] = {*found, now + kUserKeyCacheTtl, false};
  }
  int64_t wall = now_ms_();
  bool current = constant_time_equal(found->hash, hash);
  bool previous =
      !current && !found->previous_hash.empty() && constant_time_equal(found->previous_hash, hash);
  if (!current && !previous) return fail(ErrorCode::kUnauthenticated, "unknown API key");
  if (previous && (!found->previous_expires_at_ms || *found->previous_expires_at_ms <= wall)) {
    return fail(ErrorCode::kUnauthenticated,
                "this key was rolled and its old secret no longer works; use the new secret");
  }
  if (found->revoked_at_ms) return fail(ErrorCode::kUnauthenticated, "this key was revoked");
  if (found->expires_at_ms && *found->expires_at_ms <= wall) {
    return fail(ErrorCode::kUnauthenticated,
                "this key expired at " + std::to_string(*found->expires_at_ms) + " (Unix ms)");
  }
  auto owner = project(found->project_id);
  if (!owner) return owner.error();
  return UserKeyCaller{std::move(owner).value(), *std::move(found)};
}

void Authenticator::forget_user_keys() {
  std::lock_guard lock(mutex_);
  user_keys_.clear();
}

Result<Project> Authenticator::project(const std::string& id) {
  auto now = std::chrono::steady_clock::now();
  std::optional<Project> found;
  {
    std::lock_guard lock(mutex_);
    if (auto cached = projects_.find(id); cached != projects_.end() && cached->second.expires > now)
      found = cached->second.project;
  }
  if (!found) {
    auto stored = store_.get_project(id);
    if (!stored) return stored.error();
    if (!stored.value())
      return fail(ErrorCode::kUnauthenticated, "the key's project no longer exists");
    found = *stored.value();
    std::lock_guard lock(mutex_);
    if (projects_.size() >= kAuthCacheEntriesMax) projects_.clear();
    projects_[id] = {*found, now + kAuthCacheTtl};
  }
  if (found->revoked_at_ms) {
    return fail(ErrorCode::kUnauthenticated,
                "this project was revoked at " + std::to_string(*found->revoked_at_ms) +
                    " (Unix ms); its keys and runtime tokens no longer work");
  }
  return *std::move(found);
}

void Authenticator::forget_project(const std::string& id) {
  std::lock_guard lock(mutex_);
  projects_.erase(id);
}

void Authenticator::forget_key(const std::string& hash) {
  std::lock_guard lock(mutex_);
  keys_.erase(hash);
}

}  // namespace tollgate::server
