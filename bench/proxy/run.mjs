// bench/proxy: what Tollgate adds in front of a model provider, against the provider called
// directly (the ceiling) and the Portkey gateway (@portkey-ai/gateway) in front of the same
// provider, with a bare relay (bench_relay, relay.cc) as the floor: the least any proxy adds on
// this machine. For an upstream delay of 0 ms and 20 ms it measures, for each:
//   - latency at concurrency 1 (sequential keep-alive requests, the targets taking turns
//     request by request): p50 and p99, and what each adds over the direct call (the relay
//     only this: it serves one connection at a time);
//   - the most requests per second (wrk -t1 -c256 for a bounded time, in rounds the targets take
//     in turn; the median round);
//   - the time to the first streamed piece of output at concurrency 1 (interleaved too);
//   - the resident memory of the proxy process after the load.
// Tollgate runs a feature end to end per request: runtime-token check, feature and provider
// lookup, a ledger hold reserved and settled (SQLite), the provider call. Its gateway row is
// the OpenAI-compatible /v1/chat/completions with a user key (tgk_): the key checked, the model
// priced, a hold across the project, the user and the key's cap, the same provider call, the
// answer rewritten in OpenAI's shape. Portkey only relays.
// Prints ONE table. Load goes to 127.0.0.1 only.
//
//   node bench/proxy/run.mjs [--build DIR] [--requests N] [--stream-requests N] [--seconds S]
//                            [--rounds N] [--connections N]
//   KEEP_LOGS=1 keeps the processes' output files (a process that exits early names its file).
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const args = Object.fromEntries(process.argv.slice(2).map((a, i, all) => (a.startsWith('--') ? [a.slice(2), all[i + 1]] : null)).filter(Boolean));
const BUILD = path.resolve(root, args.build || 'build');
const LATENCY_REQUESTS = Number(args.requests || 1000); // per target, after WARMUP_REQUESTS
const WARMUP_REQUESTS = 30;
const STREAM_REQUESTS = Number(args['stream-requests'] || 60);
const WRK_SECONDS = Number(args.seconds || 4);
const WRK_ROUNDS = Number(args.rounds || 5);
const CONNECTIONS = Number(args.connections || 256);
const START_TIMEOUT_MS = 15_000;
const ROUND_PAUSE_MS = 1000;
const ADMIN_TOKEN = 'tgadm_bench_admin_token_0123456789';

const children = new Set();
process.on('exit', () => { for (const c of children) c.kill('SIGKILL'); });

// Each process writes its output to a file, never to a pipe: a pipe nobody drains while wrk runs
// would stall a process that logs every request, and draining it here would take CPU from the
// processes under test.
const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-bench-logs-'));
process.on('exit', () => { if (!process.env.KEEP_LOGS) fs.rmSync(logDir, { recursive: true, force: true }); });
let logCount = 0;

