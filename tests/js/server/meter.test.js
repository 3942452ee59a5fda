// The metering API on a real tollgate process: keys, meter, check, accounts, credits, ledger,
// analytics, idempotency, and every bad input refused with nothing written.
const { spawnSync } = require('node:child_process');
const { tollgate } = require('../helpers/paths');
const { startServer, tempDir } = require('../helpers/server');
const { ADMIN_TOKEN, call, createProject, meter, expectLedgerSound } = require('../helpers/api');

let server;
let project;

beforeAll(async () => {
  server = await startServer({ env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN } });
  project = await createProject(server, {
    startingCredits: 100,
    plans: [{ name: 'pro', monthlyCredits: 1000, priceMicros: 19000000 }],
  });
});

afterAll(async () => {
  try {
    await expectLedgerSound(server, project.sk);
  } finally {
    await server.stop();
  }
});

describe('keys', () => {
  test('a request without a key is 401 outside demo mode', async () => {
    const res = await call(server, 'POST', '/v1/meter', { body: { userId: 'u', event: 'e' } });
    expect(res.status).toBe(401);
    expect(res.body.error.type).toBe('authentication_error');
  });

  test('a malformed key is 401 and an unknown well-formed key is 401', async () => {
    const malformed = await meter(server, 'sk_nope', { userId: 'u', event: 'e' });
    expect(malformed.status).toBe(401);
    expect(malformed.body.error.message).toMatch(/malformed/);
    // Flip one character of a real key: the checksum no longer matches.
    const flipped = project.sk.slice(0, 5) + (project.sk[5] === 'A' ? 'B' : 'A') + project.sk.slice(6);
    expect((await meter(server, flipped, { userId: 'u', event: 'e' })).status).toBe(401);
    const other = await startServer({ env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN } });
    try {
      const foreign = await createProject(other);
      const res = await meter(server, foreign.sk, { userId: 'u', event: 'e' });
      expect(res.status).toBe(401);
      expect(res.body.error.message).toMatch(/unknown/);
    } finally {
      await other.stop();
    }
  });

  test('keys are accepted from x-tollgate-key, the body and the query', async () => {
    const viaHeader = await call(server, 'GET', '/v1/check?userId=k1', { headers: { 'x-tollgate-key': project.pk } });
    expect(viaHeader.status).toBe(200);
    const viaBody = await call(server, 'POST', '/v1/meter', { body: { userId: 'k1', event: 'e', key: project.pk } });
    expect(viaBody.status).toBe(200);
    const viaQuery = await call(server, 'GET', `/v1/check?userId=k1&key=${project.pk}`);
    expect(viaQuery.status).toBe(200);
    expect(viaQuery.body.remaining).toBe(99);
  });

  test('the Bearer scheme is case-insensitive, and any other scheme is 401', async () => {
    const lower = await call(server, 'GET', '/v1/check?userId=k2', { headers: { authorization: `bearer ${project.pk}` } });
    expect(lower.status).toBe(200);
    const basic = await call(server, 'GET', '/v1/check?userId=k2', { headers: { authorization: `Basic ${project.pk}` } });
    expect(basic.status).toBe(401);
    expect(basic.body.error.message).toMatch(/Bearer/);
  });

  test('secret-key endpoints refuse the publishable key with 403', async () => {
    for (const [method, path, body] of [
      ['GET', '/v1/accounts'],
      ['GET', '/v1/ledger'],
      ['GET', '/v1/analytics'],
      ['GET', '/v1/projects/current'],
      ['PATCH', '/v1/accounts/u1', { plan: 'pro' }],
      ['POST', '/v1/accounts/u1/credits', { amount: 5 }],
    ]) {
      const res = await call(server, method, path, { key: project.pk, body });
      expect([method, path, res.status]).toEqual([method, path, 403]);
      expect(res.body.error.type).toBe('permission_error');
    }
  });

  test('POST /v1/projects needs the admin token', async () => {
    expect((await call(server, 'POST', '/v1/projects', { body: { name: 'x' } })).status).toBe(401);
    expect((await call(server, 'POST', '/v1/projects', { key: project.sk, body: { name: 'x' } })).status).toBe(401);
    const bad = await call(server, 'POST', '/v1/projects', { key: ADMIN_TOKEN, body: { name: '' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.param).toBe('name');
  });

  test('secureMetering makes the publishable key 403 on meter', async () => {
    const secure = await createProject(server, { secureMetering: true, startingCredits: 5 });
    const pk = await meter(server, secure.pk, { userId: 'u', event: 'e' });
    expect(pk.status).toBe(403);
    expect(pk.body.error.message).toMatch(/secureMetering/);
    expect((await meter(server, secure.sk, { userId: 'u', event: 'e' })).status).toBe(200);
    await expectLedgerSound(server, secure.sk);
  });
});

describe('meter', () => {
  test('charges, then refuses with 402 and deducts nothing', async () => {
    const first = await meter(server, project.pk, { userId: 'alice', event: 'image_gen', cost: 60 });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ allowed: true, remaining: 40, cost: 60 });
    const blocked = await meter(server, project.pk, { userId: 'alice', event: 'image_gen', cost: 41 });
    expect(blocked.status).toBe(402);
    expect(blocked.body.error.type).toBe('insufficient_credits');
    expect(blocked.body.error.code).toBe('insufficient_credits');
    expect(blocked.body.remaining).toBe(40);
    expect(blocked.body.allowed).toBe(false);
    const check = await call(server, 'GET', '/v1/check?userId=alice&event=image_gen&cost=40', { key: project.pk });
    expect(check.body).toEqual({ allowed: true, remaining: 40, cost: 40, plan: 'free' });
    const defaultCost = await meter(server, project.sk, { userId: 'alice', event: 'chat' });
    expect(defaultCost.body).toEqual({ allowed: true, remaining: 39, cost: 1 });
  });

  test('a user id may be any UTF-8 up to 256 bytes, also in the path', async () => {
    const userId = 'ünïcødé/user?#%' + 'x'.repeat(256 - 21);
    expect(Buffer.byteLength(userId)).toBeLessThanOrEqual(256);
    expect((await meter(server, project.sk, { userId, event: 'e', cost: 2 })).status).toBe(200);
    const account = await call(server, 'GET', `/v1/accounts/${encodeURIComponent(userId)}`, { key: project.pk });
    expect(account.status).toBe(200);
    expect(account.body.userId).toBe(userId);
    expect(account.body.balance).toBe(98);
  });

  const badInputs = [
    ['non-JSON', { raw: '{"userId":', headers: { 'content-type': 'application/json' } }, 'body'],
    ['a JSON array', { raw: '[1]', headers: { 'content-type': 'application/json' } }, 'body'],
    ['the wrong content type', { raw: '{"userId":"u","event":"e"}', headers: { 'content-type': 'text/plain' } }, 'content-type'],
    ['no content type', { raw: '{"userId":"u","event":"e"}' }, 'content-type'],
    ['a missing userId', { body: { event: 'e' } }, 'userId'],
    ['an empty userId', { body: { userId: '', event: 'e' } }, 'userId'],
    ['a numeric userId', { body: { userId: 7, event: 'e' } }, 'userId'],
    ['an oversized userId', { body: { userId: 'u'.repeat(257), event: 'e' } }, 'userId'],
    ['a userId with a control character', { body: { userId: 'a\nb', event: 'e' } }, 'userId'],
    ['a missing event', { body: { userId: 'u' } }, 'event'],
    ['an empty event', { body: { userId: 'u', event: '' } }, 'event'],
    ['an oversized event', { body: { userId: 'u', event: 'e'.repeat(129) } }, 'event'],
    ['an event that is an object', { body: { userId: 'u', event: { a: 1 } } }, 'event'],
    ['cost 0', { body: { userId: 'u', event: 'e', cost: 0 } }, 'cost'],
    ['a negative cost', { body: { userId: 'u', event: 'e', cost: -5 } }, 'cost'],
    ['a fractional cost', { body: { userId: 'u', event: 'e', cost: 1.5 } }, 'cost'],
    ['a cost over the maximum', { body: { userId: 'u', event: 'e', cost: 1000001 } }, 'cost'],
    ['a huge cost', { raw: '{"userId":"u","event":"e","cost":99999999999999999999}', headers: { 'content-type': 'application/json' } }, 'cost'],
    ['a string cost', { body: { userId: 'u', event: 'e', cost: '5' } }, 'cost'],
    ['an unknown field', { body: { userId: 'u', event: 'e', amount: 5 } }, 'amount'],
    ['deep nesting', { raw: '{"userId":"u","event":"e","x":' + '['.repeat(100) + ']'.repeat(100) + '}', headers: { 'content-type': 'application/json' } }, 'body'],
    ['a bad Idempotency-Key', { body: { userId: 'u', event: 'e' }, headers: { 'idempotency-key': 'has space' } }, 'Idempotency-Key'],
  ];

  test.each(badInputs)('%s is 400 naming the field, and writes nothing', async (_name, request, param) => {
    const before = await expectLedgerSound(server, project.sk);
    const res = await call(server, 'POST', '/v1/meter', { key: project.sk, ...request });
    expect(res.status).toBe(400);
    expect(res.body.error.type).toBe('invalid_request_error');
    expect(res.body.error.param).toBe(param);
    expect(res.body.error.message).toEqual(expect.any(String));
    const after = await expectLedgerSound(server, project.sk);
    expect(after.entries).toBe(before.entries);
    expect(after.accounts).toBe(before.accounts);
  });

  test('a body over the limit is 413 and writes nothing', async () => {
    const before = await expectLedgerSound(server, project.sk);
    const res = await call(server, 'POST', '/v1/meter', {
      key: project.sk,
      raw: JSON.stringify({ userId: 'big', event: 'e', pad: 'x'.repeat(1100000) }),
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(413);
    const after = await expectLedgerSound(server, project.sk);
    expect(after.entries).toBe(before.entries);
  });
});

describe('idempotency', () => {
  test('the same key and body replays; a different body is 409; keys are per API key', async () => {
    const headers = { 'idempotency-key': 'order-1' };
    const first = await meter(server, project.sk, { userId: 'bob', event: 'e', cost: 10 }, headers);
    expect(first.status).toBe(200);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const again = await meter(server, project.sk, { userId: 'bob', event: 'e', cost: 10 }, headers);
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    // The same fields in another order, and the key in the body instead of a header.
    const reordered = await call(server, 'POST', '/v1/meter', {
      raw: JSON.stringify({ cost: 10, event: 'e', userId: 'bob', key: project.sk }),
      headers: { ...headers, 'content-type': 'application/json' },
    });
    expect(reordered.headers.get('idempotent-replayed')).toBe('true');
    expect(reordered.body).toEqual(first.body);
    const changed = await meter(server, project.sk, { userId: 'bob', event: 'e', cost: 11 }, headers);
    expect(changed.status).toBe(409);
    expect(changed.body.error.param).toBe('Idempotency-Key');
    const otherKey = await meter(server, project.pk, { userId: 'bob', event: 'e', cost: 10 }, headers);
    expect(otherKey.headers.get('idempotent-replayed')).toBeNull();
    expect(otherKey.body.remaining).toBe(80);
  });

  test('concurrent retries with one key charge once', async () => {
    const headers = { 'idempotency-key': 'burst-1' };
    const results = await Promise.all(
      Array.from({ length: 20 }, () => meter(server, project.sk, { userId: 'carol', event: 'e', cost: 7 }, headers)),
    );
    expect(results.every((r) => r.status === 200 && r.body.remaining === 93)).toBe(true);
    const account = await call(server, 'GET', '/v1/accounts/carol', { key: project.sk });
    expect(account.body.balance).toBe(93);
  });

  test('a 402 is stored and replayed too', async () => {
    const headers = { 'idempotency-key': 'too-much' };
    const first = await meter(server, project.sk, { userId: 'dave', event: 'e', cost: 500 }, headers);
    expect(first.status).toBe(402);
    await call(server, 'POST', '/v1/accounts/dave/credits', { key: project.sk, body: { amount: 1000 } });
    const again = await meter(server, project.sk, { userId: 'dave', event: 'e', cost: 500 }, headers);
    expect(again.status).toBe(402);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
  });
});

describe('accounts, credits and the ledger', () => {
  test('grant, refund, plan and spend cap', async () => {
    const grant = await call(server, 'POST', '/v1/accounts/erin/credits', { key: project.sk, body: { amount: 50, reason: 'welcome' } });
    expect(grant.status).toBe(200);
    expect(grant.body.balance).toBe(150);
    expect(grant.body.entryId).toMatch(/^le_\d+$/);
    const refundNoReason = await call(server, 'POST', '/v1/accounts/erin/credits', { key: project.sk, body: { amount: 5, type: 'refund' } });
    expect(refundNoReason.status).toBe(400);
    expect(refundNoReason.body.error.param).toBe('reason');
    const refund = await call(server, 'POST', '/v1/accounts/erin/credits', { key: project.sk, body: { amount: 5, type: 'refund', reason: 'bad output' } });
    expect(refund.body.balance).toBe(155);
    for (const [body, param] of [
      [{ amount: 0 }, 'amount'],
      [{ amount: -3 }, 'amount'],
      [{ amount: 2.5 }, 'amount'],
      [{}, 'amount'],
      [{ amount: 5, type: 'gift' }, 'type'],
      [{ amount: 5, note: 'x' }, 'note'],
    ]) {
      const res = await call(server, 'POST', '/v1/accounts/erin/credits', { key: project.sk, body });
      expect([param, res.status, res.body.error.param]).toEqual([param, 400, param]);
    }
    const plan = await call(server, 'PATCH', '/v1/accounts/erin', { key: project.sk, body: { plan: 'pro', spendCapMicros: 2500000 } });
    expect(plan.status).toBe(200);
    expect(plan.body).toMatchObject({ plan: 'pro', spendCapMicros: 2500000, balance: 155 });
    const unknownPlan = await call(server, 'PATCH', '/v1/accounts/erin', { key: project.sk, body: { plan: 'gold' } });
    expect(unknownPlan.status).toBe(400);
    expect(unknownPlan.body.error.param).toBe('plan');
    const badCap = await call(server, 'PATCH', '/v1/accounts/erin', { key: project.sk, body: { spendCapMicros: -1 } });
    expect(badCap.body.error.param).toBe('spendCapMicros');
    const cleared = await call(server, 'PATCH', '/v1/accounts/erin', { key: project.sk, body: { spendCapMicros: null } });
    expect(cleared.body.spendCapMicros).toBeNull();
    const before = await expectLedgerSound(server, project.sk);
    const empty = await call(server, 'PATCH', '/v1/accounts/never-seen', { key: project.sk, body: {} });
    expect(empty.status).toBe(400);
    expect(empty.body.error.param).toBe('body');
    const unknown = await call(server, 'PATCH', '/v1/accounts/never-seen', { key: project.sk, body: { plan: 'gold' } });
    expect(unknown.status).toBe(400);
    expect((await expectLedgerSound(server, project.sk)).accounts).toBe(before.accounts);
  });

  test('ledger entries page newest first', async () => {
    for (let i = 0; i < 5; i++) await meter(server, project.sk, { userId: 'pager', event: 'e' });
    const first = await call(server, 'GET', '/v1/ledger?userId=pager&limit=2', { key: project.sk });
    expect(first.body.data.map((e) => e.kind)).toEqual(['debit', 'debit']);
    expect(first.body.hasMore).toBe(true);
    const rest = await call(server, 'GET', `/v1/ledger?userId=pager&limit=100&starting_after=${first.body.data[1].id}`, { key: project.sk });
    expect(rest.body.data.map((e) => e.kind)).toEqual(['debit', 'debit', 'debit', 'grant']);
    expect(rest.body.hasMore).toBe(false);
    const sum = [...first.body.data, ...rest.body.data].reduce((total, e) => total + e.amount, 0);
    expect(sum).toBe(95);
    expect((await call(server, 'GET', '/v1/ledger?limit=0', { key: project.sk })).body.error.param).toBe('limit');
    expect((await call(server, 'GET', '/v1/ledger?limit=abc', { key: project.sk })).body.error.param).toBe('limit');
  });

  test('accounts list with stats, and analytics', async () => {
    const list = await call(server, 'GET', '/v1/accounts?limit=2', { key: project.sk });
    expect(list.status).toBe(200);
    expect(list.body.data).toHaveLength(2);
    expect(list.body.hasMore).toBe(true);
    expect(list.body.stats.total).toBeGreaterThan(2);
    // A plan set by PATCH is a label: nobody paid for it, so it is neither paid nor revenue.
    expect(list.body.stats.paid).toBe(0);
    expect(list.body.stats.mrr).toEqual([]);
    const next = await call(server, 'GET', `/v1/accounts?limit=100&starting_after=${encodeURIComponent(list.body.data[1].userId)}`, { key: project.sk });
    expect(next.body.data.length).toBe(list.body.stats.total - 2);
    const analytics = await call(server, 'GET', `/v1/analytics?interval=hour&from_ms=${Date.now() - 3600000}`, { key: project.sk });
    expect(analytics.status).toBe(200);
    const calls = analytics.body.series.reduce((n, p) => n + p.calls, 0);
    expect(calls).toBeGreaterThan(5);
    expect(analytics.body.topEvents[0]).toEqual(expect.objectContaining({ event: expect.any(String) }));
    expect(analytics.body.stats.creditsOutstanding).toBe(list.body.stats.creditsOutstanding);
    for (const [query, param] of [
      ['interval=week', 'interval'],
      ['from_ms=10&to_ms=5', 'from_ms'],
      ['from_ms=-1', 'from_ms'],
      ['interval=hour&from_ms=0&to_ms=9999999999999', 'from_ms'],
    ]) {
      const res = await call(server, 'GET', `/v1/analytics?${query}`, { key: project.sk });
      expect([query, res.status, res.body.error.param]).toEqual([query, 400, param]);
    }
  });

  test('concurrent settings PATCHes of different fields all persist', async () => {
    const own = await createProject(server);
    for (let round = 1; round <= 10; round++) {
      await Promise.all([
        call(server, 'PATCH', '/v1/projects/current', { key: own.sk, body: { startingCredits: round } }),
        call(server, 'PATCH', '/v1/projects/current', { key: own.sk, body: { lowBalanceThreshold: round } }),
        call(server, 'PATCH', '/v1/projects/current', { key: own.sk, body: { budgetMicros: round } }),
      ]);
      const current = await call(server, 'GET', '/v1/projects/current', { key: own.sk });
      expect(current.body.settings).toMatchObject({ startingCredits: round, lowBalanceThreshold: round, budgetMicros: round });
    }
  });

  test('project settings are validated field by field', async () => {
    for (const [body, param] of [
      [{ secureMetering: 'yes' }, 'secureMetering'],
      [{ startingCredits: -1 }, 'startingCredits'],
      [{ plans: {} }, 'plans'],
      [{ plans: [{ name: '' }] }, 'plans[0].name'],
      [{ plans: [{ name: 'a', priceMicros: 1.5 }] }, 'plans[0].priceMicros'],
      [{ plans: [{ name: 'a' }, { name: 'a' }] }, 'plans[1].name'],
      [{ budgetMicros: 'lots' }, 'budgetMicros'],
      [{ colour: 'red' }, 'colour'],
    ]) {
      const res = await call(server, 'PATCH', '/v1/projects/current', { key: project.sk, body });
      expect([param, res.status, res.body.error.param]).toEqual([param, 400, param]);
    }
    const current = await call(server, 'GET', '/v1/projects/current', { key: project.sk });
    expect(current.body.settings.startingCredits).toBe(100);
    expect(current.body.settings.plans).toEqual([{ name: 'pro', monthlyCredits: 1000, priceMicros: 19000000, currency: 'usd', interval: 'month' }]);
    expect(JSON.stringify(current.body)).not.toContain(project.sk);
  });
});

describe('CLI and demo mode', () => {
  test('projects create --json prints the keys once; serve --demo meters without a key', async () => {
    const dataDir = tempDir();
    const created = spawnSync(tollgate, ['projects', 'create', '--name', 'cli', '--json', '--data-dir', dataDir], {
      encoding: 'utf8',
      env: { ...process.env, DATABASE_URL: '' },
    });
    expect(created.status).toBe(0);
    const keys = JSON.parse(created.stdout);
    expect(keys.publishableKey).toMatch(/^pk_[0-9A-Za-z]{38}$/);
    expect(keys.secretKey).toMatch(/^sk_[0-9A-Za-z]{38}$/);
    const missingName = spawnSync(tollgate, ['projects', 'create', '--data-dir', dataDir], { encoding: 'utf8' });
    expect(missingName.status).toBe(2);
    expect(JSON.parse(missingName.stderr).error.param).toBe('--name');

    const demo = await startServer({ args: ['--demo'], dataDir });
    try {
      const keyless = await meter(demo, undefined, { userId: 'visitor', event: 'try' });
      expect(keyless.status).toBe(200);
      expect(keyless.body.remaining).toBe(99);
      expect((await call(demo, 'GET', '/v1/accounts')).status).toBe(401);
      // A key sent the wrong way is refused, never charged to the demo project.
      const basic = await call(demo, 'POST', '/v1/meter', { body: { userId: 'visitor', event: 'try' }, headers: { authorization: `Basic ${keys.secretKey}` } });
      expect(basic.status).toBe(401);
      const cliProject = await meter(demo, keys.secretKey, { userId: 'visitor', event: 'try' });
      expect(cliProject.status).toBe(402);  // the CLI project gives no starting credits
      // Keys never reach the log.
      const logged = JSON.stringify(demo.logs);
      expect(logged).not.toContain(keys.secretKey);
      expect(logged).not.toContain('tgadm_');
      // The demo feature runs with no key at all: the page's own origin mints a session.
      const origin = `http://localhost:${demo.port}`;
      const session = await call(demo, 'POST', '/v1/runtime/sessions', { body: { endUserId: 'visitor', operationIds: ['summarize_ticket'] }, headers: { origin } });
      expect(session.status).toBe(200);
      const elsewhere = await call(demo, 'POST', '/v1/runtime/sessions', { body: { endUserId: 'visitor', operationIds: ['summarize_ticket'] }, headers: { origin: 'https://evil.example.com' } });
      expect(elsewhere.status).toBe(403);
      const ran = await call(demo, 'POST', '/v1/runtime/invoke', { key: session.body.token, body: { operation: 'summarize_ticket', input: { ticket: 'My invoice is wrong' } } });
      expect(ran.status).toBe(200);
      expect(ran.body).toMatchObject({ demo: true, model: 'demo/echo', remaining: 97 });
      expect(Object.keys(ran.body.parsed).sort()).toEqual(['priority', 'summary']);
    } finally {
      await demo.stop();
      require('node:fs').rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
