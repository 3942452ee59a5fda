// The data directory's permissions. Tollgate's files there hold key hashes, sealed provider keys
// and the master key, so only the user running Tollgate may read or change them. It lives with
// the configuration (which names the directory) below every layer that writes into it: the
// store, the log's one-time secrets and the master key.
//
// New files are created 0600: the SQLite database by SqliteConnection::open (SQLite would make
// it 0644), its -wal, -shm and -journal files by SQLite with the database's mode, master.key by
// load_master_key, first-start-secrets.txt by OneTimeSecrets (server/log/one_time_secrets.h).
// The directory is created 0700. secure_data_dir() also tightens what an older version, a
// restore or an operator left wider.
#pragma once

#include <sys/types.h>

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "tollgate/core/result.h"

namespace tollgate::server {

inline constexpr mode_t kDataDirMode = 0700;
inline constexpr mode_t kDataFileMode = 0600;

// The files Tollgate writes into the data directory.
inline constexpr std::array<std::string_view, 6> kDataFileNames = {
    "tollgate.db",         "tollgate.db-wal", "tollgate.db-shm",
    "tollgate.db-journal", "master.key",      "first-start-secrets.txt"};

// A permission secure_data_dir() found too wide: changed to `new_mode`, or, when `tightened` is
// false, left alone (`reason` says why) and only reported.
struct ModeChange {
  std::string path;
  mode_t old_mode = 0;
  mode_t new_mode = 0;
  bool tightened = false;
  std::string reason;
};

// Creates `dir` (0700) and its parents when missing. A directory that group or others may use
// is tightened to 0700 when this user owns it and it is not a shared directory (sticky, like
// /tmp); otherwise it is reported. Each of kDataFileNames that exists with any group or other
// permission is tightened to 0600, or reported when that fails. Returns what it found;
// kIoError (param "--data-dir") when the directory cannot be made or is not a directory.
Result<std::vector<ModeChange>> secure_data_dir(const std::string& dir);

// "0644" for 0644.
std::string mode_text(mode_t mode);

}  // namespace tollgate::server
