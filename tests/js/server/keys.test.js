// Rolling a project's keys and revoking a project, on real tollgate processes: the roll route's
// input, grace periods, idempotent retries (also from the key the roll stopped), the admin's
// revocation; then two processes on one PostgreSQL, where the other process follows within the
// documented cache window.
const { startServer } = require('../helpers/server');
const { startPostgres } = require('../helpers/postgres');
const { ADMIN_TOKEN, call, createProject, meter } = require('../helpers/api');

jest.setTimeout(120_000);

// server/auth/auth.h kAuthCacheTtl: another process stops a key within this long.
const CACHE_TTL_MS = 2_000;
// Room for the requests themselves on a loaded machine, on top of a deadline.
const SLACK_MS = 1_500;
const GRACE_MAX_MS = 7 * 24 * 60 * 60 * 1000;
const POLL_MS = 50;

const roll = (server, key, body, headers) =>
  call(server, 'POST', '/v1/projects/current/keys/roll', { key, body, headers });
const current = (server, key) => call(server, 'GET', '/v1/projects/current', { key });
const revoke = (server, id, key = ADMIN_TOKEN) => call(server, 'POST', `/v1/projects/${id}/revoke`, { key });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function mint(server, sk, operationIds = ['echo']) {
  const res = await call(server, 'POST', '/v1/runtime/sessions', { key: sk, body: { endUserId: 'visitor', operationIds } });
  expect(res.status).toBe(200);
  return res.body.token;
}

async function defineEcho(server, sk) {
  const res = await call(server, 'POST', '/v1/operations', { key: sk, body: { slug: 'echo', model: 'demo/echo', userTemplate: 'hi' } });
  expect(res.status).toBe(200);
}

/** Calls `request` until `done(status)` or the deadline; resolves to {status, atMs} of the last. */
async function pollUntil(request, done, deadlineMs) {
  for (;;) {
    const res = await request();
    if (done(res.status) || Date.now() > deadlineMs) return { status: res.status, body: res.body, atMs: Date.now() };
    await sleep(POLL_MS);
  }
}

