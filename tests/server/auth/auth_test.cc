// Who is calling: keys read from each place a request may carry them, parsed before any lookup,
// looked up in a real SQLite store in a temporary directory, and checked for kind, expiry and
// the project's revocation.
#include "server/auth/auth.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>

#include "server/auth/crypto.h"
#include "tests/support/forwarding_store.h"
#include "tests/support/temp_files.h"

namespace tollgate::server {
namespace {

constexpr int64_t kNow = 1'750'000'000'000;

// The real SQLite store, counting key lookups; `wrong_hash` makes every found record carry
// another key's hash, as a cache or index quirk would.
class CountingStore final : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  Result<std::optional<KeyRecord>> find_key(std::string_view hash) override {
    ++key_lookups;
    auto found = ForwardingStore::find_key(hash);
    if (found.ok() && found.value() && wrong_hash) found.value()->hash = sha256_hex("another key");
    return found;
  }
  std::atomic<int> key_lookups{0};
  bool wrong_hash = false;
};

Request request_with(std::string_view target = "/v1/x") {
  Request request(http::verb::post, target, 11);
  return request;
}

Request bearer(const std::string& key) {
  Request request = request_with();
  request.set(http::field::authorization, "Bearer " + key);
  return request;
}

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = open_store({dir_.path().string(), ""});
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    sqlite_ = std::move(opened).value();
    store_ = std::make_unique<CountingStore>(*sqlite_);
    secret_ = new_api_key("sk");
    publishable_ = new_api_key("pk");
    project_ = make_project("proj_auth", secret_, publishable_);
    other_secret_ = new_api_key("sk");
    make_project("proj_other", other_secret_, new_api_key("pk"));
  }

  Project make_project(const std::string& id, const std::string& secret,
                       const std::string& publishable) {
    Project project;
    project.id = id;
    project.name = id;
    project.created_at_ms = kNow;
    KeyRecord keys[] = {
        {"key_sk_" + id, id, KeyKind::kSecret, sha256_hex(secret), secret.substr(secret.size() - 4),
         std::nullopt, kNow},
        {"key_pk_" + id, id, KeyKind::kPublishable, sha256_hex(publishable),
         publishable.substr(publishable.size() - 4), std::nullopt, kNow},
    };
    EXPECT_TRUE(store_->create_project(project, keys).ok());
    return project;
  }

  // Rolls the project's secret key: the old one stops at `stops_at_ms`; returns the new one.
  std::string roll_secret(int64_t stops_at_ms) {
    std::string next = new_api_key("sk");
    KeyRoll roll;
    roll.project_id = project_.id;
    roll.kind = KeyKind::kSecret;
    roll.rolled_by = "key_sk_" + project_.id;
    roll.new_key = {"key_sk2",    project_.id, KeyKind::kSecret, sha256_hex(next), "next",
                    std::nullopt, kNow};
    roll.now_ms = kNow;
    roll.old_key_expires_at_ms = stops_at_ms;
    auto rolled = store_->roll_key(roll);
    EXPECT_TRUE(rolled.ok()) << rolled.error().message;
    return next;
  }

  Authenticator authenticator(std::optional<std::string> demo = std::nullopt) {
    return Authenticator(*store_, std::move(demo), [this] { return now_ms_; });
  }

  TempDir dir_;
  std::unique_ptr<Store> sqlite_;
  std::unique_ptr<CountingStore> store_;
  Project project_;
  std::string secret_, publishable_, other_secret_;
  int64_t now_ms_ = kNow;
};

// ---- Where the key is read from ---------------------------------------------------------------

TEST(RequestKey, HeaderThenTollgateHeaderThenBodyThenQuery) {
  nlohmann::json body = {{"key", "from_body"}};
  Request request = request_with("/v1/x?key=from_query");
  EXPECT_EQ(request_key(request, nullptr), "from_query");
  EXPECT_EQ(request_key(request, &body), "from_body");
  request.set("x-tollgate-key", "from_header");
  EXPECT_EQ(request_key(request, &body), "from_header");
  request.set(http::field::authorization, "Bearer from_bearer");
  EXPECT_EQ(request_key(request, &body), "from_bearer");
  EXPECT_EQ(request_key(request_with("/v1/x"), nullptr), "");
}

