#include "server/log/one_time_secrets.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "server/config/data_dir.h"

namespace tollgate::server {
namespace {

Error io_error(const std::string& path, const std::string& what) {
  return fail(ErrorCode::kIoError, "cannot write the one-time secrets file '" + path + "': " + what,
              "--data-dir");
}

Error errno_error(const std::string& path, const char* call) {
  return io_error(path, std::string(call) + ": " + std::strerror(errno));
}

// "2025-01-31T12:00:00Z".
std::string utc_now_text() {
  std::time_t now = std::time(nullptr);
  std::tm parts{};
  char text[32] = "";
  if (gmtime_r(&now, &parts) != nullptr)
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

// Closes the descriptor on every path out.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

Result<void> append_private_file(const std::string& path, std::string_view text) {
  Fd file{::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
                 kOneTimeSecretsFileMode)};
  if (file.fd < 0) return errno_error(path, "open");
  struct stat status {};
  if (::fstat(file.fd, &status) != 0) return errno_error(path, "fstat");
  if (!S_ISREG(status.st_mode)) return io_error(path, "not a regular file");
  if (status.st_uid != ::geteuid()) return io_error(path, "owned by another user");
  // A file left wider by an operator or a restore is tightened before a secret goes in.
  if ((status.st_mode & 0077) != 0 && ::fchmod(file.fd, kOneTimeSecretsFileMode) != 0)
    return errno_error(path, "fchmod");
  while (!text.empty()) {
    ssize_t written = ::write(file.fd, text.data(), text.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return errno_error(path, "write");
    text.remove_prefix(static_cast<size_t>(written));
  }
  if (::fsync(file.fd) != 0) return errno_error(path, "fsync");
  return {};
}

OneTimeSecrets::OneTimeSecrets(std::string data_dir, bool terminal, std::ostream& stderr_out,
                               Logger& log)
    : data_dir_(std::move(data_dir)), terminal_(terminal), stderr_(stderr_out), log_(log) {
  std::filesystem::path file = std::filesystem::path(data_dir_) / kOneTimeSecretsFileName;
  std::error_code ec;
  std::filesystem::path absolute = std::filesystem::absolute(file, ec);
  path_ = (ec ? file : absolute).lexically_normal().string();
}

Result<void> OneTimeSecrets::show(std::string_view what, std::string_view lines) {
  std::string title = "tollgate: " + std::string(what) + " (shown once, store it now)";
  if (terminal_) {
    stderr_ << title << ":\n" << lines << std::flush;
    return {};
  }
  // With PostgreSQL and a configured master key nothing else may have made the directory.
  if (auto dir = secure_data_dir(data_dir_); !dir) return dir.error();
  std::string entry = title + ", written " + utc_now_text() + ":\n" + std::string(lines) +
                      "# Copy it somewhere safe, then delete this file.\n\n";
  if (auto appended = append_private_file(path_, entry); !appended) return appended.error();
  stderr_ << "tollgate: " << what << "; stderr is not a terminal, so the secret (shown once) is in "
          << path_ << "\n"
          << std::flush;
  log_.warn("one_time_secrets_written", {{"what", std::string(what)}, {"path", path_}});
  return {};
}

}  // namespace tollgate::server