describe('one process', () => {
  let server;
  beforeAll(async () => {
    server = await startServer({ env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN } });
  });
  afterAll(async () => {
    await server.stop();
  });

  test('rolling the secret key without grace: the new key once, the old one refused at once', async () => {
    const project = await createProject(server);
    const before = await current(server, project.sk);
    const oldId = before.body.keys.find((k) => k.kind === 'secret').id;
    const rolled = await roll(server, project.sk, { kind: 'secret' });
    expect(rolled.status).toBe(200);
    expect(Object.keys(rolled.body)).toEqual(['object', 'kind', 'key', 'keyId', 'hint', 'createdAtMs', 'oldKeyExpiresAtMs']);
    expect(rolled.body).toMatchObject({ object: 'key_roll', kind: 'secret' });
    expect(rolled.body.key).toMatch(/^sk_[0-9A-Za-z]{38}$/);
    expect(rolled.body.key).not.toBe(project.sk);
    expect(rolled.body.hint).toBe(rolled.body.key.slice(-4));
    expect(rolled.body.oldKeyExpiresAtMs).toBe(rolled.body.createdAtMs);
    const refused = await current(server, project.sk);
    expect(refused.status).toBe(401);
    expect(refused.body.error.message).toMatch(/rolled/);
    const after = await current(server, rolled.body.key);
    expect(after.status).toBe(200);
    // The old key is gone from the list; the new one is current.
    expect(after.body.keys.map((k) => [k.kind, k.expiresAtMs])).toEqual([['publishable', null], ['secret', null]]);
    expect(after.body.keys.map((k) => k.id)).not.toContain(oldId);
    expect(after.body.keys.find((k) => k.kind === 'secret').id).toBe(rolled.body.keyId);
    // The key is shown once and never logged.
    expect(JSON.stringify(server.logs)).not.toContain(rolled.body.key);
  });

  test('with grace, the old key works until then, but may not roll again', async () => {
    const project = await createProject(server);
    const rolled = await roll(server, project.sk, { kind: 'secret', graceMs: 60_000 });
    expect(rolled.status).toBe(200);
    expect(rolled.body.oldKeyExpiresAtMs).toBe(rolled.body.createdAtMs + 60_000);
    expect((await current(server, project.sk)).status).toBe(200);
    const listed = (await current(server, rolled.body.key)).body.keys;
    expect(listed.map((k) => [k.kind, k.expiresAtMs])).toEqual([
      ['publishable', null], ['secret', null], ['secret', rolled.body.oldKeyExpiresAtMs]]);
    // A key in its grace period may be the leaked one: it cannot mint itself a successor.
    const again = await roll(server, project.sk, { kind: 'secret' });
    expect([again.status, again.body.error.code]).toEqual([403, 'forbidden']);
    // The new key may, and without grace stops the old one too.
    const now = await roll(server, rolled.body.key, { kind: 'secret' });
    expect(now.status).toBe(200);
    expect((await current(server, project.sk)).status).toBe(401);
    expect((await current(server, rolled.body.key)).status).toBe(401);
    expect((await current(server, now.body.key)).status).toBe(200);
  });

  test('rolling the publishable key leaves the secret key alone', async () => {
    const project = await createProject(server, { startingCredits: 10 });
    const rolled = await roll(server, project.sk, { kind: 'publishable' });
    expect(rolled.status).toBe(200);
    expect(rolled.body.key).toMatch(/^pk_/);
    const old = await meter(server, project.pk, { userId: 'u', event: 'e' });
    expect([old.status, old.body.error.code]).toEqual([401, 'unauthenticated']);
    expect((await meter(server, rolled.body.key, { userId: 'u', event: 'e' })).status).toBe(200);
    expect((await current(server, project.sk)).status).toBe(200);
    // The publishable key cannot roll anything.
    const byPk = await roll(server, rolled.body.key, { kind: 'publishable' });
    expect(byPk.status).toBe(403);
  });

  test.each([
    [{}, 'kind'],
    [{ kind: 'admin' }, 'kind'],
    [{ kind: 1 }, 'kind'],
    [{ kind: 'secret', graceMs: -1 }, 'graceMs'],
    [{ kind: 'secret', graceMs: GRACE_MAX_MS + 1 }, 'graceMs'],
    [{ kind: 'secret', graceMs: '60000' }, 'graceMs'],
    [{ kind: 'secret', revokeNow: true }, 'revokeNow'],
  ])('a roll with %j is refused naming %s, and rolls nothing', async (body, param) => {
    const project = await createProject(server);
    const res = await roll(server, project.sk, body);
    expect([res.status, res.body.error.code, res.body.error.param]).toEqual([400, 'invalid_argument', param]);
    expect((await current(server, project.sk)).status).toBe(200);
  });

  test('at most 4 keys of a kind in their grace period; no grace clears them', async () => {
    const project = await createProject(server);
    let key = project.sk;
    for (let i = 0; i < 4; i += 1) {
      const res = await roll(server, key, { kind: 'secret', graceMs: 60_000 });
      expect(res.status).toBe(200);
      key = res.body.key;
    }
    const over = await roll(server, key, { kind: 'secret', graceMs: 60_000 });
    expect([over.status, over.body.error.param]).toEqual([409, 'graceMs']);
    const cleared = await roll(server, key, { kind: 'secret' });
    expect(cleared.status).toBe(200);
    expect((await current(server, cleared.body.key)).body.keys.filter((k) => k.kind === 'secret')).toHaveLength(1);
  });

  test('an Idempotency-Key replays the answer, new key included, even from the key it stopped', async () => {
    const project = await createProject(server);
    const headers = { 'idempotency-key': 'roll-1' };
    const first = await roll(server, project.sk, { kind: 'secret' }, headers);
    expect(first.status).toBe(200);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    // The answer was lost: the retry, sent with the old (now stopped) key, learns the new key.
    const retry = await roll(server, project.sk, { kind: 'secret' }, headers);
    expect(retry.status).toBe(200);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.body).toEqual(first.body);
    expect((await current(server, first.body.key)).status).toBe(200);
    // That stopped key can do nothing else: not another request under the same Idempotency-Key,
    // not another Idempotency-Key, not any other route.
    const other = await roll(server, project.sk, { kind: 'secret', graceMs: 5 }, headers);
    expect(other.status).toBe(401);
    expect((await roll(server, project.sk, { kind: 'secret' }, { 'idempotency-key': 'roll-2' })).status).toBe(401);
    expect((await roll(server, project.sk, { kind: 'secret' })).status).toBe(401);
    expect((await current(server, project.sk)).status).toBe(401);
    // The live key that reuses the Idempotency-Key for another request is told so.
    const reused = await roll(server, first.body.key, { kind: 'publishable' }, headers);
    expect(reused.status).toBe(200); // another key: another scope
    const mismatch = await roll(server, first.body.key, { kind: 'secret' }, headers);
    expect([mismatch.status, mismatch.body.error.code]).toEqual([409, 'conflict']);
    expect((await current(server, first.body.key)).status).toBe(200);
    expect(JSON.stringify(server.logs)).not.toContain(first.body.key);
  });

  test('revoking a project stops its keys and runtime tokens, says so, and touches no other', async () => {
    const project = await createProject(server, { startingCredits: 10 });
    const other = await createProject(server, { startingCredits: 10 });
    await defineEcho(server, project.sk);
    const token = await mint(server, project.sk);
    expect((await call(server, 'GET', '/v1/runtime/usage', { key: token })).status).toBe(200);
    expect((await meter(server, project.pk, { userId: 'u', event: 'e' })).status).toBe(200);

    expect((await revoke(server, project.id, project.sk)).status).toBe(401);
    expect((await revoke(server, 'proj_unknown')).status).toBe(404);
    const revoked = await revoke(server, project.id);
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ id: project.id, name: 'test project' });
    expect(typeof revoked.body.revokedAtMs).toBe('number');
    const again = await revoke(server, project.id);
    expect(again.body.revokedAtMs).toBe(revoked.body.revokedAtMs);

    const refusals = [
      await current(server, project.sk),
      await meter(server, project.pk, { userId: 'u', event: 'e' }),
      await call(server, 'GET', '/v1/runtime/usage', { key: token }),
      await call(server, 'POST', '/v1/runtime/invoke', { key: token, body: { operation: 'echo' } }),
      await roll(server, project.sk, { kind: 'secret' }),
    ];
    for (const res of refusals) {
      expect([res.status, res.body.error.code]).toEqual([401, 'unauthenticated']);
      expect(res.body.error.message).toMatch(/revoked/);
    }
    expect((await meter(server, other.pk, { userId: 'u', event: 'e' })).status).toBe(200);
  });
});

