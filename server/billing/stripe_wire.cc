#include "server/billing/stripe_wire.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <vector>

#include "tollgate/core/bytes.h"

namespace tollgate::server {
namespace {

using json = nlohmann::json;

std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || c == '.' || c == '~';
    if (plain) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

void encode_into(const json& value, const std::string& name, std::vector<std::string>& pairs) {
  if (value.is_object()) {
    for (const auto& [key, item] : value.items()) {
      encode_into(item, name.empty() ? key : name + "[" + key + "]", pairs);
    }
  } else if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) {
      encode_into(value[i], name + "[" + std::to_string(i) + "]", pairs);
    }
  } else if (!value.is_null()) {
    std::string text = value.is_string()    ? value.get<std::string>()
                       : value.is_boolean() ? (value.get<bool>() ? "true" : "false")
                                            : value.dump();
    std::string pair = percent_encode(name);
    pair.append("=").append(percent_encode(text));
    pairs.push_back(std::move(pair));
  }
}

Error signature_refused(std::string why) {
  return fail(ErrorCode::kInvalidArgument, "Stripe-Signature " + why, "Stripe-Signature");
}

}  // namespace

std::string form_encode(const json& params) {
  std::vector<std::string> pairs;
  encode_into(params, "", pairs);
  std::string body;
  for (const std::string& pair : pairs) {
    if (!body.empty()) body += '&';
    body += pair;
  }
  return body;
}

std::string stripe_signature(std::string_view payload, std::string_view secret, int64_t t) {
  std::string signed_text = std::to_string(t);
  signed_text.append(".").append(payload);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signed_text.data()), signed_text.size(), mac,
       &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[mac[i] >> 4];
    hex += kHex[mac[i] & 15];
  }
  return hex;
}

Result<void> verify_stripe_signature(std::string_view header, std::string_view payload,
                                     std::string_view secret, int64_t now_s) {
  if (header.empty()) return signature_refused("is missing");
  if (header.size() > kSignatureHeaderBytesMax) return signature_refused("is too long");
  if (secret.empty()) return signature_refused("cannot be checked: no webhook secret is set");
  std::optional<int64_t> timestamp;
  std::vector<std::string_view> signatures;
  while (!header.empty()) {
    size_t comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    size_t equals = item.find('=');
    if (equals == std::string_view::npos) continue;
    std::string_view key = item.substr(0, equals);
    std::string_view value = item.substr(equals + 1);
    if (key == "t") {
      int64_t t = 0;
      if (value.empty() || value.size() > 12) return signature_refused("has a malformed timestamp");
      for (char c : value) {
        if (c < '0' || c > '9') return signature_refused("has a malformed timestamp");
        t = t * 10 + (c - '0');
      }
      timestamp = t;
    } else if (key == "v1") {
      signatures.push_back(value);
    }
  }
  if (!timestamp) return signature_refused("has no timestamp");
  if (signatures.empty()) return signature_refused("has no v1 signature");
  // Bounds around the timestamp, not now: t has at most 12 digits, so t ± the tolerance cannot
  // overflow, while now_s ± it can (now_s is any int64).
  if (now_s < *timestamp - kSignatureToleranceSeconds ||
      now_s > *timestamp + kSignatureToleranceSeconds) {
    return signature_refused("timestamp is outside the tolerance of 300 seconds");
  }
  std::string expected = stripe_signature(payload, secret, *timestamp);
  // An HMAC that failed leaves nothing to compare; an empty v1 must never match it.
  if (expected.empty()) return signature_refused("cannot be checked");
  bool matched = false;
  for (std::string_view signature : signatures) {
    matched |= constant_time_equal(signature, expected);  // every one, no early exit
  }
  if (!matched) return signature_refused("does not match the payload");
  return {};
}

}  // namespace tollgate::server
