#include "tollgate/token/runtime_token.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <map>

#include "vectors.h"

namespace tollgate::token {
namespace {

using testing::from_hex;
using testing::load_vectors;
using testing::outcome;

// The server's signer: HMAC-SHA256 from OpenSSL over the signing input.
Signer hmac_signer(const std::string& key) {
  return [key](std::string_view input) -> Result<std::string> {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &length);
    return std::string(reinterpret_cast<char*>(mac), length);
  };
}

RuntimeClaims claims_from(const nlohmann::json& j) {
  return RuntimeClaims{j["sessionId"],  j["projectId"],
                       j["endUserId"],  j["operations"].get<std::vector<std::string>>(),
                       j["issuedAtMs"], j["expiresAtMs"], j["keyId"]};
}

class RuntimeTokenVectors : public ::testing::Test {
 protected:
  nlohmann::json doc_ = load_vectors("token.json");
  Signer sign_ = hmac_signer(from_hex(doc_["key_hex"]));
};

TEST_F(RuntimeTokenVectors, EncodeMatchesAndDecodesBack) {
  for (const auto& v : doc_["encode"]) {
    RuntimeClaims claims = claims_from(v["claims"]);
    auto token = encode(claims, sign_);
    ASSERT_TRUE(token.ok()) << v["name"] << ": " << token.error().message;
    EXPECT_EQ(token.value(), v["token"].get<std::string>()) << v["name"];
    auto decoded = decode_unverified(token.value());
    ASSERT_TRUE(decoded.ok()) << v["name"];
    EXPECT_EQ(decoded.value(), claims);
  }
}

TEST_F(RuntimeTokenVectors, EncodeRejectsInvalidClaimsNamingTheField) {
  for (const auto& v : doc_["encode_invalid"]) {
    auto token = encode(claims_from(v["claims"]), sign_);
    ASSERT_FALSE(token.ok()) << v["name"];
    EXPECT_EQ(outcome(token), v["error"].get<std::string>()) << v["name"];
    EXPECT_EQ(token.error().param, v["param"].get<std::string>()) << v["name"];
  }
}

TEST_F(RuntimeTokenVectors, DecodeRejectsMalformed) {
  for (const auto& v : doc_["decode_invalid"]) {
    EXPECT_EQ(outcome(decode_unverified(v["token"].get<std::string>())),
              v["error"].get<std::string>())
        << v["name"];
  }
}

TEST_F(RuntimeTokenVectors, VerifyChecksSignatureThenExpiry) {
  for (const auto& v : doc_["verify"]) {
    auto got = verify(v["token"].get<std::string>(), sign_, v["now_ms"].get<int64_t>());
    EXPECT_EQ(outcome(got), v.value("error", std::string("ok"))) << v["name"];
  }
}

TEST_F(RuntimeTokenVectors, KeyedVerifyAgreesWithVerifyOnEveryVector) {
  std::vector<std::string> asked;
  SignerLookup lookup = [&](std::string_view key_id) -> Result<Signer> {
    asked.emplace_back(key_id);
    return sign_;
  };
  for (const auto& v : doc_["verify"]) {
    auto got = verify_keyed(v["token"].get<std::string>(), lookup, v["now_ms"].get<int64_t>());
    EXPECT_EQ(outcome(got), v.value("error", std::string("ok"))) << v["name"];
  }
  EXPECT_FALSE(asked.empty());
}

TEST(RuntimeToken, KeyedVerifyUsesTheKeyItsKidNamesAndPassesALookupFailureOn) {
  std::map<std::string, Signer> keys{{"old", hmac_signer("old secret")},
                                     {"new", hmac_signer("new secret")}};
  SignerLookup lookup = [&](std::string_view key_id) -> Result<Signer> {
    auto found = keys.find(std::string(key_id));
    if (found == keys.end()) return fail(ErrorCode::kTokenSignatureInvalid, "unknown key", "token");
    return found->second;
  };
  for (const std::string kid : {"old", "new"}) {
    RuntimeClaims claims{"s", "proj_1", "u", {"op"}, 1000, 2000, kid};
    auto token = encode(claims, keys[kid]);
    ASSERT_TRUE(token.ok());
    auto verified = verify_keyed(token.value(), lookup, 1500);
    ASSERT_TRUE(verified.ok()) << kid;
    EXPECT_EQ(verified.value().key_id, kid);
    EXPECT_EQ(verify_keyed(token.value(), lookup, 2000).error().code, ErrorCode::kTokenExpired);
  }
  // Signed with the new key but naming the old one: the old key decides, and refuses it.
  RuntimeClaims lying{"s", "proj_1", "u", {"op"}, 1000, 2000, "old"};
  auto forged = encode(lying, keys["new"]);
  ASSERT_TRUE(forged.ok());
  EXPECT_EQ(verify_keyed(forged.value(), lookup, 1500).error().code,
            ErrorCode::kTokenSignatureInvalid);
  RuntimeClaims unknown{"s", "proj_1", "u", {"op"}, 1000, 2000, "gone"};
  auto orphan = encode(unknown, keys["new"]);
  ASSERT_TRUE(orphan.ok());
  EXPECT_EQ(verify_keyed(orphan.value(), lookup, 1500).error().message, "unknown key");
  EXPECT_EQ(verify_keyed("tg_rt_e30.!!", lookup, 1500).error().code, ErrorCode::kTokenMalformed);
}

TEST_F(RuntimeTokenVectors, ScopeGrantsOnlyListedOperations) {
  for (const auto& v : doc_["scope"]) {
    auto claims = decode_unverified(v["token"].get<std::string>());
    ASSERT_TRUE(claims.ok());
    auto got = check_scope(claims.value(), v["operation"].get<std::string>());
    EXPECT_EQ(outcome(got), v.value("error", std::string("ok"))) << v["name"];
  }
}

TEST(RuntimeToken, SignerFailureIsReturnedNotThrown) {
  Signer broken = [](std::string_view) -> Result<std::string> {
    return fail(ErrorCode::kInternal, "no signing key");
  };
  RuntimeClaims claims{"s", "p", "u", {"op"}, 1, 2, "k"};
  auto token = encode(claims, broken);
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.error().message, "no signing key");
}

TEST(RuntimeToken, EmptySignerIsAnErrorNotAnException) {
  RuntimeClaims claims{"s", "p", "u", {"op"}, 1, 2, "k"};
  auto token = encode(claims, Signer{});
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(token.error().param, "signer");
  auto verified = verify("tg_rt_e30.AA", Signer{}, 0);
  ASSERT_FALSE(verified.ok());
  EXPECT_EQ(verified.error().param, "signer");
}

TEST(RuntimeToken, EveryFlippedCharacterIsRejected) {
  Signer sign = hmac_signer("k");
  RuntimeClaims claims{"s", "proj_1", "u", {"op"}, 1000, 2000, "k"};
  auto token = encode(claims, sign);
  ASSERT_TRUE(token.ok());
  for (size_t i = kRuntimeTokenPrefix.size(); i < token.value().size(); ++i) {
    std::string tampered = token.value();
    tampered[i] = tampered[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(verify(tampered, sign, 1500).ok()) << "offset " << i;
  }
  EXPECT_TRUE(verify(token.value(), sign, 1500).ok());
}

}  // namespace
}  // namespace tollgate::token
