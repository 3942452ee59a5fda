// See pg_cluster.h. Every command goes through /bin/sh (popen) under timeout(1), with each
// argument single-quoted, and its combined stdout/stderr is kept for error messages.
#include "pg_cluster.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

namespace tollgate::testing {
namespace {

namespace fs = std::filesystem;

constexpr const char* kBinDir = "/usr/lib/postgresql/15/bin";
constexpr const char* kPostgresUser = "postgres";
constexpr const char* kDatabase = "tollgate";
// Free ports are found by binding port 0 and releasing it, so another process can take the
// port before the server binds it; start is retried on a new port this many times in all.
constexpr int kStartAttempts = 5;
constexpr int kPgCtlWaitSeconds = 30;  // pg_ctl -t: how long start/stop wait for the server
// Hard cap on any one command via timeout(1), then SIGKILL after the grace period.
constexpr int kCommandTimeoutSeconds = 60;
constexpr int kKillGraceSeconds = 5;

// Single-quotes `s` for /bin/sh.
std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct CommandResult {
  bool ok;             // exited with status 0
  std::string output;  // stdout and stderr together
};

// Runs argv in `cwd` (initdb as postgres warns when it cannot read root's cwd), as the
// postgres user when `as_postgres` and we are root. pg_ctl's -l sends the server's own output
// to the log file, so the pipe closes when pg_ctl exits rather than when the server does.
CommandResult run(const std::vector<std::string>& argv, const std::string& cwd, bool as_postgres) {
  std::string cmd = "cd " + quote(cwd) + " && exec timeout -k " +
                    std::to_string(kKillGraceSeconds) + " " +
                    std::to_string(kCommandTimeoutSeconds);
  if (as_postgres && ::geteuid() == 0) cmd += std::string(" runuser -u ") + kPostgresUser + " --";
  for (const auto& arg : argv) cmd.append(1, ' ').append(quote(arg));
  cmd += " </dev/null 2>&1";

  CommandResult result{false, ""};
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return {false, "popen failed for: " + cmd};
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  const int status = ::pclose(pipe);
  result.ok = status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!result.ok) result.output = "`" + cmd + "` failed:\n" + result.output;
  return result;
}

std::string bin(const char* name) { return std::string(kBinDir) + "/" + name; }

// A port that was free on 127.0.0.1 a moment ago, or 0.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

std::string read_from(const std::string& path, std::uintmax_t offset) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Stops a server that may or may not be running in `dir`; returns pg_ctl's complaint or "".
std::string stop_server(const std::string& dir) {
  if (!fs::exists(dir + "/data/postmaster.pid")) return "";
  const auto result = run({bin("pg_ctl"), "-D", dir + "/data", "-m", "immediate", "-t",
                           std::to_string(kPgCtlWaitSeconds), "stop"},
                          dir, true);
  return result.ok ? "" : result.output;
}

void remove_dir(const std::string& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) std::cerr << "PgCluster: could not remove " << dir << ": " << ec.message() << "\n";
}

// True when something accepts TCP connections on 127.0.0.1:port.
bool accepts(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool connected = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return connected;
}

// Makes `path` the postgres user's when we are root, so a server running as postgres can use it.
bool give_to_postgres(const std::string& path) {
  if (::geteuid() != 0) return true;
  const passwd* user = ::getpwnam(kPostgresUser);
  return user != nullptr && ::chown(path.c_str(), user->pw_uid, user->pw_gid) == 0;
}

}  // namespace