TEST(RequestKey, OnlyAUsableValueCounts) {
  // An empty x-tollgate-key, a body key that is not a string, a body that is not an object:
  // each is skipped, and the next place is read.
  Request request = request_with("/v1/x?other=1&key=sk%5Fq");
  request.set("x-tollgate-key", "");
  nlohmann::json numeric = {{"key", 42}};
  nlohmann::json array = nlohmann::json::array({"key"});
  EXPECT_EQ(request_key(request, &numeric), "sk_q");
  EXPECT_EQ(request_key(request, &array), "sk_q");
}

TEST(BearerToken, TheSchemeIsCaseInsensitiveAndNeedsAToken) {
  Request request = request_with();
  for (const char* header : {"Bearer abc", "bearer abc", "BEARER abc"}) {
    request.set(http::field::authorization, header);
    EXPECT_EQ(bearer_token(request), "abc") << header;
  }
  for (const char* header : {"Bearer ", "Bearer", "Basic abc", "Bearerabc", "Token abc"}) {
    request.set(http::field::authorization, header);
    EXPECT_EQ(bearer_token(request), "") << header;
  }
  EXPECT_EQ(bearer_token(request_with()), "");
}

// ---- Lookup -----------------------------------------------------------------------------------

TEST_F(AuthTest, SecretAndPublishableKeysFromEveryPlace) {
  Authenticator auth = authenticator();
  auto secret = auth.authenticate(bearer(secret_), nullptr, Access::kSecretKey);
  ASSERT_TRUE(secret.ok()) << secret.error().message;
  EXPECT_EQ(secret.value().project.id, project_.id);
  EXPECT_EQ(secret.value().kind, KeyKind::kSecret);
  EXPECT_EQ(secret.value().key_id, "key_sk_proj_auth");
  EXPECT_FALSE(secret.value().key_expires_at_ms);

  Request header = request_with();
  header.set("x-tollgate-key", publishable_);
  auto from_header = auth.authenticate(header, nullptr, Access::kAnyKey);
  ASSERT_TRUE(from_header.ok());
  EXPECT_EQ(from_header.value().kind, KeyKind::kPublishable);
  EXPECT_EQ(from_header.value().key_id, "key_pk_proj_auth");

  nlohmann::json body = {{"key", other_secret_}};
  auto from_body = auth.authenticate(request_with(), &body, Access::kAnyKey);
  ASSERT_TRUE(from_body.ok());
  EXPECT_EQ(from_body.value().project.id, "proj_other");

  auto from_query =
      auth.authenticate(request_with("/v1/x?key=" + publishable_), nullptr, Access::kAnyKey);
  ASSERT_TRUE(from_query.ok());
  EXPECT_EQ(from_query.value().kind, KeyKind::kPublishable);
}

TEST_F(AuthTest, APublishableKeyIsForbiddenWhereTheSecretKeyIsNeeded) {
  Authenticator auth = authenticator();
  auto refused = auth.authenticate(bearer(publishable_), nullptr, Access::kSecretKey);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kForbidden);
  EXPECT_NE(refused.error().message.find("needs the secret key"), std::string::npos);
  EXPECT_TRUE(auth.authenticate(bearer(publishable_), nullptr, Access::kAnyKey).ok());
}

TEST_F(AuthTest, AMalformedKeyIsRefusedBeforeAnyLookup) {
  Authenticator auth = authenticator();
  std::string typo = secret_;
  typo.back() = typo.back() == 'a' ? 'b' : 'a';  // breaks the checksum
  std::string admin = new_api_key("tgadm");      // well formed, but not a project key
  for (const std::string& key : {typo, admin, std::string("sk_short"), std::string("nonsense")}) {
    auto refused = auth.authenticate(bearer(key), nullptr, Access::kAnyKey);
    ASSERT_FALSE(refused.ok()) << key;
    EXPECT_EQ(refused.error().code, ErrorCode::kUnauthenticated);
    EXPECT_EQ(refused.error().message, "malformed API key");
    // The key itself is never repeated back.
    EXPECT_EQ(refused.error().message.find(key), std::string::npos);
  }
  EXPECT_EQ(store_->key_lookups, 0);
}

