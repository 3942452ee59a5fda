// A log destination for tests: an anonymous temporary file that a Logger writes to, read back
// whole or as one JSON object per line; CapturedLog pairs it with its Logger.
#pragma once

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "server/log/logger.h"

namespace tollgate::server {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using LogFile = std::unique_ptr<std::FILE, FileCloser>;

// Everything written so far.
inline std::string log_text(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string text;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, f)) text.append(buffer, n);
  return text;
}

// Each line written so far, parsed (a line that is not JSON throws, failing the test).
inline std::vector<nlohmann::json> log_lines(std::FILE* f) {
  std::istringstream in(log_text(f));
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

// A Logger writing to a temporary file, read back after flush().
struct CapturedLog {
  LogFile file{std::tmpfile()};
  std::unique_ptr<Logger> log = std::make_unique<Logger>(file.get());  // destroyed before `file`
  std::string text() {
    log->flush();
    return log_text(file.get());
  }
};

}  // namespace tollgate::server
