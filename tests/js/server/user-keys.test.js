// User keys (tgk_…): their lifecycle through the keys routes, what is stored of them, and the
// cap they carry, under concurrency on SQLite and on two processes over one PostgreSQL.
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { startServer, tempDir } = require('../helpers/server');
const { startFakeProvider } = require('../helpers/fake-provider');
const { startPostgres } = require('../helpers/postgres');
const { ADMIN_TOKEN, call, createProject, expectLedgerSound } = require('../helpers/api');

const PRICES = { inputPerMillionMicros: 1_000_000, outputPerMillionMicros: 2_000_000, maxOutputTokens: 1000 };
const STREAMED = 'fake/drip-8-15';  // eight pieces, 15 ms apart: calls overlap
const CONCURRENT = 50;

let fake;
let pricingDir;
let pricing;

beforeAll(async () => {
  fake = await startFakeProvider();
  pricingDir = tempDir();
  pricing = path.join(pricingDir, 'pricing.json');
  fs.writeFileSync(pricing, JSON.stringify({ models: { 'fake/*': PRICES } }));
});

afterAll(async () => {
  await fake?.stop();
  fs.rmSync(pricingDir, { recursive: true, force: true });
});

async function setUp(server) {
  const project = await createProject(server);
  const res = await call(server, 'PUT', '/v1/providers/fake', { key: project.sk, body: { apiKey: 'provider-key', baseUrl: `${fake.url}/v1` } });
  expect(res.status).toBe(200);
  return project;
}

const createKey = (server, sk, body) => call(server, 'POST', '/v1/keys', { key: sk, body: { userId: 'ada', ...body } });
const chat = (server, secret, body = {}) =>
  call(server, 'POST', '/v1/chat/completions', { key: secret, body: { model: 'fake/text', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 50, ...body } });

// A streamed completion read to its end: its status and whether it finished with [DONE].
async function streamed(server, secret, model = STREAMED) {
  const res = await fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, stream: true, max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] }),
  });
  const text = await res.text();
  return { status: res.status, done: text.endsWith('data: [DONE]\n\n') && !text.includes('"error"') };
}

async function pollUntil(read, accept, deadlineMs) {
  for (;;) {
    const value = await read();
    if (accept(value) || Date.now() > deadlineMs) return { ...value, atMs: Date.now() };
    await new Promise((r) => setTimeout(r, 20));
  }
}

// 50 streamed calls at once on a key whose cap covers about 10 worst cases: the key never spends
// past its cap, some calls are refused with 402, and no hold stays open.
async function expectNoOvershoot(servers, project) {
  const quote = await call(servers[0], 'POST', '/v1/quote', { key: project.sk, body: { userId: 'ada', model: STREAMED, max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] } });
  expect(quote.status).toBe(200);
  const cap = quote.body.worstCaseMicros * 10 + Math.floor(quote.body.worstCaseMicros / 2);
  const key = (await createKey(servers[0], project.sk, { spendCapMicros: cap })).body;
  const results = await Promise.all(Array.from({ length: CONCURRENT }, (_, i) => streamed(servers[i % servers.length], key.secret)));
  const ok = results.filter((r) => r.status === 200 && r.done).length;
  const refused = results.filter((r) => r.status === 402).length;
  expect(ok + refused).toBe(CONCURRENT);
  expect(ok).toBeGreaterThanOrEqual(10);
  expect(refused).toBeGreaterThan(0);
  const after = await call(servers[0], 'GET', `/v1/keys/${key.id}`, { key: project.sk });
  expect(after.body.spend.heldMicros).toBe(0);
  expect(after.body.spend.periodSpentMicros).toBeLessThanOrEqual(cap);
  expect(after.body.spend.periodSpentMicros).toBeGreaterThan(0);
  const usage = await call(servers[0], 'GET', `/v1/usage?keyId=${key.id}`, { key: project.sk });
  expect(usage.body.total.micros).toBe(after.body.spend.periodSpentMicros);
  expect(usage.body.total.requests).toBe(ok);
  await expectLedgerSound(servers[0], project.sk);
}