TEST_F(AuthTest, AWellFormedUnknownKeyIsLookedUpAndRefused) {
  Authenticator auth = authenticator();
  auto refused = auth.authenticate(bearer(new_api_key("sk")), nullptr, Access::kAnyKey);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(refused.error().message, "unknown or revoked API key");
  EXPECT_EQ(store_->key_lookups, 1);
}

TEST_F(AuthTest, AFoundKeyIsCachedAndForgetKeyDropsIt) {
  Authenticator auth = authenticator();
  ASSERT_TRUE(auth.authenticate(bearer(secret_), nullptr, Access::kAnyKey).ok());
  ASSERT_TRUE(auth.authenticate(bearer(secret_), nullptr, Access::kAnyKey).ok());
  EXPECT_EQ(store_->key_lookups, 1);
  auth.forget_key(sha256_hex(secret_));
  ASSERT_TRUE(auth.authenticate(bearer(secret_), nullptr, Access::kAnyKey).ok());
  EXPECT_EQ(store_->key_lookups, 2);
}

TEST_F(AuthTest, AStoredHashThatDiffersIsRefusedByTheConstantTimeCompare) {
  // The lookup found a row by equality; the compare after it still refuses one whose hash is
  // not the presented key's, whatever the index or the cache returned.
  store_->wrong_hash = true;
  Authenticator auth = authenticator();
  auto refused = auth.authenticate(bearer(secret_), nullptr, Access::kAnyKey);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(refused.error().message, "unknown or revoked API key");
  EXPECT_EQ(store_->key_lookups, 1);
  // The record stays cached with its wrong hash: the compare runs on cache hits too.
  EXPECT_FALSE(auth.authenticate(bearer(secret_), nullptr, Access::kAnyKey).ok());
  EXPECT_EQ(store_->key_lookups, 1);
}

// ---- Missing keys and the demo project ----------------------------------------------------------

TEST_F(AuthTest, NoKeyIsRefusedUnlessThereIsADemoProject) {
  auto refused = authenticator().authenticate(request_with(), nullptr, Access::kAnyKey);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnauthenticated);
  EXPECT_NE(refused.error().message.find("no API key"), std::string::npos);

  Authenticator demo = authenticator(project_.id);
  auto caller = demo.authenticate(request_with(), nullptr, Access::kAnyKey);
  ASSERT_TRUE(caller.ok()) << caller.error().message;
  EXPECT_EQ(caller.value().project.id, project_.id);
  EXPECT_EQ(caller.value().kind, KeyKind::kPublishable);
  EXPECT_EQ(caller.value().key_id, "demo");
  // The demo acts as a publishable key, never as the secret one.
  auto secret = demo.authenticate(request_with(), nullptr, Access::kSecretKey);
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.error().code, ErrorCode::kUnauthenticated);
}

TEST_F(AuthTest, AnAuthorizationHeaderThatIsNotBearerNeverFallsBackToTheDemo) {
  Authenticator demo = authenticator(project_.id);
  Request request = request_with("/v1/x?key=" + secret_);
  request.set(http::field::authorization, "Basic " + secret_);
  auto refused = demo.authenticate(request, nullptr, Access::kAnyKey);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnauthenticated);
  EXPECT_NE(refused.error().message.find("'Bearer <key>'"), std::string::npos);
}

// ---- Rolled keys and revoked projects ---------------------------------------------------------

TEST_F(AuthTest, ARolledKeyWorksUntilItsExpiryAndNotFromThen) {
  int64_t stops_at = kNow + 60'000;
  std::string next = roll_secret(stops_at);
  Authenticator auth = authenticator();
  now_ms_ = stops_at - 1;
  auto before = auth.authenticate(bearer(secret_), nullptr, Access::kSecretKey);
  ASSERT_TRUE(before.ok()) << before.error().message;
  EXPECT_EQ(before.value().key_expires_at_ms, stops_at);
  // The same cached record, a millisecond later: the expiry is checked on every call.
  now_ms_ = stops_at;
  auto after = auth.authenticate(bearer(secret_), nullptr, Access::kSecretKey);
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.error().code, ErrorCode::kUnauthenticated);
  EXPECT_NE(after.error().message.find("rolled and stopped working at " + std::to_string(stops_at)),
            std::string::npos);
  EXPECT_EQ(store_->key_lookups, 1);
  auto replacement = auth.authenticate(bearer(next), nullptr, Access::kSecretKey);
  ASSERT_TRUE(replacement.ok());
  EXPECT_EQ(replacement.value().key_id, "key_sk2");
}

