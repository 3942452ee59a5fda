// An SQLite VFS that writes a transaction's WAL frames with one system call.
//
// SQLite appends each WAL frame with two writes (its 24-byte header, then the page), so a commit
// that dirties N pages costs 2N pwrite calls before its fsync; on a virtual machine each call
// is expensive, and with many accounts a ledger batch dirties a few pages per command. This VFS
// wraps the default one and, for WAL files only, collects writes that extend the previous one
// into a buffer, written with a single pwrite before anything that must see them: a sync (every
// commit syncs at synchronous=FULL), a read, a truncate, a size query, a file control, a
// non-adjacent write, or close. Other files pass straight through.
//
// Why this is safe: other connections only read frames that a commit published in the WAL index,
// and SQLite publishes them after the commit's sync, which writes the buffer first. So the
// buffer must never hold a committed frame past its commit, which is why it requires
// synchronous=FULL (or EXTRA): at NORMAL a commit does not sync, and a reader could be sent to
// frames not yet written. SqliteConnection always opens with FULL.
//
// Limits: a buffer holds at most kWalBufferBytesMax, and a longer run of frames is written in
// pieces of about that size: SQLite's unix VFS takes at most 128 KiB per write call.
#pragma once

#include <cstddef>

namespace tollgate::server {

inline constexpr size_t kWalBufferBytesMax = size_t{96} << 10;

// Registers the VFS (once, thread-safe) and returns its name for sqlite3_open_v2, or nullptr
// when registration failed (then the default VFS is used).
const char* coalescing_wal_vfs();

}  // namespace tollgate::server
