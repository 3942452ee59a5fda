// The real tollgate binary on a loopback port: routes, the JSON error shape, limits, logs,
// command-line errors and graceful shutdown.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { root, tollgate } = require('../helpers/paths');
const { startServer, tempDir } = require('../helpers/server');

/** Sends raw bytes and resolves with everything the server sends back before closing. */
function rawRequest(port, chunks, { gapMs = 0 } = {}) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    socket.on('data', (d) => (received += d));
    socket.on('end', () => resolve(received));
    socket.on('error', (e) => (received ? resolve(received) : reject(e)));
    socket.on('connect', async () => {
      for (const chunk of chunks) {
        socket.write(chunk);
        if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
      }
    });
  });
}

const statusOf = (raw) => Number(raw.split(' ')[1]);
const bodyOf = (raw) => JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4));

function expectErrorShape(body, code) {
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error)).toEqual(['type', 'code', 'message', 'param']);
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.message.length).toBeGreaterThan(0);
}

describe('a running server', () => {
  let server;
  beforeAll(async () => {
    server = await startServer({ args: ['--body-bytes-max', '1024'] });
  });
  afterAll(async () => {
    await server.stop();
  });

  test('GET /healthz reports ok, version and store', async () => {
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{16}$/);
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'sdk-wasm/package.json'), 'utf8'));
    expect(await res.json()).toEqual({ ok: true, version: pkg.version, store: 'sqlite' });
  });

  test('creates the SQLite database in the data dir', () => {
    expect(fs.existsSync(path.join(server.dataDir, 'tollgate.db'))).toBe(true);
  });

  test('unknown path is a JSON 404', async () => {
    const res = await fetch(`${server.url}/v1/nothing-here`);
    expect(res.status).toBe(404);
    expectErrorShape(await res.json(), 'not_found');
  });

  test('wrong method is a JSON 405 with Allow', async () => {
    const res = await fetch(`${server.url}/healthz`, { method: 'DELETE' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET');
    expectErrorShape(await res.json(), 'method_not_allowed');
  });

  test('a server route never lets another origin read it; a browser route\'s preflight may (cors.test.js has the table)', async () => {
    const preflight = await fetch(`${server.url}/v1/runtime/invoke`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/authorization/);
    expect(preflight.headers.get('access-control-allow-methods')).toBe('POST');
    expect(preflight.headers.get('access-control-allow-credentials')).toBeNull();
    const res = await fetch(`${server.url}/healthz`, { headers: { origin: 'https://app.example.com' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  test('a body over the limit is a JSON 413', async () => {
    const res = await fetch(`${server.url}/healthz`, { method: 'POST', body: 'x'.repeat(4096) });
    expect(res.status).toBe(413);
    expectErrorShape(await res.json(), 'payload_too_large');
  });

  test('a declared body over the limit is refused before it is sent', async () => {
    const raw = await rawRequest(server.port, [
      'POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n',
    ]);
    expect(statusOf(raw)).toBe(413);
    expectErrorShape(bodyOf(raw), 'payload_too_large');
  });

  test('headers over the limit are a JSON 431', async () => {
    const raw = await rawRequest(server.port, [
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`,
    ]);
    expect(statusOf(raw)).toBe(431);
    expectErrorShape(bodyOf(raw), 'headers_too_large');
  });

  test('a malformed request is a JSON 400', async () => {
    const raw = await rawRequest(server.port, ['GET /healthz HTTP/1.1\r\nHost x-no-colon\r\n\r\n']);
    expect(statusOf(raw)).toBe(400);
    expectErrorShape(bodyOf(raw), 'invalid_argument');
  });

  test('keep-alive serves several requests on one connection', async () => {
    const one = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';
    const raw = await rawRequest(server.port, [one, one, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
    expect(raw.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(3);
  });

  test('one structured log line per request, without the query string', async () => {
    await fetch(`${server.url}/healthz?key=sk_live_secret_value`);
    await new Promise((r) => setTimeout(r, 100));
    const line = server.logs.filter((l) => l.event === 'http_request').pop();
    expect(line).toMatchObject({ level: 'info', method: 'GET', path: '/healthz', status: 200 });
    expect(typeof line.ts_ms).toBe('number');
    expect(typeof line.duration_us).toBe('number');
    expect(line.request_id).toMatch(/^req_/);
    expect(JSON.stringify(server.logs)).not.toContain('sk_live_secret_value');
  });
});

describe('limits on idle connections', () => {
  test('an idle connection is closed after --idle-timeout-ms', async () => {
    const server = await startServer({ args: ['--idle-timeout-ms', '300'] });
    try {
      const started = Date.now();
      const raw = await rawRequest(server.port, []); // connect, send nothing
      expect(raw).toBe('');
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await server.stop();
    }
  });
});

describe('limits on slow clients', () => {
  test('a slow but steady client is not cut off by the idle timeout', async () => {
    const server = await startServer({ args: ['--idle-timeout-ms', '400'] });
    try {
      const request = 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
      const chunks = request.match(/.{1,6}/gs); // ~8 chunks, 150 ms apart: ~1.2 s in all
      const started = Date.now();
      const raw = await rawRequest(server.port, chunks, { gapMs: 150 });
      expect(Date.now() - started).toBeGreaterThan(800);
      expect(statusOf(raw)).toBe(200);
    } finally {
      await server.stop();
    }
  });
});

describe('running out of file descriptors', () => {
  test('accept errors back off instead of spinning, and serving resumes', async () => {
    // An explicit --connections-max is kept beyond what the descriptors allow (a default one is
    // lowered to fit), so accept() runs out of them here.
    const server = await startServer({ fdLimit: 40, args: ['--connections-max', '1024'] });
    const sockets = [];
    try {
      for (let i = 0; i < 60; i += 1) {
        const socket = net.connect(server.port, '127.0.0.1');
        socket.on('error', () => {});
        sockets.push(socket);
      }
      await new Promise((r) => setTimeout(r, 1500));
      const failures = server.logs.filter((l) => l.event === 'accept_failed');
      expect(failures.length).toBeGreaterThan(0);
      expect(failures.length).toBeLessThan(15); // 10 ms doubling to 1 s: ~8 in 1.5 s, not thousands
      expect(failures.at(-1).retry_ms).toBeGreaterThan(failures[0].retry_ms);
      for (const socket of sockets) socket.destroy();
      await new Promise((r) => setTimeout(r, 1200));
      const res = await fetch(`${server.url}/healthz`);
      expect(res.status).toBe(200);
    } finally {
      for (const socket of sockets) socket.destroy();
      await server.stop();
    }
  });
});

describe('graceful shutdown', () => {
  test('SIGTERM finishes the in-flight request, then exits 0', async () => {
    const server = await startServer();
    const head = 'POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345';
    const socket = net.connect(server.port, '127.0.0.1');
    let received = '';
    socket.on('data', (d) => (received += d));
    const closed = new Promise((resolve) => socket.on('close', resolve));
    await new Promise((resolve) => socket.on('connect', resolve));
    socket.write(head); // half the body: the request is in flight
    await new Promise((r) => setTimeout(r, 150));
    server.proc.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    expect(server.proc.exitCode).toBeNull(); // still waiting for our request
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow(); // but no longer accepting
    socket.write('67890');
    await closed;
    expect(statusOf(received)).toBe(405); // the request was answered, not dropped
    expect(received.toLowerCase()).toContain('connection: close');
    const { code } = await server.exited;
    expect(code).toBe(0);
    expect(server.logs.map((l) => l.event)).toEqual(expect.arrayContaining(['shutdown_started', 'stopped']));
    await server.stop();
  });

  test('SIGINT with idle keep-alive connections exits promptly', async () => {
    const server = await startServer();
    const socket = net.connect(server.port, '127.0.0.1');
    await new Promise((resolve) => socket.on('connect', resolve));
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    server.proc.kill('SIGINT');
    const { code } = await server.exited;
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(900); // no wait for the idle client
    socket.destroy();
    await server.stop();
  });
});

describe('command line', () => {
  const run = (args, env = {}) =>
    spawnSync(tollgate, args, { env: { ...process.env, DATABASE_URL: '', ...env }, encoding: 'utf8', timeout: 10_000 });

  /** One line of JSON on stderr, in the API's error shape, naming the flag. */
  function expectOneLineError(result, code, param, exitCode) {
    expect(result.status).toBe(exitCode);
    expect(result.signal).toBeNull();
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    const body = JSON.parse(lines[0]);
    expectErrorShape(body, code);
    expect(body.error.param).toBe(param);
  }

  test('--version and --help', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'sdk-wasm/package.json'), 'utf8'));
    expect(run(['--version']).stdout.trim()).toBe(`tollgate ${pkg.version}`);
    const help = run(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('tollgate serve');
    expect(help.stdout).toContain('TOLLGATE_DATA_DIR');
  });

  test.each([
    [['serve', '--bogus'], '--bogus'],
    [['serve', '--port', 'eighty'], '--port'],
    [['serve', '--port', '70000'], '--port'],
    [['serve', '--port'], '--port'],
    [['serve', '--host', 'not-an-ip'], '--host'],
    [['serve', '--idle-timeout-ms', '0'], '--idle-timeout-ms'],
    [['frobnicate'], 'frobnicate'],
  ])('bad flag %j is one line and exit 2', (args, param) => {
    expectOneLineError(run(args), 'invalid_argument', param, 2);
  });

  test('a bad environment variable names the variable', () => {
    expectOneLineError(run(['serve'], { TOLLGATE_PORT: 'x' }), 'invalid_argument', 'TOLLGATE_PORT', 2);
  });

  test('a taken port is one line and exit 1', async () => {
    const server = await startServer();
    try {
      const dir = tempDir();
      expectOneLineError(run(['serve', '--port', String(server.port), '--data-dir', dir]), 'address_in_use', '--port', 1);
      fs.rmSync(dir, { recursive: true, force: true });
    } finally {
      await server.stop();
    }
  });

  test('an unwritable data dir is one line and exit 1', () => {
    const dir = tempDir();
    const file = path.join(dir, 'a-file');
    fs.writeFileSync(file, 'x');
    expectOneLineError(run(['serve', '--port', '0', '--data-dir', path.join(file, 'data')]), 'io_error', '--data-dir', 1);
    // A read-only directory is refused too (root ignores permissions, so only check when not root).
    if (process.getuid && process.getuid() !== 0) {
      const ro = path.join(dir, 'ro');
      fs.mkdirSync(ro, { mode: 0o500 });
      expectOneLineError(run(['serve', '--port', '0', '--data-dir', ro]), 'io_error', '--data-dir', 1);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a data dir on a read-only file system is one line and exit 1', () => {
    // /proc is read-only even for root.
    expectOneLineError(run(['serve', '--port', '0', '--data-dir', '/proc/tollgate-data']), 'io_error', '--data-dir', 1);
  });
});
