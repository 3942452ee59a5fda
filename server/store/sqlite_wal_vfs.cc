#include "server/store/sqlite_wal_vfs.h"

#include <sqlite3.h>

#include <cstring>
#include <new>
#include <string>

namespace tollgate::server {
namespace {

constexpr const char* kVfsName = "tollgate-wal";

sqlite3_vfs* g_root = nullptr;  // the default VFS this one wraps

// Our file object; the wrapped VFS's file follows it in the same allocation.
struct File {
  sqlite3_file base;
  sqlite3_file* real;
  bool coalesce;       // a WAL file
  std::string* pending;  // bytes not yet written, starting at pending_offset
  sqlite3_int64 pending_offset;
};

File* as_file(sqlite3_file* f) { return reinterpret_cast<File*>(f); }

int write_pending(File* f) {
  if (f->pending == nullptr || f->pending->empty()) return SQLITE_OK;
  int rc = f->real->pMethods->xWrite(f->real, f->pending->data(),
                                     static_cast<int>(f->pending->size()), f->pending_offset);
  f->pending->clear();
  return rc;
}

int x_close(sqlite3_file* file) {
  File* f = as_file(file);
  int flushed = write_pending(f);
  int rc = f->real->pMethods->xClose(f->real);
  delete f->pending;
  f->pending = nullptr;
  return flushed != SQLITE_OK ? flushed : rc;
}

int x_read(sqlite3_file* file, void* out, int amount, sqlite3_int64 offset) {
  File* f = as_file(file);
  if (int rc = write_pending(f); rc != SQLITE_OK) return rc;
  return f->real->pMethods->xRead(f->real, out, amount, offset);
}

int x_write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  File* f = as_file(file);
  if (!f->coalesce) return f->real->pMethods->xWrite(f->real, data, amount, offset);
  std::string& pending = *f->pending;
  bool extends = !pending.empty() &&
                 offset == f->pending_offset + static_cast<sqlite3_int64>(pending.size());
  if (!extends || pending.size() + static_cast<size_t>(amount) > kWalBufferBytesMax) {
    if (int rc = write_pending(f); rc != SQLITE_OK) return rc;
    if (static_cast<size_t>(amount) > kWalBufferBytesMax)
      return f->real->pMethods->xWrite(f->real, data, amount, offset);
    f->pending_offset = offset;
  }
  pending.append(static_cast<const char*>(data), static_cast<size_t>(amount));
  return SQLITE_OK;
}

int x_truncate(sqlite3_file* file, sqlite3_int64 size) {
  File* f = as_file(file);
  if (int rc = write_pending(f); rc != SQLITE_OK) return rc;
  return f->real->pMethods->xTruncate(f->real, size);
}

int x_sync(sqlite3_file* file, int flags) {
  File* f = as_file(file);
  if (int rc = write_pending(f); rc != SQLITE_OK) return rc;
  return f->real->pMethods->xSync(f->real, flags);
}

int x_file_size(sqlite3_file* file, sqlite3_int64* size) {
  File* f = as_file(file);
  if (int rc = write_pending(f); rc != SQLITE_OK) return rc;
  return f->real->pMethods->xFileSize(f->real, size);
}

int x_lock(sqlite3_file* file, int level) {
  return as_file(file)->real->pMethods->xLock(as_file(file)->real, level);
}

int x_unlock(sqlite3_file* file, int level) {
  return as_file(file)->real->pMethods->xUnlock(as_file(file)->real, level);
}

int x_check_reserved_lock(sqlite3_file* file, int* out) {
  return as_file(file)->real->pMethods->xCheckReservedLock(as_file(file)->real, out);
}

int x_file_control(sqlite3_file* file, int op, void* arg) {
  File* f = as_file(file);
  if (int rc = write_pending(f); rc != SQLITE_OK) return rc;
  return f->real->pMethods->xFileControl(f->real, op, arg);
}

int x_sector_size(sqlite3_file* file) {
  return as_file(file)->real->pMethods->xSectorSize(as_file(file)->real);
}

int x_device_characteristics(sqlite3_file* file) {
  return as_file(file)->real->pMethods->xDeviceCharacteristics(as_file(file)->real);
}

int x_shm_map(sqlite3_file* file, int page, int page_size, int extend, void volatile** out) {
  return as_file(file)->real->pMethods->xShmMap(as_file(file)->real, page, page_size, extend, out);
}

int x_shm_lock(sqlite3_file* file, int offset, int n, int flags) {
  return as_file(file)->real->pMethods->xShmLock(as_file(file)->real, offset, n, flags);
}

void x_shm_barrier(sqlite3_file* file) {
  as_file(file)->real->pMethods->xShmBarrier(as_file(file)->real);
}

int x_shm_unmap(sqlite3_file* file, int delete_flag) {
  return as_file(file)->real->pMethods->xShmUnmap(as_file(file)->real, delete_flag);
}

// Version 2: no xFetch, so SQLite never maps a file and every read comes through x_read.
const sqlite3_io_methods kMethods = {
    2,           x_close,         x_read,        x_write,       x_truncate,
    x_sync,      x_file_size,     x_lock,        x_unlock,      x_check_reserved_lock,
    x_file_control, x_sector_size, x_device_characteristics, x_shm_map, x_shm_lock,
    x_shm_barrier, x_shm_unmap,   nullptr,       nullptr,
};

int x_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  File* f = as_file(file);
  f->base.pMethods = nullptr;  // SQLite calls xClose only when this is set
  f->real = reinterpret_cast<sqlite3_file*>(f + 1);
  f->coalesce = (flags & SQLITE_OPEN_WAL) != 0;
  f->pending = nullptr;
  f->pending_offset = 0;
  int rc = g_root->xOpen(g_root, name, f->real, flags, out_flags);
  // As other shims do: whenever the wrapped file has methods, SQLite must close it through us,
  // even after a failed open.
  if (f->real->pMethods == nullptr) return rc;
  if (rc == SQLITE_OK && f->real->pMethods->iVersion < 2) {  // no shared memory to pass on
    f->real->pMethods->xClose(f->real);
    return SQLITE_CANTOPEN;
  }
  f->pending = new (std::nothrow) std::string();
  if (f->pending == nullptr) {
    f->real->pMethods->xClose(f->real);
    return SQLITE_NOMEM;
  }
  f->base.pMethods = &kMethods;
  return rc;
}

