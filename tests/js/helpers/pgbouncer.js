// pgbouncer (Debian's 1.18) in transaction pooling mode in front of a throwaway cluster from
// ./postgres.js, as managed PostgreSQL often runs; the twin of PgBouncer in
// tests/support/pg_cluster.h.
//
// Every database name passes through to the cluster ("*" in [databases]), with at most
// `poolSize` server connections per database, so clients take turns on the same few server
// connections and anything relying on session state (named prepared statements, SET, session
// advisory locks) breaks. It runs as `postgres` (pgbouncer refuses root) from a config in its own
// /tmp directory. stop() ends it by the pid in its pid file and removes the directory; a process
// 'exit' hook does the same for a bouncer left running.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const PGBOUNCER = '/usr/sbin/pgbouncer';
const POSTGRES_USER = 'postgres';
const START_ATTEMPTS = 5; // a free port can be taken before pgbouncer binds it
const READY_WAIT_MS = 10_000; // for its port to accept, or its log to say why not
const STOP_WAIT_MS = 5_000; // after SIGTERM, before SIGKILL
const POLL_MS = 20;
const COMMAND_TIMEOUT_MS = 30_000;

const isRoot = process.getuid() === 0;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

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

function accepts(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function writeOwned(file, text) {
  fs.writeFileSync(file, text);
  if (isRoot) execFileSync('chown', [POSTGRES_USER, file]);
}

function pidOf(dir) {
  try {
    return Number(fs.readFileSync(path.join(dir, 'pgbouncer.pid'), 'utf8').trim()) || 0;
  } catch {
    return 0;
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// Synchronous so that it also works from a process 'exit' hook.
function stopAndRemoveSync(dir) {
  const pid = pidOf(dir);
  if (pid && alive(pid)) {
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + STOP_WAIT_MS;
    while (alive(pid) && Date.now() < deadline) execFileSync('sleep', ['0.02']);
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

function configFor(dir, pg, port, poolSize) {
  return [
    '[databases]',
    `* = host=127.0.0.1 port=${pg.port}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'auth_type = trust',
    `auth_file = ${path.join(dir, 'users.txt')}`,
    'pool_mode = transaction',
    `default_pool_size = ${poolSize}`,
    'max_client_conn = 400',
    'unix_socket_dir =',
    `logfile = ${path.join(dir, 'pgbouncer.log')}`,
    `pidfile = ${path.join(dir, 'pgbouncer.pid')}`,
    '',
  ].join('\n');
}

// Starts pgbouncer on a free port; resolves to the port, or to 0 when another process took the
// port first (try another).
async function listenOnce(dir, pg, poolSize) {
  const port = await freePort();
  const ini = path.join(dir, 'pgbouncer.ini');
  const log = path.join(dir, 'pgbouncer.log');
  writeOwned(ini, configFor(dir, pg, port, poolSize));
  const logOffset = fs.existsSync(log) ? fs.statSync(log).size : 0;
  // -d: pgbouncer forks and exits 0 at once, so a failed start shows only in its log.
  const argv = isRoot ? ['runuser', '-u', POSTGRES_USER, '--', PGBOUNCER, '-d', ini] : [PGBOUNCER, '-d', ini];
  execFileSync(argv[0], argv.slice(1), { cwd: dir, timeout: COMMAND_TIMEOUT_MS, stdio: 'pipe' });
  for (const deadline = Date.now() + READY_WAIT_MS; ; await sleep(POLL_MS)) {
    if (await accepts(port)) return port;
    const said = fs.existsSync(log) ? fs.readFileSync(log).subarray(logOffset).toString() : '';
    if (said.includes('FATAL')) {
      if (said.includes('Address already in use')) return 0;
      throw new Error(`pgbouncer did not start:\n${said}`);
    }
    if (Date.now() > deadline) throw new Error(`pgbouncer did not listen on ${port}:\n${said}`);
  }
}

/**
 * Starts pgbouncer in front of `pg` (from startPostgres). Resolves to
 * { port, through(url), stop() }: through() turns a URL of the cluster (pg.url,
 * pg.freshDatabase()) into the same database through the bouncer.
 */
async function startPgbouncer(pg, { poolSize = 4 } = {}) {
  const dir = fs.mkdtempSync('/tmp/tollgate-pgb-');
  try {
    fs.chmodSync(dir, 0o755);
    if (isRoot) execFileSync('chown', [POSTGRES_USER, dir]);
    writeOwned(path.join(dir, 'users.txt'), '"postgres" ""\n');
    let port = 0;
    for (let attempt = 1; port === 0 && attempt <= START_ATTEMPTS; attempt++) port = await listenOnce(dir, pg, poolSize);
    if (port === 0) throw new Error('no port could be bound');
    const onExit = () => stopAndRemoveSync(dir);
    process.on('exit', onExit);
    let stopped = false;
    return {
      port,
      through: (url) => url.replace(`:${pg.port}/`, `:${port}/`),
      async stop() {
        if (stopped) return;
        stopped = true;
        process.removeListener('exit', onExit);
        const pid = pidOf(dir);
        if (pid && alive(pid)) {
          process.kill(pid, 'SIGTERM');
          for (const end = Date.now() + STOP_WAIT_MS; alive(pid) && Date.now() < end; ) await sleep(POLL_MS);
          if (alive(pid)) process.kill(pid, 'SIGKILL');
        }
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    stopAndRemoveSync(dir);
    throw new Error(`could not start pgbouncer: ${err.message}`);
  }
}

module.exports = { startPgbouncer };
