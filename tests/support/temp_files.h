// Throwaway files for tests that need real ones: a directory, or an SQLite database path, each
// removed (with SQLite's -wal and -shm companions) when it goes out of scope.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

namespace tollgate::server {

class TempDir {
 public:
  TempDir()
      : path_(std::filesystem::temp_directory_path() /
              ("tollgate-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++))) {
    std::filesystem::remove_all(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

// A database file path that is removed, with its WAL and shared-memory files, on scope exit.
class TempDb {
 public:
  const std::string& path() const { return path_; }
  void remove() const {
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path_ + suffix);
  }
  ~TempDb() { remove(); }

 private:
  TempDir dir_;
  std::string path_ = dir_.path().string() + ".db";
};

}  // namespace tollgate::server