// Everything that is not about an open file goes to the wrapped VFS.
int x_delete(sqlite3_vfs*, const char* name, int sync_dir) {
  return g_root->xDelete(g_root, name, sync_dir);
}
int x_access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return g_root->xAccess(g_root, name, flags, out);
}
int x_full_pathname(sqlite3_vfs*, const char* name, int size, char* out) {
  return g_root->xFullPathname(g_root, name, size, out);
}
void* x_dl_open(sqlite3_vfs*, const char* name) { return g_root->xDlOpen(g_root, name); }
void x_dl_error(sqlite3_vfs*, int size, char* out) { g_root->xDlError(g_root, size, out); }
void (*x_dl_sym(sqlite3_vfs*, void* handle, const char* symbol))(void) {
  return g_root->xDlSym(g_root, handle, symbol);
}
void x_dl_close(sqlite3_vfs*, void* handle) { g_root->xDlClose(g_root, handle); }
int x_randomness(sqlite3_vfs*, int size, char* out) {
  return g_root->xRandomness(g_root, size, out);
}
int x_sleep(sqlite3_vfs*, int micros) { return g_root->xSleep(g_root, micros); }
int x_current_time(sqlite3_vfs*, double* out) { return g_root->xCurrentTime(g_root, out); }
int x_get_last_error(sqlite3_vfs*, int size, char* out) {
  return g_root->xGetLastError(g_root, size, out);
}
int x_current_time_int64(sqlite3_vfs*, sqlite3_int64* out) {
  return g_root->xCurrentTimeInt64(g_root, out);
}

const char* register_vfs() {
  if (sqlite3_initialize() != SQLITE_OK) return nullptr;
  g_root = sqlite3_vfs_find(nullptr);
  if (g_root == nullptr || g_root->iVersion < 2 || g_root->xCurrentTimeInt64 == nullptr)
    return nullptr;
  static sqlite3_vfs vfs = {};
  vfs.iVersion = 2;
  vfs.szOsFile = static_cast<int>(sizeof(File)) + g_root->szOsFile;
  vfs.mxPathname = g_root->mxPathname;
  vfs.zName = kVfsName;
  vfs.xOpen = x_open;
  vfs.xDelete = x_delete;
  vfs.xAccess = x_access;
  vfs.xFullPathname = x_full_pathname;
  vfs.xDlOpen = x_dl_open;
  vfs.xDlError = x_dl_error;
  vfs.xDlSym = x_dl_sym;
  vfs.xDlClose = x_dl_close;
  vfs.xRandomness = x_randomness;
  vfs.xSleep = x_sleep;
  vfs.xCurrentTime = x_current_time;
  vfs.xGetLastError = x_get_last_error;
  vfs.xCurrentTimeInt64 = x_current_time_int64;
  if (sqlite3_vfs_register(&vfs, /*makeDflt=*/0) != SQLITE_OK) return nullptr;
  return kVfsName;
}

}  // namespace

const char* coalescing_wal_vfs() {
  static const char* name = register_vfs();  // thread-safe once
  return name;
}

}  // namespace tollgate::server