function start(command, argv, { env = {}, ready }) {
  const logFile = path.join(logDir, `${path.basename(command)}-${(logCount += 1)}.log`);
  const fd = fs.openSync(logFile, 'w');
  const child = spawn(command, argv, { env: { ...process.env, ...env }, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  children.add(child);
  child.on('exit', () => children.delete(child));
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = setInterval(() => {
      const out = fs.readFileSync(logFile, 'utf8');
      const found = ready(out);
      if (found) {
        clearInterval(poll);
        resolve({ child, ...found });
      } else if (Date.now() - started > START_TIMEOUT_MS) {
        clearInterval(poll);
        reject(new Error(`${command} did not start: ${out.slice(-500)}`));
      }
    }, 20);
    child.on('exit', (code) => {
      clearInterval(poll);
      reject(new Error(`${command} exited ${code} (output in ${logFile}): ${fs.readFileSync(logFile, 'utf8').slice(-500)}`));
    });
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function request(port, pathname, headers, body, { firstByte = false } = {}) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const req = http.request({ host: '127.0.0.1', port, path: pathname, method: 'POST', agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers } }, (res) => {
      let first = null;
      let text = '';
      res.on('data', (chunk) => {
        text += chunk;
        // The first piece of output: an OpenAI content delta, or Tollgate's delta event.
        if (first === null && firstByte && /"content":"[^"]|event: delta/.test(text)) first = process.hrtime.bigint();
      });
      res.on('end', () => {
        const end = process.hrtime.bigint();
        if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 300)}`));
        resolve(Number((firstByte ? first ?? end : end) - started) / 1e6);
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

const summary = (list) => {
  const sorted = [...list].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
};

// Concurrency 1, interleaved: one request to each target in turn, so every target meets the
// same moments of this shared machine and the added latency compares like with like. A target
// whose streaming fails (Portkey's) is reported with its error; any other failure stops the run.
async function latencies(targets, { stream = false } = {}) {
  const n = stream ? STREAM_REQUESTS : LATENCY_REQUESTS;
  const times = targets.map(() => []);
  const errors = targets.map(() => null);
  for (let i = 0; i < WARMUP_REQUESTS + n; i += 1) {
    for (const [t, target] of targets.entries()) {
      if (errors[t]) continue;
      try {
        const ms = await request(target.port, target.path, target.headers, stream ? target.streamBody : target.body, { firstByte: stream });
        if (i >= WARMUP_REQUESTS) times[t].push(ms);
      } catch (error) {
        if (!stream) throw error;
        errors[t] = error.message.slice(0, 80);
      }
    }
  }
  return times.map((list, t) => (errors[t] ? { error: errors[t] } : summary(list)));
}

// One wrk thread: on a 2-core machine a second one takes CPU from the target under test without
// raising anything (the direct ceiling measured the same with one thread or two).
function throughput(target) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-bench-'));
  fs.writeFileSync(path.join(dir, 'body.json'), target.body);
  fs.writeFileSync(path.join(dir, 'headers.txt'), Object.entries(target.headers).map(([k, v]) => `${k}: ${v}`).join('\n'));
  const out = execFileSync('wrk', ['-t1', `-c${CONNECTIONS}`, `-d${WRK_SECONDS}s`, '--timeout', '5s', '-s', path.join(here, 'post.lua'),
    `http://127.0.0.1:${target.port}${target.path}`, '--', path.join(dir, 'body.json'), path.join(dir, 'headers.txt')],
  { timeout: (WRK_SECONDS + 30) * 1000 }).toString();
  fs.rmSync(dir, { recursive: true, force: true });
  const result = JSON.parse(out.trim().split('\n').pop());
  // Tollgate must answer every request; a peer that drops some is reported with the count.
  const failed = result.non2xx + result.errors;
  if (failed && target.name.startsWith('tollgate')) throw new Error(`${target.name}: ${result.non2xx} non-2xx and ${result.errors} socket errors under load`);
  return { rps: (result.requests - result.non2xx) / result.seconds, failed };
}

const rssMb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

// Set-up and audit calls, each on a connection of its own (a pooled one may have idled out
// while wrk ran).
function json(port, method, pathname, key, body) {
  const text = body === undefined ? '' : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: pathname, method, agent: false,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } }, (res) => {
      let out = '';
      res.on('data', (chunk) => { out += chunk; });
      res.on('end', () => {
        const parsed = JSON.parse(out);
        if (res.statusCode >= 300) return reject(new Error(`${method} ${pathname}: ${out}`));
        resolve(parsed);
      });
    });
    req.on('error', reject);
    req.end(text);
  });
}

