#include "server/store/store.h"

#include <filesystem>
#include <system_error>

#include "server/store/sqlite_store.h"

namespace tollgate::server {

Result<std::unique_ptr<Store>> open_store(const StoreOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(options.data_dir, ec);
  if (ec) {
    return fail(ErrorCode::kIoError,
                "cannot create data directory '" + options.data_dir + "': " + ec.message(),
                "--data-dir");
  }
  if (!fs::is_directory(options.data_dir, ec)) {
    return fail(ErrorCode::kIoError, "data directory '" + options.data_dir + "' is not a directory",
                "--data-dir");
  }
  auto sqlite = SqliteStore::open((fs::path(options.data_dir) / "tollgate.db").string());
  if (!sqlite) return sqlite.error();
  return std::unique_ptr<Store>(std::move(sqlite).value());
}

}  // namespace tollgate::server
