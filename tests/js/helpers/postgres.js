// A throwaway PostgreSQL 15 cluster for Jest suites, the twin of tests/support/pg_cluster.h:
// initdb into a fresh /tmp directory, start it on a free 127.0.0.1 port with trust auth, create a
// `tollgate` database; stop() kills it (`pg_ctl -m immediate`) and deletes the directory.
//
// Why a private cluster: tests must not depend on, or damage, any PostgreSQL already on the
// machine, and the crash tests kill servers hard. fsync stays ON (only initdb uses --no-sync) so
// those tests see real durability.
//
// PostgreSQL refuses to run as root, which is how CI runs tests: then the directory is chowned to
// `postgres` and initdb/pg_ctl run through `runuser -u postgres --`. Clients (createdb) use TCP
// with trust auth and need no user switch.
//
// Call stop() in afterAll. As a fallback, a process 'exit' hook stops a cluster left running;
// nothing cleans up after a process killed by a signal (remove the server and its
// /tmp/tollgate-pg-* directory by hand).
const { execFile, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { promisify } = require('node:util');

const BIN_DIR = '/usr/lib/postgresql/15/bin';
const POSTGRES_USER = 'postgres';
const DATABASE = 'tollgate';
// Free ports are found by binding port 0 and releasing it, so another process can take the port
// before the server binds it; start is retried on a new port this many times in all.
const START_ATTEMPTS = 5;
const PG_CTL_WAIT_SECONDS = 30; // pg_ctl -t: how long start/stop wait for the server
const COMMAND_TIMEOUT_MS = 60_000; // hard cap on any one command (then SIGTERM)

const execFileAsync = promisify(execFile);
const isRoot = process.getuid() === 0;

// Runs argv in `cwd` (initdb as postgres warns when it cannot read root's cwd), as the postgres
// user when `asPostgres` and we are root. pg_ctl's -l sends the server's own output to the log
// file, so the command finishes when pg_ctl exits rather than when the server does.
function commandFor(argv, asPostgres) {
  return asPostgres && isRoot ? ['runuser', '-u', POSTGRES_USER, '--', ...argv] : argv;
}

async function run(argv, { cwd, asPostgres = false }) {
  const [file, ...args] = commandFor(argv, asPostgres);
  try {
    return await execFileAsync(file, args, { cwd, timeout: COMMAND_TIMEOUT_MS });
  } catch (err) {
    const how = err.killed ? `timed out after ${COMMAND_TIMEOUT_MS} ms` : `exited ${err.code}`;
    throw new Error(`\`${[file, ...args].join(' ')}\` ${how}:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  }
}

const bin = (name) => path.join(BIN_DIR, name);

// A port that was free on 127.0.0.1 a moment ago.
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const stopArgs = (dir) => [
  bin('pg_ctl'), '-D', path.join(dir, 'data'), '-m', 'immediate', '-t', String(PG_CTL_WAIT_SECONDS), 'stop',
];

// Synchronous so that it also works from a process 'exit' hook. If pg_ctl fails, removing the
// directory still ends the server: it rechecks its lock file once a minute and shuts down.
function stopAndRemoveSync(dir) {
  if (fs.existsSync(path.join(dir, 'data', 'postmaster.pid'))) {
    const [file, ...args] = commandFor(stopArgs(dir), true);
    try {
      execFileSync(file, args, { cwd: dir, timeout: COMMAND_TIMEOUT_MS, stdio: 'pipe' });
    } catch (err) {
      console.error(`postgres helper: could not stop the server in ${dir}: ${err.stderr ?? err.message}`);
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

function readFrom(file, offset) {
  try {
    return fs.readFileSync(file).subarray(offset).toString();
  } catch {
    return '';
  }
}

// A self-signed certificate for 127.0.0.1 and localhost, made with openssl(1) in `dir`, for a
// cluster started with ssl=on. It is also the root a client verifies the server against.
async function makeCertificate(dir) {
  const cert = path.join(dir, 'server.crt');
  const key = path.join(dir, 'server.key');
  await run(
    ['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', key, '-out', cert],
    { cwd: dir },
  );
  fs.chmodSync(key, 0o600); // the server refuses a key others can read
  if (isRoot) await run(['chown', POSTGRES_USER, cert, key], { cwd: dir });
  return { cert, key };
}

/**
 * Starts a cluster (about 1-2.5 s); rejects with the reason if it cannot. With `ssl`, the server
 * also takes TLS connections, with a self-signed certificate (`sslRootCert`) made at start.
 * Resolves to { url, port, dir, sslRootCert, freshDatabase(), stop() }:
 * - url: postgresql://postgres@127.0.0.1:PORT/tollgate
 * - freshDatabase(): creates a new, empty, uniquely named database (from template0) and resolves
 *   to its URL, so each test can have its own.
 * - stop(): stops the server and removes dir; safe to call twice.
 */
async function startPostgres({ ssl = false } = {}) {
  // /tmp, not os.tmpdir(): the postgres user must be able to reach it, and the socket path must
  // stay under the 107-byte limit. mkdtemp makes it 0700; everyone may traverse it.
  const dir = fs.mkdtempSync('/tmp/tollgate-pg-');
  const dataDir = path.join(dir, 'data');
  const log = path.join(dir, 'log');
  try {
    fs.chmodSync(dir, 0o755);
    if (isRoot) await run(['chown', POSTGRES_USER, dir], { cwd: dir });
    // C locale and UTF8 so results do not depend on the machine's locale settings.
    await run(
      [bin('initdb'), '-D', dataDir, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync'],
      { cwd: dir, asPostgres: true },
    );

    let serverOptions = '';
    let sslRootCert;
    if (ssl) {
      const { cert, key } = await makeCertificate(dir);
      serverOptions = ` -c ssl=on -c ssl_cert_file=${cert} -c ssl_key_file=${key}`;
      sslRootCert = cert;
    }

    let port;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      const logOffset = fs.existsSync(log) ? fs.statSync(log).size : 0;
      try {
        // -o is split by pg_ctl's shell; mkdtemp's directory names have no spaces or quotes.
        await run(
          [bin('pg_ctl'), '-w', '-t', String(PG_CTL_WAIT_SECONDS), '-D', dataDir,
            '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200${serverOptions}`,
            '-l', log, 'start'],
          { cwd: dir, asPostgres: true },
        );
        break;
      } catch (err) {
        const serverLog = readFrom(log, logOffset);
        // Lost the race for the port: the server exits at once, so just try another one.
        if (serverLog.includes('could not bind') && attempt < START_ATTEMPTS) continue;
        throw new Error(`${err.message}server log:\n${serverLog}`);
      }
    }

    const createdb = (name, ...options) =>
      run([bin('createdb'), '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-w', ...options, name], {
        cwd: dir,
      });
    const urlFor = (name) => `postgresql://postgres@127.0.0.1:${port}/${name}`;
    await createdb(DATABASE);

    const onExit = () => stopAndRemoveSync(dir);
    process.on('exit', onExit);
    let nextDatabase = 0;
    let stopped = false;
    return {
      url: urlFor(DATABASE),
      port,
      dir,
      sslRootCert,
      async freshDatabase() {
        const name = `test_${nextDatabase++}`;
        await createdb(name, '-T', 'template0');
        return urlFor(name);
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        process.removeListener('exit', onExit);
        // Async so the event loop keeps running; mirrors stopAndRemoveSync.
        if (fs.existsSync(path.join(dataDir, 'postmaster.pid'))) {
          await run(stopArgs(dir), { cwd: dir, asPostgres: true }).catch((err) =>
            console.error(`postgres helper: could not stop the server in ${dir}: ${err.message}`),
          );
        }
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    stopAndRemoveSync(dir);
    throw new Error(`could not start PostgreSQL: ${err.message}`);
  }
}

/** Runs `sql` with psql against `url` and returns its unaligned, tuples-only output. */
function psql(url, sql) {
  return execFileSync(bin('psql'), ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', sql], {
    timeout: COMMAND_TIMEOUT_MS,
    encoding: 'utf8',
  }).trim();
}

module.exports = { startPostgres, psql };
