#include "server/api/api.h"
#include "server/api/input.h"
#include "server/auth/crypto.h"

namespace tollgate::server {

Result<std::optional<Idempotency>> idempotency_of(const Request& request, const Caller& caller,
                                                  const json& body) {
  auto header = request.find("idempotency-key");
  if (header == request.end()) return std::optional<Idempotency>();
  std::string_view key = header->value();
  bool printable = !key.empty() && key.size() <= kIdempotencyKeyBytesMax;
  for (unsigned char c : key) printable = printable && c >= 0x21 && c <= 0x7E;
  if (!printable) {
    return fail(ErrorCode::kInvalidArgument,
                "Idempotency-Key must be 1 to " + std::to_string(kIdempotencyKeyBytesMax) +
                    " printable ASCII characters",
                "Idempotency-Key");
  }
  json fields = body;
  fields.erase("key");
  std::string fingerprint = std::string(request.method_string()) + " " +
                            std::string(target_path(request.target())) + "\n" +
                            fields.dump(-1, ' ', false, json::error_handler_t::replace);
  return std::optional<Idempotency>(
      Idempotency{caller.key_id, std::string(key), sha256_hex(fingerprint)});
}

}  // namespace tollgate::server