std::unique_ptr<PgCluster> PgCluster::start() {
  // mkdtemp makes the directory 0700; the postgres user must own it (initdb, the socket and
  // lock files live there) and everyone may traverse it. /tmp, not $TMPDIR: the postgres user
  // must be able to reach it, and the socket path must stay under the 107-byte limit.
  std::string dir_template = "/tmp/tollgate-pg-XXXXXX";
  if (::mkdtemp(dir_template.data()) == nullptr) {
    std::perror("PgCluster: mkdtemp");
    return nullptr;
  }
  const std::string dir = dir_template;
  auto fail = [&dir](const std::string& reason) -> std::unique_ptr<PgCluster> {
    std::cerr << "PgCluster: " << reason << "\n";
    if (const auto complaint = stop_server(dir); !complaint.empty()) std::cerr << complaint;
    remove_dir(dir);
    return nullptr;
  };
  if (::chmod(dir.c_str(), 0755) != 0) return fail("chmod failed on " + dir);
  if (::geteuid() == 0) {
    const passwd* user = ::getpwnam(kPostgresUser);
    if (user == nullptr || ::chown(dir.c_str(), user->pw_uid, user->pw_gid) != 0) {
      return fail(std::string("could not chown ") + dir + " to " + kPostgresUser);
    }
  }

  // C locale and UTF8 so results do not depend on the machine's locale settings.
  const auto initdb = run({bin("initdb"), "-D", dir + "/data", "-A", "trust", "-U", "postgres",
                           "-E", "UTF8", "--locale=C", "--no-sync"},
                          dir, true);
  if (!initdb.ok) return fail(initdb.output);

  const std::string log = dir + "/log";
  for (int attempt = 1; attempt <= kStartAttempts; ++attempt) {
    const int port = free_port();
    if (port == 0) return fail("no free port on 127.0.0.1");
    std::error_code no_log_yet;
    auto log_offset = fs::file_size(log, no_log_yet);
    if (no_log_yet) log_offset = 0;
    // -o is split by pg_ctl's shell; mkdtemp's directory names have no spaces or quotes.
    const auto started =
        run({bin("pg_ctl"), "-w", "-t", std::to_string(kPgCtlWaitSeconds), "-D", dir + "/data",
             "-o",
             "-p " + std::to_string(port) + " -k " + dir +
                 " -c listen_addresses=127.0.0.1 -c max_connections=200",
             "-l", log, "start"},
            dir, true);
    if (!started.ok) {
      const std::string server_log = read_from(log, log_offset);
      // Lost the race for the port: the server exits at once, so just try another one.
      if (server_log.find("could not bind") != std::string::npos && attempt < kStartAttempts) {
        continue;
      }
      return fail(started.output + "server log:\n" + server_log);
    }
    // From here the destructor stops the server.
    std::unique_ptr<PgCluster> cluster(new PgCluster(dir, port));
    const auto created = run({bin("createdb"), "-h", "127.0.0.1", "-p", std::to_string(port), "-U",
                              "postgres", "-w", kDatabase},
                             dir, false);
    if (!created.ok) {
      std::cerr << "PgCluster: " << created.output;
      return nullptr;
    }
    return cluster;
  }
  return fail("unreachable");  // the loop returns on its last attempt
}

PgCluster* PgCluster::shared() {
  static const std::unique_ptr<PgCluster> instance = start();
  return instance.get();
}

PgCluster::PgCluster(std::string dir, int port)
    : dir_(std::move(dir)), port_(port), url_(url_for(kDatabase)), owner_pid_(::getpid()) {}

PgCluster::~PgCluster() {
  if (::getpid() != owner_pid_) return;
  // If pg_ctl fails, removing the directory still ends the server: it rechecks its lock file
  // once a minute and shuts down when it is gone.
  if (const auto complaint = stop_server(dir_); !complaint.empty()) {
    std::cerr << "PgCluster: could not stop the server in " << dir_ << ":\n" << complaint;
  }
  remove_dir(dir_);
}

std::string PgCluster::url_for(const std::string& database) const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + database;
}

std::string PgCluster::fresh_database() {
  const std::string name = "test_" + std::to_string(next_database_++);
  const auto created = run({bin("createdb"), "-h", "127.0.0.1", "-p", std::to_string(port_), "-U",
                            "postgres", "-w", "-T", "template0", name},
                           dir_, false);
  if (!created.ok) throw std::runtime_error("PgCluster::fresh_database: " + created.output);
  return url_for(name);
}

}  // namespace tollgate::testing

namespace tollgate::testing {
namespace {

constexpr const char* kBouncer = "/usr/sbin/pgbouncer";
constexpr int kBouncerReadyWaitMs = 10'000;  // for its port to accept, or its log to say why not
constexpr int kBouncerStopWaitMs = 5'000;    // after SIGTERM, before SIGKILL
constexpr int kPollMs = 20;

pid_t pid_in(const std::string& pid_file) {
  std::ifstream in(pid_file);
  long pid = 0;
  in >> pid;
  return static_cast<pid_t>(pid);
}

void stop_bouncer(const std::string& dir) {
  const pid_t pid = pid_in(dir + "/pgbouncer.pid");
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  for (int waited = 0; waited < kBouncerStopWaitMs && ::kill(pid, 0) == 0; waited += kPollMs) {
    std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
  }
  if (::kill(pid, 0) == 0) ::kill(pid, SIGKILL);
}

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.close();
  return bool(out) && give_to_postgres(path);
}

}  // namespace