describe('on SQLite', () => {
  let server;
  let project;

  beforeAll(async () => {
    server = await startServer({ env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN, TOLLGATE_PRICING_FILE: pricing } });
    project = await setUp(server);
  });
  afterAll(async () => server?.stop());

  test('create shows the secret once; reads show its start, spend and reset time, never the secret', async () => {
    const created = await createKey(server, project.sk, { name: 'Ada laptop', spendCapMicros: 2_000_000, capPeriod: 'day', models: ['fake/*'], metadata: { team: 'a' } });
    expect(created.status).toBe(201);
    const key = created.body;
    expect(key.secret).toMatch(/^tgk_[0-9A-Za-z]{38}$/);
    expect(key.secret.startsWith(key.start)).toBe(true);
    expect(key).toMatchObject({ object: 'user_key', userId: 'ada', name: 'Ada laptop', capPeriod: 'day', models: ['fake/*'], metadata: { team: 'a' }, revokedAtMs: null });
    const read = await call(server, 'GET', `/v1/keys/${key.id}`, { key: project.sk });
    expect(read.status).toBe(200);
    expect(read.body.secret).toBeUndefined();
    const dayStart = Date.now() - (Date.now() % 86_400_000);
    expect(read.body.spend).toEqual({ periodStartMs: dayStart, periodResetsAtMs: dayStart + 86_400_000, periodSpentMicros: 0, periodCreditMicros: 0, heldMicros: 0, remainingMicros: 2_000_000, lifetimeMicros: 0 });
    const list = await call(server, 'GET', '/v1/keys?userId=ada&limit=100', { key: project.sk });
    expect(list.body.data.map((k) => k.id)).toContain(key.id);
    expect(JSON.stringify(list.body)).not.toContain(key.secret);
    const own = await call(server, 'GET', '/v1/key', { key: key.secret });
    expect(own.body).toMatchObject({ id: key.id, capPeriod: 'day', spendCapMicros: 2_000_000, remainingMicros: 2_000_000, periodResetsAtMs: dayStart + 86_400_000 });
  });

  test('lists page with limit and starting_after, and filter by userId', async () => {
    const ids = [];
    for (let i = 0; i < 3; i += 1) ids.push((await createKey(server, project.sk, { userId: 'pager' })).body.id);
    const first = await call(server, 'GET', '/v1/keys?userId=pager&limit=2', { key: project.sk });
    expect(first.body.hasMore).toBe(true);
    const second = await call(server, 'GET', `/v1/keys?userId=pager&limit=2&starting_after=${first.body.data[1].id}`, { key: project.sk });
    expect(second.body.hasMore).toBe(false);
    expect([...first.body.data, ...second.body.data].map((k) => k.id)).toEqual([...ids].sort());
  });

  test('bad settings get 400 naming the field, and nothing is created', async () => {
    const before = (await call(server, 'GET', '/v1/keys?userId=bad&limit=100', { key: project.sk })).body.data.length;
    const cases = [
      [{ userId: '' }, 'userId'],
      [{ capPeriod: 'yearly' }, 'capPeriod'],
      [{ spendCapMicros: -1 }, 'spendCapMicros'],
      [{ spendCapMicros: 1.5 }, 'spendCapMicros'],
      [{ models: 'fake/text' }, 'models'],
      [{ models: ['gpt-4o'] }, 'models'],
      [{ models: [7] }, 'models'],
      [{ expiresAtMs: 1000 }, 'expiresAtMs'],
      [{ metadata: { big: 'x'.repeat(5000) } }, 'metadata'],
      [{ metadata: [1] }, 'metadata'],
      [{ extra: true }, 'extra'],
    ];
    for (const [body, param] of cases) {
      const res = await call(server, 'POST', '/v1/keys', { key: project.sk, body: { userId: 'bad', ...body } });
      expect([res.status, res.body.error.param]).toEqual([400, param]);
    }
    expect((await call(server, 'GET', '/v1/keys?userId=bad&limit=100', { key: project.sk })).body.data.length).toBe(before);
    expect((await call(server, 'POST', '/v1/keys', { key: project.pk, body: { userId: 'bad' } })).status).toBe(403);
  });

  test('a malformed key or a bad checksum is refused as malformed; a project key is not a user key', async () => {
    const key = (await createKey(server, project.sk, {})).body;
    const last = key.secret.slice(-1) === 'a' ? 'b' : 'a';
    for (const secret of [key.secret.slice(0, -1) + last, 'tgk_short', `${key.secret}x`]) {
      const res = await chat(server, secret);
      expect(res.status).toBe(401);
      expect(res.body.error.message).toMatch(/malformed/);
    }
    expect((await chat(server, project.sk)).status).toBe(401);
    expect((await call(server, 'GET', '/v1/accounts/ada', { key: key.secret })).status).toBe(401);
  });

  test('PATCH changes the cap and the models, and a revoked key stops at once and cannot be patched', async () => {
    const key = (await createKey(server, project.sk, { spendCapMicros: 10 })).body;
    expect((await chat(server, key.secret)).status).toBe(402);
    const patched = await call(server, 'PATCH', `/v1/keys/${key.id}`, { key: project.sk, body: { spendCapMicros: null, models: ['fake/text'], name: 'renamed' } });
    expect(patched.body).toMatchObject({ spendCapMicros: null, models: ['fake/text'], name: 'renamed' });
    expect((await chat(server, key.secret)).status).toBe(200);
    expect((await chat(server, key.secret, { model: 'fake/json' })).status).toBe(403);
    const revoked = await call(server, 'DELETE', `/v1/keys/${key.id}`, { key: project.sk });
    expect(revoked.body.revokedAtMs).toEqual(expect.any(Number));
    const refused = await chat(server, key.secret);
    expect(refused.status).toBe(401);
    expect(refused.body.error.message).toMatch(/revoked/);
    expect((await call(server, 'PATCH', `/v1/keys/${key.id}`, { key: project.sk, body: { name: 'x' } })).status).toBe(409);
    expect((await call(server, 'POST', `/v1/keys/${key.id}/roll`, { key: project.sk })).status).toBe(409);
    expect((await call(server, 'GET', '/v1/keys/key_nope', { key: project.sk })).status).toBe(404);
  });

  test('a key past its expiry stops', async () => {
    const expiresAtMs = Date.now() + 1000;
    const key = (await createKey(server, project.sk, { expiresAtMs })).body;
    expect((await chat(server, key.secret)).status).toBe(200);
    await new Promise((r) => setTimeout(r, expiresAtMs - Date.now() + 50));
    const res = await chat(server, key.secret);
    expect(res.status).toBe(401);
    expect(res.body.error.message).toMatch(/expired/);
  });

  test('a roll with grace: same id, cap and spend; the old secret works for the grace, then stops', async () => {
    const key = (await createKey(server, project.sk, { spendCapMicros: 1_000_000 })).body;
    expect((await chat(server, key.secret)).status).toBe(200);
    const spent = (await call(server, 'GET', `/v1/keys/${key.id}`, { key: project.sk })).body.spend.periodSpentMicros;
    const rolled = await call(server, 'POST', `/v1/keys/${key.id}/roll`, { key: project.sk, body: { graceMs: 2000 } });
    expect(rolled.status).toBe(200);
    expect(rolled.body.id).toBe(key.id);
    expect(rolled.body.secret).not.toBe(key.secret);
    expect(rolled.body.spendCapMicros).toBe(1_000_000);
    expect(rolled.body.spend.periodSpentMicros).toBe(spent);
    expect(rolled.body.previousSecretExpiresAtMs).toBeGreaterThan(Date.now());
    expect((await chat(server, key.secret)).status).toBe(200);
    expect((await chat(server, rolled.body.secret)).status).toBe(200);
    await new Promise((r) => setTimeout(r, rolled.body.previousSecretExpiresAtMs - Date.now() + 50));
    const old = await chat(server, key.secret);
    expect(old.status).toBe(401);
    expect(old.body.error.message).toMatch(/rolled/);
    expect((await chat(server, rolled.body.secret)).status).toBe(200);
    const noGrace = await call(server, 'POST', `/v1/keys/${key.id}/roll`, { key: project.sk });
    expect((await chat(server, rolled.body.secret)).status).toBe(401);
    expect((await chat(server, noGrace.body.secret)).status).toBe(200);
    expect((await call(server, 'POST', `/v1/keys/${key.id}/roll`, { key: project.sk, body: { graceMs: 8 * 86_400_000 } })).status).toBe(400);
  });

  test('a credit raises this period\'s cap, as an idempotent entry', async () => {
    const key = (await createKey(server, project.sk, { spendCapMicros: 10 })).body;
    expect((await chat(server, key.secret)).status).toBe(402);
    const headers = { 'idempotency-key': `credit-${key.id}` };
    const body = { amountMicros: 1_000_000, reason: 'support goodwill' };
    const credited = await call(server, 'POST', `/v1/keys/${key.id}/credit`, { key: project.sk, body, headers });
    expect(credited.status).toBe(200);
    expect(credited.body.spend).toMatchObject({ periodCreditMicros: 1_000_000, remainingMicros: 1_000_010 });
    const replay = await call(server, 'POST', `/v1/keys/${key.id}/credit`, { key: project.sk, body, headers });
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body.spend.periodCreditMicros).toBe(1_000_000);
    const reused = await call(server, 'POST', `/v1/keys/${key.id}/credit`, { key: project.sk, body: { ...body, amountMicros: 5 }, headers });
    expect(reused.status).toBe(409);
    expect((await call(server, 'POST', `/v1/keys/${key.id}/credit`, { key: project.sk, body: { amountMicros: 0, reason: 'x' } })).body.error.param).toBe('amountMicros');
    expect((await call(server, 'POST', '/v1/keys/key_nope/credit', { key: project.sk, body })).status).toBe(404);
    expect((await chat(server, key.secret)).status).toBe(200);
    const own = await call(server, 'GET', '/v1/key', { key: key.secret });
    expect(own.body.remainingMicros).toBeLessThan(1_000_010);
  });

  test('a client that goes away mid-stream: the upstream stops, what streamed is charged, no hold stays open', async () => {
    const key = (await createKey(server, project.sk, {})).body;
    await fake.reset();
    const controller = new AbortController();
    const res = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      signal: controller.signal,
      headers: { authorization: `Bearer ${key.secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fake/drip-40-50', stream: true, max_tokens: 500, messages: [{ role: 'user', content: 'Hi' }] }),
    });
    const reader = res.body.getReader();
    let seen = '';
    while (!seen.includes('piece 2')) seen += new TextDecoder().decode((await reader.read()).value);
    controller.abort();
    const settled = await pollUntil(
      async () => (await call(server, 'GET', `/v1/keys/${key.id}`, { key: project.sk })).body.spend,
      (s) => s.heldMicros === 0 && s.periodSpentMicros > 0,
      Date.now() + 5000,
    );
    expect(settled.heldMicros).toBe(0);
    expect(settled.periodSpentMicros).toBeGreaterThan(0);
    const closed = await pollUntil(async () => fake.requests(), (r) => r.closedEarly.length > 0, Date.now() + 5000);
    expect(closed.closedEarly.length).toBe(1);
  });

  test('50 concurrent streamed calls never spend past the key\'s cap', async () => {
    await expectNoOvershoot([server], project);
  });

  test('no secret is in any file of the data dir or in the log', async () => {
    const key = (await createKey(server, project.sk, {})).body;
    expect((await chat(server, key.secret)).status).toBe(200);
    const rolled = (await call(server, 'POST', `/v1/keys/${key.id}/roll`, { key: project.sk, body: { graceMs: 60_000 } })).body;
    expect((await chat(server, key.secret)).status).toBe(200);
    const secrets = [key.secret, rolled.secret];
    const files = fs.readdirSync(server.dataDir).map((f) => path.join(server.dataDir, f));
    expect(files.some((f) => f.endsWith('-wal'))).toBe(true);
    for (const file of files) {
      const bytes = fs.readFileSync(file);
      for (const secret of secrets) expect({ file, found: bytes.includes(secret) }).toEqual({ file, found: false });
    }
    const stored = fs.readFileSync(path.join(server.dataDir, 'tollgate.db'));
    const walled = fs.readFileSync(files.find((f) => f.endsWith('-wal')));
    const hash = crypto.createHash('sha256').update(rolled.secret).digest('hex');
    expect(stored.includes(hash) || walled.includes(hash)).toBe(true);  // the hash is what is kept
    const log = JSON.stringify(server.logs);
    for (const secret of secrets) expect(log.includes(secret)).toBe(false);
  });
});

describe('two processes on one PostgreSQL', () => {
  let pg;
  let a;
  let b;
  let project;
  const MASTER_KEY = crypto.randomBytes(32).toString('hex');

  beforeAll(async () => {
    pg = await startPostgres();
    const url = await pg.freshDatabase();
    const env = { DATABASE_URL: url, TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN, TOLLGATE_MASTER_KEY: MASTER_KEY, TOLLGATE_PRICING_FILE: pricing };
    a = await startServer({ env });
    b = await startServer({ env });
    project = await setUp(a);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await pg?.stop();
  });

  test('50 concurrent streamed calls across both never spend past the key\'s cap', async () => {
    await expectNoOvershoot([a, b], project);
  });

  test('a revoke through one process stops the key on the other within a second', async () => {
    const key = (await createKey(a, project.sk, {})).body;
    expect((await chat(b, key.secret)).status).toBe(200);  // B has it cached
    expect((await call(b, 'GET', '/v1/key', { key: key.secret })).status).toBe(200);
    const revokedAt = Date.now();
    expect((await call(a, 'DELETE', `/v1/keys/${key.id}`, { key: project.sk })).status).toBe(200);
    const onB = await pollUntil(() => call(b, 'GET', '/v1/key', { key: key.secret }), (r) => r.status === 401, revokedAt + 2000);
    expect(onB.status).toBe(401);
    expect(onB.atMs - revokedAt).toBeLessThanOrEqual(1000);
    expect((await chat(b, key.secret)).status).toBe(401);
  });
});
