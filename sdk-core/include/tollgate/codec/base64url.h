// base64url (RFC 4648 section 5) without padding, as used in tokens and key formats.
#pragma once

#include <string>
#include <string_view>

#include "tollgate/core/result.h"

namespace tollgate::codec {

// Encodes bytes as unpadded base64url.
std::string base64url_encode(std::string_view bytes);

// Decodes canonical unpadded base64url. Rejects padding, '+', '/', whitespace, a length of 1
// mod 4, and non-zero trailing bits, so every byte string has exactly one accepted encoding.
Result<std::string> base64url_decode(std::string_view text);

}  // namespace tollgate::codec
