#!/usr/bin/env node
// bench/meter: POST /v1/meter on 127.0.0.1, three servers side by side in one run:
//   ceiling   bench_hello_server: our HTTP stack answering a constant (no store)
//   naive     bench_naive_meter_server: one synchronous store transaction per request
//   tollgate  the real `tollgate serve`
// each on SQLite (fresh data dir) and PostgreSQL (fresh database in a throwaway cluster), with one
// hot user and with 10k users picked at random per request. Load comes from wrk. Prints ONE table.
//
//   node bench/meter/run.mjs [--build DIR] [--duration S] [--warmup S] [--connections N]
//                            [--wrk-threads N] [--stores sqlite,postgres]
//
// A server that cannot be set up or answered wrongly shows "n/a [k]" with the reason as footnote
// k, and the run goes on. Exit status: 0 when the ceiling and naive columns were measured, else 1.
import { execFile, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const require = createRequire(import.meta.url);
const execFileAsync = promisify(execFile);

// ---- Limits --------------------------------------------------------------------------------
const START_TIMEOUT_MS = 20_000; // a server must log "listening" within this long
const STOP_TIMEOUT_MS = 15_000; // after SIGTERM (the server drains up to 10 s), then SIGKILL
const CLI_TIMEOUT_MS = 30_000; // `tollgate projects create`
const HTTP_TIMEOUT_MS = 5_000; // each setup or smoke request
const WRK_GRACE_MS = 20_000; // wrk is killed this long after its -d duration
const WRK_SOCKET_TIMEOUT = '2s'; // wrk counts a response slower than this as a timeout error
const REQUESTS_MAX_PER_RUN = 2_000_000; // safety bound on one wrk run, split across its threads
const USERS_MANY = 10_000;
const SWEEP_CONCURRENCY = 64; // requests in flight while every user is metered once
const SWEEP_TIMEOUT_MS = 60_000; // for that sweep (the naive meter does about 1,000/s)
const STARTING_CREDITS = 1_000_000_000; // far more than any run can spend
const OUTPUT_TAIL_BYTES = 600; // of a failed process's stderr, in a footnote
const FOOTNOTE_CHARS_MAX = 400;
const IDLE_SAMPLE_MS = 1_000; // how long the machine's load is sampled before the run
const IDLE_BUSY_CORES_MAX = 0.25; // more than this busy before the run earns a warning

const NUMERIC_FLAG_MAX = 512; // seconds, connections or threads given on the command line

const TARGETS = { vsNaive: 10, vsCeiling: 0.5, p99Ms: 10 };

// ---- Command line --------------------------------------------------------------------------
function parseArgs(argv) {
  const opts = {
    build: 'build', duration: 5, warmup: 1, connections: 64, wrkThreads: 2,
    stores: ['sqlite', 'postgres'],
  };
  const numeric = { '--duration': 'duration', '--warmup': 'warmup', '--connections': 'connections',
    '--wrk-threads': 'wrkThreads' };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--build') opts.build = value;
    else if (flag === '--stores') opts.stores = value.split(',').filter(Boolean);
    else if (numeric[flag]) {
      const n = Number(value);
      const min = flag === '--warmup' ? 0 : 1;
      if (!Number.isInteger(n) || n < min || n > NUMERIC_FLAG_MAX) {
        throw new Error(`${flag} must be an integer in [${min}, ${NUMERIC_FLAG_MAX}]`);
      }
      opts[numeric[flag]] = n;
    } else throw new Error(`unknown flag ${flag}`);
  }
  for (const s of opts.stores) if (!['sqlite', 'postgres'].includes(s)) throw new Error(`unknown store ${s}`);
  if (opts.duration + opts.warmup > 60) throw new Error('--duration + --warmup must be at most 60 s');
  opts.build = path.resolve(ROOT, opts.build);
  return opts;
}

// A path relative to the repository when it is inside it.
const shownPath = (p) => (p.startsWith(ROOT + path.sep) ? path.relative(ROOT, p) : p);

// ---- Processes and cleanup -----------------------------------------------------------------
const live = new Set(); // child processes still running
const tempDirs = new Set();
let pg = null;
let interrupted = false; // set by SIGINT/SIGTERM: start nothing new

function tempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

function removeDir(dir) {
  fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

// Adds child.exited, a promise of { code, signal } that also settles when spawning fails.
function track(child) {
  live.add(child);
  child.exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
    child.once('error', () => {
      if (child.pid !== undefined) return; // a failed kill(): 'exit' still comes
      live.delete(child);
      resolve({ code: null, signal: 'spawn failed' });
    });
  });
  return child;
}

// SIGTERM, wait, then SIGKILL. Resolves to how it exited.
async function stopProcess(child) {
  if (!live.has(child)) return child.exited;
  child.kill('SIGTERM');
  let timer;
  const timedOut = new Promise((resolve) => { timer = setTimeout(() => resolve('timeout'), STOP_TIMEOUT_MS); });
  const first = await Promise.race([child.exited, timedOut]);
  clearTimeout(timer);
  if (first !== 'timeout') return first;
  child.kill('SIGKILL');
  const result = await child.exited;
  return { ...result, forced: true };
}

// Stops the cluster once; every caller awaits the same stop.
function stopPostgres() {
  if (!pg) return Promise.resolve();
  const cluster = pg;
  cluster.stopping ??= cluster.stop()
    .catch((err) => console.error(`bench: stopping PostgreSQL: ${err.message}`))
    .finally(() => { if (pg === cluster) pg = null; });
  return cluster.stopping;
}

// Shared by the signal handler and main's finally, so neither exits while the other still stops
// PostgreSQL.
let cleaning = null;
function cleanup() {
  cleaning ??= cleanupOnce();
  return cleaning;
}

async function cleanupOnce() {
  await Promise.all([...live].map(stopProcess));
  await stopPostgres();
  for (const dir of [...tempDirs]) removeDir(dir);
}

// Last resort for a runner killed mid-run: synchronous, so it also works from 'exit'.
function cleanupSync() {
  for (const child of live) child.kill('SIGKILL');
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
}

function tail(file) {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.slice(-OUTPUT_TAIL_BYTES).trim().replace(/\s+/g, ' ');
  } catch {
    return '';
  }
}

// ---- CPU accounting (Linux /proc) ----------------------------------------------------------
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString()) || 100;

// Fields of /proc/PID/stat after the command name; field n of proc(5) is index n - 3.
function statFields(pid) {
  const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ').map(Number);
}
const processTicks = (pid) => { const f = statFields(pid); return f[11] + f[12]; }; // utime+stime
// Our own waited-for children's CPU: wrk's, once it has exited.
const childrenTicks = () => { const f = statFields('self'); return f[13] + f[14]; }; // cutime+cstime
// The PostgreSQL cluster's server and backend processes (the postmaster and its children).
function postgresTicks() {
  if (!pg) return 0;
  let postmaster;
  try {
    postmaster = Number(fs.readFileSync(path.join(pg.dir, 'data/postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return 0;
  }
  let ticks = 0;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const f = statFields(entry);
      if (Number(entry) === postmaster || f[1] === postmaster) ticks += f[11] + f[12]; // ppid is field 4
    } catch { /* exited meanwhile */ }
  }
  return ticks;
}

// /proc/stat's first line: user nice system idle iowait irq softirq steal (in ticks, all cores).
function machineTicks() {
  const [user, nice, system, , , irq, softirq] = fs.readFileSync('/proc/stat', 'utf8')
    .split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return { busy: user + nice + system + irq + softirq, irq: irq + softirq };
}
const machineBusyTicks = () => machineTicks().busy;
// Interrupt work, mostly loopback packets: no process is charged for it.
const irqTicks = () => machineTicks().irq;

// ---- HTTP helpers --------------------------------------------------------------------------
// One request, on its own connection unless an agent is given, so no idle keep-alive delays
// shutdown.
function request(port, method, urlPath, { headers = {}, body, agent = false } = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request({
      host: '127.0.0.1', port, method, path: urlPath, agent, timeout: HTTP_TIMEOUT_MS,
      headers: { ...headers, ...(data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {}) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { text += chunk; });
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: no answer in ${HTTP_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

// Meters every user once, 64 requests in flight on keep-alive connections, so the measured run
// meters accounts that exist (steady state) instead of creating them on first sight.
async function sweepUsers(port, token, users) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: SWEEP_CONCURRENCY });
  const deadline = Date.now() + SWEEP_TIMEOUT_MS;
  let next = 1;
  const worker = async () => {
    while (next <= users) {
      if (interrupted) throw new Error('interrupted');
      if (Date.now() > deadline) throw new Error(`metering ${users} users once took over ${SWEEP_TIMEOUT_MS} ms`);
      const userId = `u_${next++}`;
      const res = await request(port, 'POST', '/v1/meter', {
        agent, headers: { authorization: `Bearer ${token}` }, body: { userId, event: 'bench', cost: 1 },
      });
      if (res.status !== 200) throw new Error(`sweep: POST /v1/meter (${userId}) → ${res.status} ${short(res.text)}`);
    }
  };
  try {
    await Promise.all(Array.from({ length: SWEEP_CONCURRENCY }, worker));
  } finally {
    agent.destroy();
  }
}

const short = (text) => (text.length > 200 ? `${text.slice(0, 200)}…` : text).replace(/\s+/g, ' ');

// ---- Servers -------------------------------------------------------------------------------
// Environment for a child: no inherited Tollgate settings; DATABASE_URL only for PostgreSQL.
function childEnv(databaseUrl) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) =>
    !k.startsWith('TOLLGATE_') && k !== 'DATABASE_URL'));
  if (databaseUrl) env.DATABASE_URL = databaseUrl;
  return env;
}

