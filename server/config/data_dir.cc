#include "server/config/data_dir.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace tollgate::server {
namespace {

constexpr mode_t kPermissionBits = 07777;
constexpr mode_t kGroupAndOther = 0077;

Error io_error(const std::string& message) {
  return fail(ErrorCode::kIoError, message, "--data-dir");
}

// Tightens `path` to `mode` if group or others have any permission; records what it did.
void tighten(const std::string& path, const struct stat& status, mode_t mode,
             std::vector<ModeChange>& changes) {
  mode_t old_mode = status.st_mode & kPermissionBits;
  if ((old_mode & kGroupAndOther) == 0) return;
  ModeChange change{path, old_mode, mode, false, ""};
  if (::chmod(path.c_str(), mode) == 0) {
    change.tightened = true;
  } else {
    change.new_mode = old_mode;
    change.reason = std::string("chmod failed: ") + std::strerror(errno);
  }
  changes.push_back(std::move(change));
}

}  // namespace

std::string mode_text(mode_t mode) {
  std::string text = "0000";
  for (int i = 3; i >= 0; --i, mode >>= 3)
    text[static_cast<size_t>(i)] = static_cast<char>('0' + (mode & 7));
  return text;
}

Result<std::vector<ModeChange>> secure_data_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    fs::path parent = fs::path(dir).parent_path();
    if (!parent.empty()) fs::create_directories(parent, ec);
    if (ec) return io_error("cannot create data directory '" + dir + "': " + ec.message());
    // The umask can only narrow 0700 further. Another process may have made it meanwhile.
    if (::mkdir(dir.c_str(), kDataDirMode) != 0 && errno != EEXIST)
      return io_error("cannot create data directory '" + dir + "': " + std::strerror(errno));
  }
  struct stat status {};
  if (::stat(dir.c_str(), &status) != 0)
    return io_error("cannot read data directory '" + dir + "': " + std::strerror(errno));
  if (!S_ISDIR(status.st_mode)) return io_error("data directory '" + dir + "' is not a directory");
  std::vector<ModeChange> changes;
  mode_t dir_mode = status.st_mode & kPermissionBits;
  if ((dir_mode & kGroupAndOther) != 0) {
    // A shared directory (/tmp) or someone else's is not ours to close: say so instead.
    if ((dir_mode & S_ISVTX) != 0 || status.st_uid != ::geteuid()) {
      changes.push_back({dir, dir_mode, dir_mode, false,
                         "a shared directory, or owned by another user: use a private one"});
    } else {
      tighten(dir, status, kDataDirMode, changes);
    }
  }
  for (std::string_view name : kDataFileNames) {
    std::string path = (fs::path(dir) / name).string();
    struct stat file {};
    if (::stat(path.c_str(), &file) == 0 && S_ISREG(file.st_mode))
      tighten(path, file, kDataFileMode, changes);
  }
  return changes;
}

}  // namespace tollgate::server