TEST_F(AuthTest, AStoppedSecretKeyIsAdmittedOnlyWithinTheRollReplayWindow) {
  int64_t stops_at = kNow;
  roll_secret(stops_at);
  Authenticator auth = authenticator();
  now_ms_ = stops_at + 5'000;
  EXPECT_FALSE(auth.authenticate(bearer(secret_), nullptr, Access::kSecretKey).ok());
  auto within = auth.authenticate_stopped_secret_key(bearer(secret_), nullptr, 5'000);
  ASSERT_TRUE(within.ok()) << within.error().message;
  EXPECT_EQ(within.value().key_expires_at_ms, stops_at);
  auto beyond = auth.authenticate_stopped_secret_key(bearer(secret_), nullptr, 4'999);
  ASSERT_FALSE(beyond.ok());
  EXPECT_EQ(beyond.error().code, ErrorCode::kUnauthenticated);
  // A working publishable key is still not a secret key there.
  auto publishable = auth.authenticate_stopped_secret_key(bearer(publishable_), nullptr, 5'000);
  ASSERT_FALSE(publishable.ok());
  EXPECT_EQ(publishable.error().code, ErrorCode::kForbidden);
}

TEST_F(AuthTest, ARevokedProjectsKeysStopOnceItsCacheEntryIsDropped) {
  Authenticator auth = authenticator();
  ASSERT_TRUE(auth.authenticate(bearer(secret_), nullptr, Access::kAnyKey).ok());
  ASSERT_TRUE(store_->revoke_project(project_.id, kNow + 1).ok());
  // Revoked through "another process": this one still has the project cached (kAuthCacheTtl).
  EXPECT_TRUE(auth.authenticate(bearer(secret_), nullptr, Access::kAnyKey).ok());
  auth.forget_project(project_.id);
  auto refused = auth.authenticate(bearer(secret_), nullptr, Access::kAnyKey);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnauthenticated);
  EXPECT_NE(refused.error().message.find("revoked at " + std::to_string(kNow + 1)),
            std::string::npos);
  // The other project is untouched.
  EXPECT_TRUE(auth.authenticate(bearer(other_secret_), nullptr, Access::kAnyKey).ok());
  auto demo = authenticator(project_.id).authenticate(request_with(), nullptr, Access::kAnyKey);
  EXPECT_FALSE(demo.ok());
}

TEST_F(AuthTest, AnUnknownProjectIsUnauthenticated) {
  auto missing = authenticator().project("proj_missing");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kUnauthenticated);
  EXPECT_NE(missing.error().message.find("no longer exists"), std::string::npos);
}

// ---- The admin token ----------------------------------------------------------------------------

TEST(AdminToken, MatchesOnlyTheTokenWhoseHashIsStored) {
  std::string token = new_api_key("tgadm");
  std::string stored = sha256_hex(token);
  EXPECT_TRUE(admin_token_matches(token, stored));
  std::string typo = token;
  typo[10] = typo[10] == 'x' ? 'y' : 'x';
  EXPECT_FALSE(admin_token_matches(typo, stored));
  EXPECT_FALSE(admin_token_matches(token + "x", stored));
  EXPECT_FALSE(admin_token_matches("", stored));
  // The stored value is a hash: the token itself in its place does not match.
  EXPECT_FALSE(admin_token_matches(token, token));
  EXPECT_FALSE(admin_token_matches(token, stored.substr(0, 63)));
}

TEST(WallClock, IsUnixMilliseconds) {
  int64_t now = wall_clock_ms();
  EXPECT_GT(now, int64_t{1'700'000'000'000});  // after November 2023
  EXPECT_LT(now, int64_t{4'100'000'000'000});  // before 2100
}

}  // namespace
}  // namespace tollgate::server
