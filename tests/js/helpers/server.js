// Starts the real tollgate binary on a free loopback port with a throwaway data dir.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { tollgate: defaultBinary } = require('./paths');

const START_TIMEOUT_MS = 10_000;
// Where a server without a terminal puts the secrets it shows once (server/log/one_time_secrets.h).
const SECRETS_FILE = 'first-start-secrets.txt';

function tempDir(prefix = 'tollgate-test-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * Resolves once the server logs "listening". With `dataDir`, it serves that directory and leaves
 * it in place when stopped (for restarts); otherwise a throwaway one. `binary` picks another build of the server. `fdLimit` caps the process's open files. `logs` collects every parsed stdout line.
 * `exited` resolves with {code, signal} when the process ends. Private upstreams are allowed
 * (the fake provider listens on 127.0.0.1) unless `privateUpstreams: false`, as in production.
 */
async function startServer({ args = [], env = {}, fdLimit, dataDir: reuse, binary: tollgate = defaultBinary, privateUpstreams = true } = {}) {
  const dataDir = reuse || tempDir();
  const argv = ['serve', '--port', '0', '--data-dir', dataDir, ...args];
  // With fdLimit, start through the shell so `ulimit -n` applies to the server alone.
  const [command, commandArgs] = fdLimit
    ? ['/bin/sh', ['-c', `ulimit -n ${Number(fdLimit)} && exec "$0" "$@"`, tollgate, ...argv]]
    : [tollgate, argv];
  const proc = spawn(command, commandArgs, {
    env: { ...process.env, DATABASE_URL: '', TOLLGATE_ALLOW_PRIVATE_UPSTREAMS: privateUpstreams ? '1' : '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs = [];
  let stderr = '';
  let buffered = '';
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const listening = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tollgate did not start: ${stderr}`)), START_TIMEOUT_MS);
    proc.stdout.on('data', (chunk) => {
      buffered += chunk;
      let newline;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const text = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        let line;
        try {
          line = JSON.parse(text);
        } catch {
          // Every log line is JSON; anything else is kept whole rather than lost with the rest.
          line = { event: 'unparsed_stdout', text };
        }
        logs.push(line);
        if (line.event === 'listening') {
          clearTimeout(timer);
          resolve(line);
        }
      }
    });
    proc.stderr.on('data', (chunk) => (stderr += chunk));
    exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`tollgate exited ${code}: ${stderr}`));
    });
  });
  const ready = await listening;
  return {
    proc,
    logs,
    exited,
    dataDir,
    /** Everything the process has printed on stderr so far. */
    stderr: () => stderr,
    port: ready.port,
    url: `http://127.0.0.1:${ready.port}`,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const result = await exited;
      if (!reuse) fs.rmSync(dataDir, { recursive: true, force: true });
      return result;
    },
    /** What the process has printed on stderr so far. */
    stderr: () => stderr,
    /** Kills the process at once, as a crash would; the data dir stays for a restart. */
    async crash() {
      proc.kill('SIGKILL');
      return exited;
    },
  };
}

/**
 * The secrets a server showed once at start ({adminToken, publishableKey, secretKey}, each
 * undefined when not made). Tests run without a terminal, so the server wrote them to
 * <data dir>/first-start-secrets.txt rather than to stderr; the last of each kind counts.
 */
function firstStartSecrets(server) {
  const file = path.join(server.dataDir, SECRETS_FILE);
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const last = (re) => [...text.matchAll(re)].map((m) => m[1]).pop();
  return {
    file,
    text,
    adminToken: last(/^ {2}(tgadm_[0-9A-Za-z]+)$/gm),
    publishableKey: last(/^ {2}publishable key: (pk_[0-9A-Za-z]+)$/gm),
    secretKey: last(/^ {2}secret key: +(sk_[0-9A-Za-z]+)$/gm),
  };
}

module.exports = { startServer, tempDir, firstStartSecrets, SECRETS_FILE };