// Starts argv with stdout/stderr in files (a pipe would cost the runner CPU under load, and an
// undrained one would block the server) and resolves to { child, port } once it logs listening.
async function startServer(argv, env, logDir) {
  if (interrupted) throw new Error('interrupted');
  const outFile = path.join(logDir, 'stdout.log');
  const errFile = path.join(logDir, 'stderr.log');
  const out = fs.openSync(outFile, 'w');
  const err = fs.openSync(errFile, 'w');
  const child = track(spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', out, err] }));
  fs.closeSync(out);
  fs.closeSync(err);
  const spawnError = new Promise((_, reject) => child.once('error', reject));
  spawnError.catch(() => {}); // raced below; an error after we return must not crash the runner
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const port = listeningPort(outFile);
    if (port) return { child, port, outFile, errFile };
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${path.basename(argv[0])} ${argv[1] ?? ''} exited ${child.exitCode ?? child.signalCode} before listening: ${tail(errFile) || tail(outFile)}`);
    }
    await Promise.race([new Promise((r) => setTimeout(r, 25)), spawnError]);
  }
  await stopProcess(child);
  throw new Error(`${path.basename(argv[0])} did not log "listening" within ${START_TIMEOUT_MS} ms`);
}

function listeningPort(file) {
  const fd = fs.openSync(file, 'r');
  const buffer = Buffer.alloc(64 * 1024);
  const n = fs.readSync(fd, buffer, 0, buffer.length, 0);
  fs.closeSync(fd);
  for (const line of buffer.subarray(0, n).toString().split('\n')) {
    try {
      const event = JSON.parse(line);
      if (event.event === 'listening' && Number.isInteger(event.port)) return event.port;
    } catch { /* a partial or non-JSON line */ }
  }
  return 0;
}

// Each kind: how to prepare its store and start it. Resolves to { child, port, token }.
const SERVERS = {
  ceiling: {
    binary: (b) => path.join(b, 'bin/bench_hello_server'),
    async start({ bin, logDir }) {
      const s = await startServer([bin, '--port', '0'], childEnv(), logDir);
      return { ...s, token: 'sk_bench_unused' };
    },
  },
  naive: {
    binary: (b) => path.join(b, 'bin/bench_naive_meter_server'),
    async start({ bin, logDir, dataDir, databaseUrl }) {
      const argv = [bin, '--port', '0', '--threads', '8', ...(databaseUrl ? [] : ['--data-dir', dataDir])];
      const s = await startServer(argv, childEnv(databaseUrl), logDir);
      return { ...s, token: 'sk_bench_unused' };
    },
  },
  tollgate: {
    binary: (b) => path.join(b, 'bin/tollgate'),
    async start({ bin, logDir, dataDir, databaseUrl }) {
      const env = childEnv(databaseUrl);
      const where = databaseUrl ? [] : ['--data-dir', dataDir];
      const project = await createProject(bin, where, env);
      const s = await startServer([bin, 'serve', '--port', '0', ...where], env, logDir);
      try {
        const auth = { authorization: `Bearer ${project.secretKey}` };
        const res = await request(s.port, 'PATCH', '/v1/projects/current',
          { headers: auth, body: { startingCredits: STARTING_CREDITS } });
        if (res.status < 200 || res.status > 299) {
          throw new Error(`PATCH /v1/projects/current → ${res.status} ${short(res.text)}`);
        }
      } catch (err) {
        await stopProcess(s.child);
        throw err;
      }
      return { ...s, token: project.secretKey };
    },
  },
};

async function createProject(bin, where, env) {
  const argv = ['projects', 'create', '--name', 'bench', '--json', ...where];
  let stdout;
  try {
    ({ stdout } = await execFileAsync(bin, argv, { env, timeout: CLI_TIMEOUT_MS }));
  } catch (err) {
    const why = err.killed ? `timed out after ${CLI_TIMEOUT_MS} ms` : `exited ${err.code}`;
    throw new Error(`\`tollgate ${argv.slice(0, 5).join(' ')}\` ${why}: ${short((err.stderr || err.stdout || '').trim())}`);
  }
  for (const line of stdout.split('\n').reverse()) {
    try {
      const project = JSON.parse(line);
      if (typeof project.secretKey === 'string' && project.secretKey.startsWith('sk_')) return project;
    } catch { /* not the JSON line */ }
  }
  throw new Error(`\`tollgate projects create --json\` printed no {"secretKey":"sk_…"}: ${short(stdout)}`);
}