// Portkey takes its port as a flag and cannot report one it chose. This picks one below the
// kernel's ephemeral range (32768 up), so no outbound connection of an earlier round holds it,
// and that nothing listens on now.
async function freePort() {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = 10000 + Math.floor(Math.random() * 22000);
    const free = await new Promise((resolve) => {
      const probe = http.createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port for the Portkey gateway in 20 tries');
}

// The provider stand-in and the relay print {"port":N} once they listen.
const portLine = (out) => {
  const m = /\{"port":(\d+)\}/.exec(out);
  return m ? { port: Number(m[1]) } : null;
};

async function scenario(delayMs) {
  const upstream = await start(process.execPath, [path.join(here, 'upstream.mjs')], { env: { DELAY_MS: String(delayMs) }, ready: portLine });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-bench-'));
  // The gateway runs only priced models: the bench provider's, at a list price.
  const pricing = path.join(dataDir, 'pricing.json');
  fs.writeFileSync(pricing, JSON.stringify({ models: { 'bench/*': { inputPerMillionMicros: 150000, outputPerMillionMicros: 600000 } } }));
  const tollgate = await start(path.join(BUILD, 'bin', 'tollgate'), ['serve', '--port', '0', '--data-dir', dataDir], {
    env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN, DATABASE_URL: '', TOLLGATE_ALLOW_PRIVATE_UPSTREAMS: '1', TOLLGATE_PRICING_FILE: pricing },
    ready: (out) => { const m = /"event":"listening".*?"port":(\d+)/.exec(out); return m ? { port: Number(m[1]) } : null; },
  });
  const relay = await start(path.join(BUILD, 'bin', 'bench_relay'), [String(upstream.port)], { ready: portLine });
  const portkeyPort = await freePort();
  const portkey = await start(process.execPath, [path.join(root, 'node_modules', '@portkey-ai', 'gateway', 'build', 'start-server.js'), `--port=${portkeyPort}`, '--headless'], {
    env: { NODE_ENV: 'production' }, ready: (out) => (/Ready for connections/.test(out) ? { port: portkeyPort } : null),
  });

  // Tollgate: a project, the provider's key, a feature on it, one runtime session.
  const project = await json(tollgate.port, 'POST', '/v1/projects', ADMIN_TOKEN, { name: 'bench' });
  await json(tollgate.port, 'PUT', '/v1/providers/bench', project.secretKey, { apiKey: 'sk-bench', baseUrl: `http://127.0.0.1:${upstream.port}/v1` });
  await json(tollgate.port, 'POST', '/v1/operations', project.secretKey, {
    slug: 'answer', model: 'bench/bench-model', systemPrompt: 'Answer briefly.', userTemplate: 'Say hello to {{name}}.', maxTokens: 64, price: { type: 'fixed', credits: 0 },
  });
  const session = await json(tollgate.port, 'POST', '/v1/runtime/sessions', project.secretKey, { endUserId: 'bench_user', operationIds: ['answer'], ttlMinutes: 60 });
  // A user key with a cap far above what the bench spends, so every call reserves against it.
  const userKey = await json(tollgate.port, 'POST', '/v1/keys', project.secretKey, { userId: 'bench_user', spendCapMicros: 1_000_000_000_000 });
  const gatewayBody = (stream) => JSON.stringify({ model: 'bench/bench-model', max_tokens: 64, stream, ...(stream ? { stream_options: { include_usage: true } } : {}),
    messages: [{ role: 'system', content: 'Answer briefly.' }, { role: 'user', content: 'Say hello to Ada.' }] });

  const openaiBody = (stream) => JSON.stringify({ model: 'bench-model', max_tokens: 64, stream, ...(stream ? { stream_options: { include_usage: true } } : {}),
    messages: [{ role: 'system', content: 'Answer briefly.' }, { role: 'user', content: 'Say hello to Ada.' }] });
  const targets = [
    { name: 'direct (ceiling)', port: upstream.port, path: '/v1/chat/completions', headers: { authorization: 'Bearer sk-bench' }, body: openaiBody(false), streamBody: openaiBody(true), pid: null },
    { name: 'tollgate', port: tollgate.port, path: '/v1/runtime/invoke', headers: { authorization: `Bearer ${session.token}` },
      body: JSON.stringify({ operation: 'answer', input: { name: 'Ada' } }), streamBody: JSON.stringify({ operation: 'answer', input: { name: 'Ada' }, stream: true }), pid: tollgate.child.pid },
    { name: 'tollgate gateway (user key)', port: tollgate.port, path: '/v1/chat/completions', headers: { authorization: `Bearer ${userKey.secret}` },
      body: gatewayBody(false), streamBody: gatewayBody(true), pid: tollgate.child.pid },
    { name: 'portkey', port: portkey.port, path: '/v1/chat/completions',
      headers: { authorization: 'Bearer sk-bench', 'x-portkey-provider': 'openai', 'x-portkey-custom-host': `http://127.0.0.1:${upstream.port}/v1` },
      body: openaiBody(false), streamBody: openaiBody(true), pid: portkey.child.pid },
  ];
  // The floor relays the direct call's request unchanged, at concurrency 1 only.
  const floor = { name: 'relay (floor)', port: relay.port, path: '/v1/chat/completions', headers: { authorization: 'Bearer sk-bench' }, body: openaiBody(false) };
  const lat = await latencies([...targets, floor]);
  const ttft = await latencies(targets, { stream: true });
  // Throughput in rounds, the targets taking turns; each row reports its median round.
  const rounds = targets.map(() => []);
  // A pause between runs lets the last run's connections close: tollgate and the gateway share
  // one process, and wrk's 256 connections are the per-address limit (connections_per_ip_max),
  // so a run started while the previous one's calls still finish would be refused in part.
  for (let r = 0; r < WRK_ROUNDS; r += 1) {
    for (const [t, target] of targets.entries()) {
      rounds[t].push(throughput(target));
      await new Promise((resolve) => setTimeout(resolve, ROUND_PAUSE_MS));
    }
  }
  const rows = targets.map((target, t) => {
    const rps = rounds[t].map((round) => round.rps).sort((a, b) => a - b);
    return { ...target, lat: lat[t], ttft: ttft[t], rps: rps[Math.floor(rps.length / 2)],
      failed: rounds[t].reduce((sum, round) => sum + round.failed, 0), rss: target.pid ? rssMb(target.pid) : null };
  });
  rows.push({ ...floor, lat: lat[targets.length], ttft: null, rps: null, failed: 0, rss: null });
  // Every bench call was metered: the ledger must hold one settled hold per successful call.
  const audit = await json(tollgate.port, 'GET', '/v1/ledger/audit', project.secretKey);
  if (!audit.ok || audit.openHolds !== 0) throw new Error(`ledger audit after the bench: ${JSON.stringify(audit)}`);
  for (const p of [upstream, relay, tollgate, portkey]) p.child.kill('SIGTERM');
  fs.rmSync(dataDir, { recursive: true, force: true });
  return rows;
}

// What one durable commit costs on the data dir's disk: a 32 KB append (about one SQLite commit's
// WAL at concurrency 1) and its fdatasync, 1,000 times. A proxy whose answer waits for a durable
// commit cannot add less than the floor plus this.
function fdatasyncCost() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-bench-sync-'));
  const fd = fs.openSync(path.join(dir, 'wal'), 'w');
  const page = Buffer.alloc(32 * 1024, 7);
  const times = [];
  for (let i = 0; i < 1000; i += 1) {
    fs.writeSync(fd, page);
    const started = process.hrtime.bigint();
    fs.fdatasyncSync(fd);
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  fs.closeSync(fd);
  fs.rmSync(dir, { recursive: true, force: true });
  return summary(times);
}

const fmt = (ms) => ms.toFixed(2);
console.log('bench/proxy: Tollgate and Portkey in front of one OpenAI-format provider on 127.0.0.1');
console.log(`latency: ${LATENCY_REQUESTS} sequential requests (keep-alive) per target after ${WARMUP_REQUESTS} warm-up, targets interleaved; first token: ${STREAM_REQUESTS} streamed; throughput: wrk -t1 -c${CONNECTIONS} ${WRK_SECONDS} s, median of ${WRK_ROUNDS} rounds taken in turn`);
console.log(`machine: ${os.cpus().length} cores, ${os.cpus()[0].model}`);
console.log('');
console.log('| upstream delay | path | p50 ms | p99 ms | added p50 / p99 ms | first token p50 ms (added) | max req/s | ÷ portkey | RSS MB |');
console.log('|---|---|---|---|---|---|---|---|---|');
const verdicts = [];
for (const delay of [0, 20]) {
  const rows = await scenario(delay);
  const [direct, tollgate, gateway, portkey, floor] = rows;
  for (const row of rows) {
    const added = row === direct ? '—' : `${fmt(row.lat.p50 - direct.lat.p50)} / ${fmt(row.lat.p99 - direct.lat.p99)}`;
    const ttft = row.ttft === null ? '—' : row.ttft.error ? `fails: ${row.ttft.error}`
      : row === direct ? fmt(row.ttft.p50) : `${fmt(row.ttft.p50)} (+${fmt(row.ttft.p50 - direct.ttft.p50)})`;
    const rps = row.rps === null ? '—' : `${Math.round(row.rps).toLocaleString('en-US')}${row.failed ? ` (${row.failed} failed)` : ''}`;
    const ratio = row === tollgate || row === gateway ? `${(row.rps / portkey.rps).toFixed(1)}×` : '';
    console.log(`| ${delay} ms | ${row.name} | ${fmt(row.lat.p50)} | ${fmt(row.lat.p99)} | ${added} | ${ttft} | ${rps} | ${ratio} | ${row.rss === null ? '—' : row.rss.toFixed(1)} |`);
  }
  const addedP99 = tollgate.lat.p99 - direct.lat.p99;
  verdicts.push(`${delay} ms: tollgate ${(tollgate.rps / portkey.rps).toFixed(1)}× portkey's req/s (target ≥ 10×: ${tollgate.rps >= 10 * portkey.rps ? 'pass' : 'MISS'}); added p99 ${fmt(addedP99)} ms at c=1 (target < 1 ms: ${addedP99 < 1 ? 'pass' : 'MISS'}; the bare relay's floor: ${fmt(floor.lat.p99 - direct.lat.p99)} ms)`);
  verdicts.push(`${delay} ms: the gateway (user key) ${(gateway.rps / portkey.rps).toFixed(1)}× portkey's req/s, ${(gateway.rps / direct.rps * 100).toFixed(0)}% of direct; added p50 ${fmt(gateway.lat.p50 - direct.lat.p50)} ms at c=1 (invoke: ${fmt(tollgate.lat.p50 - direct.lat.p50)} ms)`);
}
const sync = fdatasyncCost();
console.log('');
console.log(`disk: fdatasync after a 32 KB append takes ${fmt(sync.p50)} ms at p50 and ${fmt(sync.p99)} ms at p99 (1,000 in ${os.tmpdir()}, where the data dirs are)`);
for (const v of verdicts) console.log(v);
process.exit(0);