std::unique_ptr<PgBouncer> PgBouncer::start(const PgCluster& cluster, int pool_size) {
  std::string dir_template = "/tmp/tollgate-pgb-XXXXXX";
  if (::mkdtemp(dir_template.data()) == nullptr) {
    std::perror("PgBouncer: mkdtemp");
    return nullptr;
  }
  const std::string dir = dir_template;
  auto fail = [&dir](const std::string& reason) -> std::unique_ptr<PgBouncer> {
    std::cerr << "PgBouncer: " << reason << "\n";
    stop_bouncer(dir);
    remove_dir(dir);
    return nullptr;
  };
  if (::chmod(dir.c_str(), 0755) != 0 || !give_to_postgres(dir)) {
    return fail("could not prepare " + dir);
  }
  if (!write_file(dir + "/users.txt", "\"postgres\" \"\"\n")) return fail("could not write users");
  const std::string log = dir + "/pgbouncer.log";
  for (int attempt = 1; attempt <= kStartAttempts; ++attempt) {
    const int port = free_port();
    if (port == 0) return fail("no free port on 127.0.0.1");
    const std::string ini = dir + "/pgbouncer.ini";
    const std::string config =
        "[databases]\n* = host=127.0.0.1 port=" + std::to_string(cluster.port()) +
        "\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = " + std::to_string(port) +
        "\nauth_type = trust\nauth_file = " + dir + "/users.txt\npool_mode = transaction\n" +
        "default_pool_size = " + std::to_string(pool_size) + "\nmax_client_conn = 400\n" +
        "unix_socket_dir =\nlogfile = " + log + "\npidfile = " + dir + "/pgbouncer.pid\n";
    if (!write_file(ini, config)) return fail("could not write " + ini);
    std::error_code no_log_yet;
    auto log_offset = fs::file_size(log, no_log_yet);
    if (no_log_yet) log_offset = 0;
    // -d: pgbouncer forks and exits 0 at once, so a failed start shows only in its log.
    const auto started = run({kBouncer, "-d", ini}, dir, true);
    if (!started.ok) return fail(started.output);
    for (int waited = 0;; waited += kPollMs) {
      if (accepts(port))
        return std::unique_ptr<PgBouncer>(new PgBouncer(dir, port, cluster.port()));
      const std::string said = read_from(log, log_offset);
      if (said.find("FATAL") != std::string::npos) {
        if (said.find("Address already in use") != std::string::npos && attempt < kStartAttempts)
          break;  // lost the race for the port: try another one
        return fail("pgbouncer did not start:\n" + said);
      }
      if (waited >= kBouncerReadyWaitMs) return fail("pgbouncer did not listen:\n" + said);
      std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
    }
  }
  return fail("no port could be bound");
}

PgBouncer* PgBouncer::shared() {
  static const std::unique_ptr<PgBouncer> instance =
      PgCluster::shared() ? start(*PgCluster::shared()) : nullptr;
  return instance.get();
}

PgBouncer::PgBouncer(std::string dir, int port, int cluster_port)
    : dir_(std::move(dir)), port_(port), cluster_port_(cluster_port), owner_pid_(::getpid()) {}

PgBouncer::~PgBouncer() {
  if (::getpid() != owner_pid_) return;
  stop_bouncer(dir_);
  remove_dir(dir_);
}

std::string PgBouncer::through(const std::string& cluster_url) const {
  // Appended, not "…" + std::string: GCC 12 warns falsely on that (-Wrestrict, PR 105329).
  const std::string from = std::string(":").append(std::to_string(cluster_port_)).append("/");
  const std::string to = std::string(":").append(std::to_string(port_)).append("/");
  std::string url = cluster_url;
  if (const size_t at = url.find(from); at != std::string::npos) url.replace(at, from.size(), to);
  return url;
}

}  // namespace tollgate::testing