// ---- wrk -----------------------------------------------------------------------------------
function runWrk(opts, port, users, token, seconds) {
  if (interrupted) return Promise.reject(new Error('interrupted'));
  const perThreadMax = Math.ceil(REQUESTS_MAX_PER_RUN / opts.wrkThreads);
  const args = ['-t', String(opts.wrkThreads), '-c', String(opts.connections), '-d', `${seconds}s`,
    '--timeout', WRK_SOCKET_TIMEOUT, '-s', path.join(HERE, 'meter.lua'),
    `http://127.0.0.1:${port}/v1/meter`, '--', String(users), token, String(perThreadMax)];
  return new Promise((resolve, reject) => {
    const child = track(spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.once('error', reject);
    const timer = setTimeout(() => child.kill('SIGKILL'), seconds * 1000 + WRK_GRACE_MS);
    child.exited.then(({ code, signal }) => {
      clearTimeout(timer);
      const line = out.split('\n').reverse().find((l) => l.startsWith('{'));
      if (code !== 0 || !line) {
        reject(new Error(`wrk exited ${code ?? signal}: ${short((err || out).trim())}`));
        return;
      }
      const result = JSON.parse(line);
      result.capped = result.requests >= perThreadMax * opts.wrkThreads;
      resolve(result);
    });
  });
}

// ---- One cell: one server, one store, one user mix -----------------------------------------
async function measure(kind, store, users, opts) {
  if (interrupted) throw new Error('interrupted');
  const server = SERVERS[kind];
  const bin = server.binary(opts.build);
  if (!fs.existsSync(bin)) throw new Error(`${shownPath(bin)} is not built`);
  const dir = tempDir(`tollgate-bench-${kind}-`);
  let running = null;
  try {
    const databaseUrl = store === 'postgres' && kind !== 'ceiling' ? await pg.freshDatabase() : '';
    running = await server.start({ bin, logDir: dir, dataDir: path.join(dir, 'data'), databaseUrl });
    const smoke = await request(running.port, 'POST', '/v1/meter', {
      headers: { authorization: `Bearer ${running.token}` },
      body: { userId: 'u_smoke', event: 'bench', cost: 1 },
    });
    let answer = null;
    try { answer = JSON.parse(smoke.text); } catch { /* reported below */ }
    if (smoke.status !== 200 || answer?.allowed !== true) {
      throw new Error(`POST /v1/meter → ${smoke.status} ${short(smoke.text)}`);
    }
    if (users > 1 && kind !== 'ceiling') await sweepUsers(running.port, running.token, users);
    if (opts.warmup > 0) await runWrk(opts, running.port, users, running.token, opts.warmup);

    const ticks = () => ({ server: processTicks(running.child.pid), wrk: childrenTicks(),
      postgres: postgresTicks(), irq: irqTicks(), machine: machineBusyTicks() });
    const before = ticks();
    const result = await runWrk(opts, running.port, users, running.token, opts.duration);
    const seconds = result.duration_us / 1e6;
    const cores = (n) => n / CLK_TCK / seconds;
    const after = ticks();
    result.cpu = Object.fromEntries(Object.keys(after).map((k) => [k, cores(after[k] - before[k])]));
    // Everything else on the machine, e.g. a compiler: it competes with the run for the cores.
    const { machine, server: own, wrk, postgres, irq } = result.cpu;
    result.cpu.other = Math.max(0, machine - own - wrk - postgres - irq);
    const exit = await stopProcess(running.child);
    running = null;
    if (exit.code !== 0) result.exitNote = `exited ${exit.code ?? exit.signal}${exit.forced ? ' (SIGKILL after timeout)' : ''} after SIGTERM`;
    return result;
  } finally {
    if (running) await stopProcess(running.child);
    removeDir(dir);
  }
}

// ---- The table -----------------------------------------------------------------------------
// Footnotes, one per distinct reason, each listing the cells it applies to.
const footnotes = [];
function footnote(text, where) {
  const reason = text.replace(/\s+/g, ' ').trim().slice(0, FOOTNOTE_CHARS_MAX);
  let note = footnotes.find((n) => n.reason === reason);
  if (!note) footnotes.push((note = { reason, where: [] }));
  note.where.push(where);
  return `[${footnotes.indexOf(note) + 1}]`;
}

const fmtOps = (r) => Math.round(r.ops_per_s).toLocaleString('en-US');
const fmtMs = (us) => { const ms = us / 1000; return ms < 10 ? ms.toFixed(2) : ms.toFixed(1); };
const fmtCpu = (c) => `cores: server ${c.server.toFixed(2)}, wrk ${c.wrk.toFixed(2)}` +
  `${c.postgres ? `, postgres ${c.postgres.toFixed(2)}` : ''}, machine ${c.machine.toFixed(2)}`;
const mark = (ok) => (ok ? 'pass' : 'MISS');

function cells(row, kind) {
  const r = row[kind];
  const where = `${kind} ${row.store} ${row.usersLabel}`;
  if (r.error) return [`n/a ${footnote(r.error, where)}`, ''];
  const problems = [];
  const e = r.errors;
  const socket = e.connect + e.read + e.write + e.timeout;
  if (e.status > 0) problems.push(`${e.status.toLocaleString('en-US')} of ${r.requests.toLocaleString('en-US')} responses were not 2xx/3xx`);
  if (socket > 0) problems.push(`socket errors: connect ${e.connect}, read ${e.read}, write ${e.write}, timeout ${e.timeout}`);
  if (r.capped) problems.push(`stopped at the ${REQUESTS_MAX_PER_RUN.toLocaleString('en-US')}-request bound: ops/s is a lower bound`);
  if (r.exitNote) problems.push(r.exitNote);
  const flag = problems.length ? ` ${footnote(problems.join('; '), where)}` : '';
  return [fmtOps(r) + flag, `${fmtMs(r.p50_us)} / ${fmtMs(r.p99_us)}`];
}

function ratios(row) {
  const t = row.tollgate;
  if (t.error) return ['n/a', 'n/a', 'n/a'];
  const vsNaive = row.naive.error ? 'n/a' : t.ops_per_s / row.naive.ops_per_s;
  const vsCeiling = row.ceiling.error ? 'n/a' : t.ops_per_s / row.ceiling.ops_per_s;
  const p99Ms = t.p99_us / 1000;
  return [
    vsNaive === 'n/a' ? vsNaive : `${vsNaive.toFixed(1)}× ${mark(vsNaive >= TARGETS.vsNaive)}`,
    vsCeiling === 'n/a' ? vsCeiling : `${Math.round(vsCeiling * 100)}% ${mark(vsCeiling >= TARGETS.vsCeiling)}`,
    `${p99Ms < 10 ? p99Ms.toFixed(2) : p99Ms.toFixed(1)} ms ${mark(p99Ms < TARGETS.p99Ms)}`,
  ];
}

function printTable(rows) {
  const header = ['store', 'users', 'ceiling ops/s', 'p50 / p99 ms', 'naive ops/s', 'p50 / p99 ms',
    'tollgate ops/s', 'p50 / p99 ms', `tollgate÷naive (≥${TARGETS.vsNaive}×)`,
    `tollgate÷ceiling (≥${TARGETS.vsCeiling * 100}%)`, `tollgate p99 (<${TARGETS.p99Ms} ms)`];
  const body = rows.map((row) => [row.store, row.usersLabel, ...cells(row, 'ceiling'),
    ...cells(row, 'naive'), ...cells(row, 'tollgate'), ...ratios(row)]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of body) console.log(line(r));
}

function cpuSummary(rows) {
  const span = (values) => {
    if (!values.length) return 'n/a';
    const lo = Math.min(...values).toFixed(2);
    const hi = Math.max(...values).toFixed(2);
    return lo === hi ? lo : `${lo}–${hi}`;
  };
  const measured = (kind) => rows.map((row) => row[kind]).filter((r) => !r.error);
  const all = ['ceiling', 'naive', 'tollgate'].flatMap(measured);
  const servers = ['ceiling', 'naive', 'tollgate'].map((k) => `${k} ${span(measured(k).map((r) => r.cpu.server))}`);
  const pgRuns = all.filter((r) => r.cpu.postgres > 0);
  return `CPU in cores of ${os.cpus().length} during the measured runs: wrk ${span(all.map((r) => r.cpu.wrk))}; ` +
    `server ${servers.join(', ')}; PostgreSQL ${span(pgRuns.map((r) => r.cpu.postgres))}; ` +
    `kernel irq ${span(all.map((r) => r.cpu.irq))}; other processes ${span(all.map((r) => r.cpu.other))}; ` +
    `machine busy ${span(all.map((r) => r.cpu.machine))}.`;
}

// Whole-machine CPU per completed request. While the machine is saturated, ops/s ≈ cores ÷ this,
// so Tollgate reaching a fraction f of the ceiling needs its CPU per op ≤ ceiling's ÷ f.
function cpuPerOpLines(rows) {
  const us = (r) => (r.cpu.machine / r.ops_per_s) * 1e6;
  const lines = [];
  for (const row of rows) {
    const { ceiling, tollgate } = row;
    if (ceiling.error || tollgate.error) continue;
    const c = tollgate.cpu;
    const part = (cores) => Math.round((cores / tollgate.ops_per_s) * 1e6);
    lines.push(`  ${row.store} ${row.usersLabel}: ceiling ${Math.round(us(ceiling))}, tollgate ${Math.round(us(tollgate))} ` +
      `(of which server ${part(c.server)}, wrk ${part(c.wrk)}${c.postgres ? `, postgres ${part(c.postgres)}` : ''}) ` +
      `= ${(us(tollgate) / us(ceiling)).toFixed(1)}× the ceiling's; ` +
      `machine busy ${c.machine.toFixed(2)} of ${os.cpus().length} cores`);
  }
  return lines.length ? ['Machine CPU µs per request (≤2× the ceiling\'s is needed for 50% of it on a saturated machine):', ...lines] : [];
}

function filesystemOf(dir) {
  try {
    return execFileSync('df', ['--output=fstype', dir]).toString().trim().split('\n').pop();
  } catch {
    return '?';
  }
}

// Cores busy over a short sample before the run: other work on the machine makes numbers noisy.
async function busyCoresNow() {
  const before = machineBusyTicks();
  await new Promise((r) => setTimeout(r, IDLE_SAMPLE_MS));
  return (machineBusyTicks() - before) / CLK_TCK / (IDLE_SAMPLE_MS / 1000);
}

function buildType(buildDir) {
  try {
    return /^CMAKE_BUILD_TYPE:\w+=(.*)$/m.exec(fs.readFileSync(path.join(buildDir, 'CMakeCache.txt'), 'utf8'))?.[1] || '?';
  } catch { return '?'; }
}

// ---- Main ----------------------------------------------------------------------------------
async function main() {
  const opts = parseArgs(process.argv.slice(2));
  try {
    execFileSync('wrk', ['-v'], { stdio: 'ignore' });
  } catch (err) {
    if (err.code === 'ENOENT') throw new Error('wrk is not installed: run `bash scripts/install-deps.sh --bench`');
  }
  const started = Date.now();
  const cpu = os.cpus();
  console.log(`bench/meter: POST /v1/meter on 127.0.0.1 — wrk -t${opts.wrkThreads} -c${opts.connections}, ` +
    `${opts.warmup} s warm-up + ${opts.duration} s measured per cell, no CPU pinning`);
  console.log(`machine: ${cpu.length} × ${cpu[0]?.model ?? '?'}; build ${shownPath(opts.build)} (${buildType(opts.build)}); ` +
    `data dirs on ${filesystemOf(os.tmpdir())} (${os.tmpdir()})`);
  const busy = await busyCoresNow();
  if (busy > IDLE_BUSY_CORES_MAX) {
    console.log(`warning: ${busy.toFixed(2)} cores were already busy before the run; expect noisy numbers`);
  }

  const rows = [];
  for (const store of opts.stores) {
    let storeError = null;
    if (store === 'postgres') {
      try {
        const { startPostgres } = require(path.join(ROOT, 'tests/js/helpers/postgres.js'));
        pg = await startPostgres();
      } catch (err) {
        storeError = `PostgreSQL did not start: ${short(err.message)}`;
      }
    }
    for (const users of [1, USERS_MANY]) {
      const row = { store, users, usersLabel: users === 1 ? '1 (hot)' : users.toLocaleString('en-US') };
      for (const kind of ['ceiling', 'naive', 'tollgate']) {
        process.stderr.write(`bench: ${store} ${row.usersLabel} ${kind} … `);
        if (storeError && kind !== 'ceiling') {
          row[kind] = { error: storeError };
        } else {
          try {
            row[kind] = await measure(kind, store, users, opts);
          } catch (err) {
            row[kind] = { error: err.message };
          }
        }
        process.stderr.write(row[kind].error ? 'n/a\n' : `${fmtOps(row[kind])} ops/s (${fmtCpu(row[kind].cpu)})\n`);
      }
      rows.push(row);
    }
    await stopPostgres();
  }

  console.log('');
  printTable(rows);
  console.log('');
  console.log('ops/s: completed requests per second; latency per request as wrk sees it (64 connections, closed loop).');
  console.log(`ceiling: our HTTP stack, constant answer; naive: 1 store transaction per request (8 threads); ` +
    'tollgate: `tollgate serve`. "users": one hot user, or 10,000 picked at random per request, ' +
    'each metered once before the warm-up so that the run meters existing accounts.');
  console.log(cpuSummary(rows));
  for (const line of cpuPerOpLines(rows)) console.log(line);
  const otherMax = Math.max(0, ...rows.flatMap((row) => ['ceiling', 'naive', 'tollgate']
    .filter((k) => !row[k].error).map((k) => row[k].cpu.other)));
  if (otherMax > IDLE_BUSY_CORES_MAX) {
    console.log(`warning: other processes used up to ${otherMax.toFixed(2)} cores during a run; ` +
      'compare only columns of the same row, and rerun on an idle machine for published numbers');
  }
  footnotes.forEach((n, i) => console.log(`[${i + 1}] ${n.where.join(', ')}: ${n.reason}`));
  console.log(`total ${((Date.now() - started) / 1000).toFixed(0)} s`);
  const ours = rows.some((row) => row.ceiling.error || row.naive.error);
  return ours ? 1 : 0;
}

process.on('exit', cleanupSync);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    interrupted = true;
    console.error(`bench: ${signal}, stopping`);
    cleanup().finally(() => process.exit(130));
  });
}

let status = 1;
try {
  status = await main();
} catch (err) {
  console.error(`bench: ${err.message}`);
} finally {
  await cleanup();
}
process.exit(status);
