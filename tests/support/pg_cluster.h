// A throwaway PostgreSQL 15 cluster for tests (and pgbouncer in front of one, below): initdb into a
// fresh /tmp directory, start it on a free 127.0.0.1 port with trust auth, create a `tollgate`
// database, and on destruction stop it
// (`pg_ctl -m immediate`) and delete the directory.
//
// Why a private cluster rather than a shared server: tests must not depend on, or damage, any
// PostgreSQL already on the machine, and the crash tests kill servers hard. fsync stays ON
// (only initdb uses --no-sync) so those tests see real durability.
//
// Runs as root too (the CI machine does): PostgreSQL refuses root, so the directory is chowned
// to `postgres` and initdb/pg_ctl run through `runuser -u postgres --`. Clients (createdb) talk
// TCP with trust auth and need no user switch. Needs /usr/lib/postgresql/15/bin, runuser and
// timeout(1) (coreutils).
//
// Not cleaned up if the test process dies by a signal or _exit(): the server then outlives it
// and its /tmp/tollgate-pg-* directory stays (remove both by hand).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <string>

namespace tollgate::testing {

class PgCluster {
 public:
  // Starts a new cluster (about 1-2.5 s). Returns nullptr after printing the reason to stderr.
  static std::unique_ptr<PgCluster> start();

  // One cluster per test process, started on first call; nullptr (reason printed once) if it
  // could not start. Held in a function-local static unique_ptr, so it is stopped by static
  // destruction at normal process exit (main returning or exit()); not a gtest Environment.
  // Note that ctest runs every discovered test in its own process, so under ctest this is one
  // cluster per test.
  static PgCluster* shared();

  // Stops the server and removes the directory. Does nothing in a fork()ed child (e.g. a gtest
  // death test that calls exit()), which must not stop its parent's cluster.
  ~PgCluster();

  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  // postgresql://postgres@127.0.0.1:PORT/tollgate
  const std::string& url() const { return url_; }
  int port() const { return port_; }
  const std::string& dir() const { return dir_; }

  // Creates a new, empty, uniquely named database (from template0) and returns its URL, so each
  // test can have its own. Thread-safe. Throws std::runtime_error (createdb's output) on failure,
  // which gtest reports as a failure of the calling test.
  std::string fresh_database();

 private:
  PgCluster(std::string dir, int port);
  std::string url_for(const std::string& database) const;

  std::string dir_;
  int port_;
  std::string url_;
  pid_t owner_pid_;
  std::atomic<unsigned> next_database_{0};
};

// pgbouncer (Debian's 1.18) in transaction pooling mode in front of a PgCluster, as managed
// PostgreSQL often runs: every database name passes through to the cluster ("*" in
// [databases]), with at most kBouncerPoolSize server connections per database, so clients take
// turns on the same few server connections and anything that relies on session state breaks.
// Runs as `postgres` (pgbouncer refuses root) from a config in its own /tmp directory; on
// destruction it is stopped by the pid in its pid file and the directory removed. Needs
// /usr/sbin/pgbouncer. Not cleaned up if the test process dies by a signal.
class PgBouncer {
 public:
  static constexpr int kPoolSize = 4;

  // Starts a bouncer for `cluster` (well under a second) with `pool_size` server connections
  // per database. nullptr after printing the reason.
  static std::unique_ptr<PgBouncer> start(const PgCluster& cluster, int pool_size = kPoolSize);
  // One bouncer per test process over PgCluster::shared(), started on first call.
  static PgBouncer* shared();
  ~PgBouncer();

  PgBouncer(const PgBouncer&) = delete;
  PgBouncer& operator=(const PgBouncer&) = delete;

  // `cluster_url` (a URL from the cluster, e.g. fresh_database()) through the bouncer.
  std::string through(const std::string& cluster_url) const;
  int port() const { return port_; }

 private:
  PgBouncer(std::string dir, int port, int cluster_port);
  std::string dir_;
  int port_;
  int cluster_port_;
  pid_t owner_pid_;
};

}  // namespace tollgate::testing
