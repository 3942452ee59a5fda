// Secrets the server makes at start and can show only once: the admin token on first start and
// the demo project's keys. Only their hashes are stored, so the operator must copy them now.
//
// They never reach the JSON log on stdout. When stderr is a terminal they are printed there.
// Otherwise stderr is most likely a process supervisor's log (systemd, Docker, Kubernetes), which
// keeps and ships what it gets, so they are appended to a private file in the data directory
// (kOneTimeSecretsFileName, mode 0600) and only that file's path is printed and logged.
//
// Not thread-safe; used once, at start.
#pragma once

#include <sys/types.h>

#include <ostream>
#include <string>
#include <string_view>

#include "server/log/logger.h"
#include "tollgate/core/result.h"

namespace tollgate::server {

inline constexpr std::string_view kOneTimeSecretsFileName = "first-start-secrets.txt";
inline constexpr mode_t kOneTimeSecretsFileMode = 0600;

// Appends `text` to the file at `path` and syncs it. A missing file is created with mode 0600;
// an existing one must be a regular file of this user (a symlink is refused) and is tightened to
// 0600 before anything is written to it. kIoError, naming the path, on any failure.
Result<void> append_private_file(const std::string& path, std::string_view text);

class OneTimeSecrets {
 public:
  // `terminal`: whether `stderr_out` is a terminal (isatty); `data_dir` holds the file otherwise
  // (created 0700 when missing). `log` gets a line with the file's path, never a secret.
  OneTimeSecrets(std::string data_dir, bool terminal, std::ostream& stderr_out, Logger& log);

  // Shows `lines` (each indented, newline-terminated) under the title `what`. kIoError when the
  // file cannot be written: the caller must stop, since the secret would otherwise be lost.
  Result<void> show(std::string_view what, std::string_view lines);

  // The file's path (whether or not anything was written to it).
  const std::string& path() const { return path_; }

 private:
  std::string data_dir_;
  std::string path_;
  bool terminal_;
  std::ostream& stderr_;
  Logger& log_;
};

}  // namespace tollgate::server
