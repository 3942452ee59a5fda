#include "server/auth/secret_box.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "server/auth/crypto.h"
#include "tollgate/codec/base64url.h"

namespace tollgate::server {

namespace {

constexpr std::string_view kSealedPrefix = "tgsb1.";
constexpr size_t kKeyIdBytes = 8;
constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;

using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

Error unreadable(std::string why) {
  return fail(ErrorCode::kInternal, "a stored secret cannot be opened: " + why);
}

std::string to_hex(const SecretBox::Key& key) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (uint8_t byte : key) {
    out += kDigits[byte >> 4];
    out += kDigits[byte & 0xF];
  }
  return out;
}

}  // namespace

SecretBox::SecretBox(const Key& key) : key_(key) {
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(key.data(), key.size(), digest);
  std::memcpy(key_id_.data(), digest, kKeyIdBytes);
}

Result<std::string> SecretBox::seal(std::string_view plaintext, std::string_view associated) const {
  if (plaintext.size() > kSealedPlaintextBytesMax) {
    return fail(ErrorCode::kInvalidArgument,
                "a secret may be at most " + std::to_string(kSealedPlaintextBytesMax) + " bytes");
  }
  std::vector<uint8_t> nonce = random_bytes(kNonceBytes);
  std::string out(kKeyIdBytes + kNonceBytes + plaintext.size() + kTagBytes, '\0');
  auto* bytes = reinterpret_cast<uint8_t*>(out.data());
  std::memcpy(bytes, key_id_.data(), kKeyIdBytes);
  std::memcpy(bytes + kKeyIdBytes, nonce.data(), kNonceBytes);
  uint8_t* cipher = bytes + kKeyIdBytes + kNonceBytes;

  CipherContext ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int length = 0;
  bool ok = ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_.data(),
                                      nonce.data()) == 1;
  ok = ok && EVP_EncryptUpdate(ctx.get(), nullptr, &length,
                               reinterpret_cast<const uint8_t*>(associated.data()),
                               static_cast<int>(associated.size())) == 1;
  ok = ok && EVP_EncryptUpdate(ctx.get(), cipher, &length,
                               reinterpret_cast<const uint8_t*>(plaintext.data()),
                               static_cast<int>(plaintext.size())) == 1;
  ok = ok && EVP_EncryptFinal_ex(ctx.get(), cipher + length, &length) == 1;
  ok = ok && EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes,
                                 cipher + plaintext.size()) == 1;
  if (!ok) return fail(ErrorCode::kInternal, "AES-256-GCM encryption failed");
  std::string sealed(kSealedPrefix);
  sealed += codec::base64url_encode(out);
  return sealed;
}

Result<std::string> SecretBox::open(std::string_view sealed, std::string_view associated) const {
  if (!sealed.starts_with(kSealedPrefix)) return unreadable("unknown format");
  auto decoded = codec::base64url_decode(sealed.substr(kSealedPrefix.size()));
  if (!decoded) return unreadable("unknown format");
  const std::string& raw = decoded.value();
  if (raw.size() < kKeyIdBytes + kNonceBytes + kTagBytes) return unreadable("too short");
  const auto* bytes = reinterpret_cast<const uint8_t*>(raw.data());
  if (std::memcmp(bytes, key_id_.data(), kKeyIdBytes) != 0) {
    return unreadable("it was encrypted under another master key (TOLLGATE_MASTER_KEY or "
                      "<data dir>/master.key)");
  }
  const uint8_t* nonce = bytes + kKeyIdBytes;
  const uint8_t* cipher = nonce + kNonceBytes;
  size_t cipher_bytes = raw.size() - kKeyIdBytes - kNonceBytes - kTagBytes;
  std::array<uint8_t, kTagBytes> tag;
  std::memcpy(tag.data(), cipher + cipher_bytes, kTagBytes);

  std::string plain(cipher_bytes, '\0');
  CipherContext ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int length = 0;
  bool ok = ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_.data(), nonce) == 1;
  ok = ok && EVP_DecryptUpdate(ctx.get(), nullptr, &length,
                               reinterpret_cast<const uint8_t*>(associated.data()),
                               static_cast<int>(associated.size())) == 1;
  ok = ok && EVP_DecryptUpdate(ctx.get(), reinterpret_cast<uint8_t*>(plain.data()), &length,
                               cipher, static_cast<int>(cipher_bytes)) == 1;
  ok = ok && EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) == 1;
  // The tag check happens here: an altered value, or one moved to another row, fails.
  ok = ok && EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<uint8_t*>(plain.data()) + length,
                                 &length) == 1;
  if (!ok) return unreadable("it was altered or belongs elsewhere");
  return plain;
}

Result<SecretBox::Key> load_master_key(const std::optional<std::string>& configured_hex,
                                       const std::string& data_dir) {
  if (configured_hex) return parse_master_key(*configured_hex, "TOLLGATE_MASTER_KEY");
  auto io_error = [&](const std::string& what) {
    return fail(ErrorCode::kIoError, what + ": " + std::strerror(errno), "--data-dir");
  };
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  std::string path = (std::filesystem::path(data_dir) / kMasterKeyFileName).string();
  if (!std::filesystem::exists(path, ec)) {
    // Written whole to a private temporary file, then linked into place: link() fails if the
    // name exists, so two processes starting at once end up sharing one complete key.
    std::string temporary = path + "." + new_id("tmp_");
    int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return io_error("cannot create " + temporary);
    SecretBox::Key key{};
    std::vector<uint8_t> random = random_bytes(kMasterKeyBytes);
    std::copy(random.begin(), random.end(), key.begin());
    std::string text = to_hex(key);
    text += '\n';
    bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                   ::fsync(fd) == 0;
    ::close(fd);
    bool linked = written && ::link(temporary.c_str(), path.c_str()) == 0;
    int link_errno = errno;
    ::unlink(temporary.c_str());
    if (linked) return key;
    errno = link_errno;
    if (!written || errno != EEXIST) return io_error("cannot create " + path);
  }
  std::ifstream file(path);
  std::string text;
  if (!file || !std::getline(file, text)) return io_error("cannot read " + path);
  return parse_master_key(text, path);
}

}  // namespace tollgate::server