describe('two processes on one PostgreSQL', () => {
  let pg;
  let a;
  let b;
  // Both processes share the master key, as docs/self-hosting.md says.
  const MASTER_KEY = require('node:crypto').randomBytes(32).toString('hex');
  const env = (url) => ({ DATABASE_URL: url, TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN, TOLLGATE_MASTER_KEY: MASTER_KEY });

  beforeAll(async () => {
    pg = await startPostgres();
    const url = await pg.freshDatabase();
    [a, b] = await Promise.all([startServer({ env: env(url) }), startServer({ env: env(url) })]);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await pg?.stop();
  });

  test('without grace: refused by A at once and by B within the cache window; the new key works on both', async () => {
    const project = await createProject(a);
    // B has the old key cached.
    expect((await current(b, project.sk)).status).toBe(200);
    const rolled = await roll(a, project.sk, { kind: 'secret' });
    expect(rolled.status).toBe(200);
    const rolledAt = Date.now();
    expect((await current(a, project.sk)).status).toBe(401);
    for (const server of [a, b]) expect((await current(server, rolled.body.key)).status).toBe(200);
    const onB = await pollUntil(() => current(b, project.sk), (s) => s === 401, rolledAt + CACHE_TTL_MS + SLACK_MS);
    expect(onB.status).toBe(401);
    expect(onB.body.error.message).toMatch(/rolled/);
    expect(onB.atMs - rolledAt).toBeLessThanOrEqual(CACHE_TTL_MS + SLACK_MS);
    // And it stays refused on both.
    for (const server of [a, b]) expect((await current(server, project.sk)).status).toBe(401);
  });

  test('with grace: both accept the old key until the grace ends, and refuse it after', async () => {
    const project = await createProject(b);
    expect((await current(a, project.sk)).status).toBe(200);
    const graceMs = CACHE_TTL_MS + 1_000; // longer than the cache, so both stop at the expiry itself
    const rolled = await roll(a, project.sk, { kind: 'secret', graceMs });
    expect(rolled.status).toBe(200);
    const expiresAt = rolled.body.oldKeyExpiresAtMs;
    expect(expiresAt).toBe(rolled.body.createdAtMs + graceMs);
    const seen = [];
    while (Date.now() < expiresAt + SLACK_MS) {
      for (const [name, server] of [['a', a], ['b', b]]) {
        const sentAt = Date.now();
        const old = await current(server, project.sk);
        const doneAt = Date.now();
        seen.push({ name, sentAt, doneAt, status: old.status });
        expect((await current(server, rolled.body.key)).status).toBe(200);
      }
      await sleep(POLL_MS);
    }
    for (const name of ['a', 'b']) {
      const before = seen.filter((s) => s.name === name && s.doneAt < expiresAt);
      const after = seen.filter((s) => s.name === name && s.sentAt > expiresAt);
      expect(before.length).toBeGreaterThan(0);
      expect(after.length).toBeGreaterThan(0);
      expect(before.map((s) => s.status)).toEqual(before.map(() => 200));
      expect(after.map((s) => s.status)).toEqual(after.map(() => 401));
    }
  });

  test('revoking through A stops the keys and runtime tokens on B within the cache window', async () => {
    const project = await createProject(a, { startingCredits: 10 });
    const other = await createProject(a, { startingCredits: 10 });
    await defineEcho(a, project.sk);
    const token = await mint(b, project.sk);
    const uses = (server) => [
      () => current(server, project.sk),
      () => meter(server, project.pk, { userId: 'u', event: 'e' }),
      () => call(server, 'GET', '/v1/runtime/usage', { key: token }),
    ];
    // Both processes have the project and its keys cached.
    for (const server of [a, b]) for (const use of uses(server)) expect((await use()).status).toBe(200);
    const revoked = await revoke(a, project.id);
    expect(revoked.status).toBe(200);
    const revokedAt = Date.now();
    for (const use of uses(a)) {
      const res = await use();
      expect([res.status, res.body.error.message]).toEqual([401, expect.stringMatching(/revoked/)]);
    }
    for (const use of uses(b)) {
      const res = await pollUntil(use, (s) => s === 401, revokedAt + CACHE_TTL_MS + SLACK_MS);
      expect([res.status, res.body.error.message]).toEqual([401, expect.stringMatching(/revoked/)]);
      expect(res.atMs - revokedAt).toBeLessThanOrEqual(CACHE_TTL_MS + SLACK_MS);
    }
    for (const server of [a, b]) expect((await meter(server, other.pk, { userId: 'u', event: 'e' })).status).toBe(200);
  });
});
