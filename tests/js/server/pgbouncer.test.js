// Tollgate through pgbouncer (Debian's 1.18) in transaction pooling mode, as managed PostgreSQL
// usually runs: two tollgate processes on one database through the bouncer race one end user and
// allow exactly floor(balance / cost) meters, and nothing tollgate does leaves session state
// (settings, prepared statements, advisory locks) on the server connections it shares.
const { startServer } = require('../helpers/server');
const { startPostgres, psql } = require('../helpers/postgres');
const { startPgbouncer } = require('../helpers/pgbouncer');
const { ADMIN_TOKEN, call, createProject, meter, expectLedgerSound } = require('../helpers/api');

jest.setTimeout(120_000);

const BALANCE = 1_000;
const COST = 7;
const RACE_METERS = 400; // more than BALANCE / COST, split across both processes

let pg;
let bouncer;
// Every process on one database shares the master key (docs/self-hosting.md).
const MASTER_KEY = require('node:crypto').randomBytes(32).toString('hex');
const serverOn = (url) =>
  startServer({ env: { DATABASE_URL: url, TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN, TOLLGATE_MASTER_KEY: MASTER_KEY } });

beforeAll(async () => {
  pg = await startPostgres();
  bouncer = await startPgbouncer(pg, { poolSize: 4 });
});

afterAll(async () => {
  await bouncer?.stop();
  await pg?.stop();
});

test('two processes through pgbouncer allow exactly floor(balance / cost), and the audit is clean', async () => {
  const url = bouncer.through(await pg.freshDatabase());
  // Both start together: their migrations meet on the bouncer's shared server connections.
  const [a, b] = await Promise.all([serverOn(url), serverOn(url)]);
  try {
    const project = await createProject(a, { startingCredits: BALANCE });
    const statuses = (
      await Promise.all(
        Array.from({ length: RACE_METERS }, (_, i) =>
          meter(i % 2 ? a : b, project.sk, { userId: 'racer', event: 'race', cost: COST }),
        ),
      )
    ).map((res) => res.status);
    const allowed = Math.floor(BALANCE / COST);
    expect(statuses.filter((s) => s === 200)).toHaveLength(allowed);
    expect(statuses.filter((s) => s === 402)).toHaveLength(RACE_METERS - allowed);
    for (const server of [a, b]) {
      const account = await call(server, 'GET', '/v1/accounts/racer', { key: project.sk });
      expect(account.body.balance).toBe(BALANCE % COST);
    }
    const audit = await expectLedgerSound(a, project.sk);
    expect(audit.entries).toBe(1 + allowed); // the starting grant and each allowed debit
    // The other write paths and the reads go through the bouncer as well.
    const grant = (server) =>
      call(server, 'POST', '/v1/accounts/racer/credits', {
        key: project.sk,
        body: { amount: 5, reason: 'promo' },
        headers: { 'idempotency-key': 'grant-1' },
      });
    expect((await grant(b)).status).toBe(200);
    const replayed = await grant(a);
    expect(replayed.status).toBe(200);
    expect(replayed.headers.get('idempotent-replayed')).toBe('true');
    expect(replayed.body.balance).toBe((BALANCE % COST) + 5);
    expect((await call(b, 'GET', '/v1/ledger?userId=racer&limit=100', { key: project.sk })).status).toBe(200);
    expect((await call(a, 'GET', '/v1/analytics', { key: project.sk })).status).toBe(200);
    await expectLedgerSound(b, project.sk);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});

test('tollgate leaves no session state on the server connection it shares', async () => {
  // One server connection behind the bouncer: whatever tollgate leaves on it, the next client
  // (psql here) finds.
  const single = await startPgbouncer(pg, { poolSize: 1 });
  const url = single.through(await pg.freshDatabase());
  const server = await serverOn(url);
  try {
    const project = await createProject(server, { startingCredits: 10 });
    expect((await meter(server, project.sk, { userId: 'u', event: 'e' })).status).toBe(200);
    expect((await call(server, 'GET', '/v1/accounts', { key: project.sk })).status).toBe(200);
    const seen = psql(
      url,
      "SELECT current_setting('statement_timeout') || ',' || current_setting('plan_cache_mode') || ',' || " +
        "(SELECT count(*) FROM pg_prepared_statements) || ',' || " +
        "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory')",
    );
    expect(seen).toBe('0,auto,0,0');
    await expectLedgerSound(server, project.sk);
  } finally {
    await server.stop();
    await single.stop();
  }
});
