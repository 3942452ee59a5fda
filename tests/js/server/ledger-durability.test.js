// The ledger under pressure, on SQLite and on PostgreSQL, through real tollgate processes:
// concurrent meters allow exactly floor(balance / cost), two processes on one PostgreSQL stay
// exact, a kill -9 under load loses no acknowledged meter, and a store that stops answering
// fails closed with 503.
const { spawnSync } = require('node:child_process');
const { startServer, tempDir } = require('../helpers/server');
const { startPostgres } = require('../helpers/postgres');
const { ADMIN_TOKEN, call, createProject, meter, expectLedgerSound } = require('../helpers/api');

jest.setTimeout(120_000);

// Bounded load for the crash test: at most this many requests from this many workers.
const CRASH_REQUESTS_MAX = 5_000;
const CRASH_WORKERS = 16;
const CRASH_AFTER_ACKS = 400;

/** Fires `count` meters of `cost` at once, spread over `servers`; returns the statuses. */
async function burst(servers, key, userId, count, cost) {
  const results = await Promise.all(
    Array.from({ length: count }, (_, i) => meter(servers[i % servers.length], key, { userId, event: 'race', cost })),
  );
  return results.map((r) => r.status);
}

/** Every debit entry of a user, following the pagination to the end. */
async function debitsOf(server, sk, userId) {
  const entries = [];
  let after = '';
  for (;;) {
    const page = await call(server, 'GET', `/v1/ledger?userId=${userId}&limit=100${after}`, { key: sk });
    expect(page.status).toBe(200);
    entries.push(...page.body.data);
    if (!page.body.hasMore) break;
    after = `&starting_after=${page.body.data[page.body.data.length - 1].id}`;
  }
  return entries.filter((e) => e.kind === 'debit');
}

/** Meters under load until `CRASH_AFTER_ACKS` are acknowledged, kills the server with SIGKILL, and
 *  returns the `remaining` of every 200 received before the kill. */
async function loadThenCrash(server, sk) {
  const acknowledged = [];
  let sent = 0;
  let crashed = false;
  const crash = (async () => {
    while (acknowledged.length < CRASH_AFTER_ACKS) await new Promise((r) => setTimeout(r, 5));
    crashed = true;
    await server.crash();
  })();
  const worker = async () => {
    while (!crashed && sent < CRASH_REQUESTS_MAX) {
      sent++;
      try {
        const res = await meter(server, sk, { userId: 'crash', event: 'load', cost: 1 });
        if (res.status === 200) acknowledged.push(res.body.remaining);
      } catch {
        return;  // the connection died with the server
      }
    }
  };
  await Promise.all(Array.from({ length: CRASH_WORKERS }, worker));
  await crash;
  return acknowledged;
}

function describeStore(name, open) {
  describe(name, () => {
    let store;
    beforeAll(async () => {
      store = await open();
    });
    afterAll(async () => {
      await store.close();
    });

    test('64 concurrent meters allow exactly floor(balance / cost)', async () => {
      const server = await store.start();
      try {
        const project = await createProject(server, { startingCredits: 100 });
        for (const cost of [3, 7]) {
          const statuses = await burst([server], project.sk, `racer-${cost}`, 64, cost);
          expect(statuses.filter((s) => s === 200)).toHaveLength(Math.floor(100 / cost));
          expect(statuses.filter((s) => s === 402)).toHaveLength(64 - Math.floor(100 / cost));
          const account = await call(server, 'GET', `/v1/accounts/racer-${cost}`, { key: project.sk });
          expect(account.body.balance).toBe(100 % cost);
        }
        await expectLedgerSound(server, project.sk);
      } finally {
        await server.stop();
      }
    });

    test('kill -9 under load loses no acknowledged meter', async () => {
      const first = await store.start();
      const project = await createProject(first, { startingCredits: 1_000_000 });
      const acknowledged = await loadThenCrash(first, project.sk);
      expect(acknowledged.length).toBeGreaterThanOrEqual(CRASH_AFTER_ACKS);
      const restarted = await store.start();
      try {
        const debits = await debitsOf(restarted, project.sk, 'crash');
        const recorded = new Set(debits.map((e) => e.balanceAfter));
        const lost = acknowledged.filter((remaining) => !recorded.has(remaining));
        expect(lost).toEqual([]);
        expect(debits.length).toBeGreaterThanOrEqual(acknowledged.length);
        const account = await call(restarted, 'GET', '/v1/accounts/crash', { key: project.sk });
        expect(account.body.balance).toBe(1_000_000 - debits.length);
        await expectLedgerSound(restarted, project.sk);
      } finally {
        await restarted.stop();
      }
    });
  });
}

describeStore('SQLite', async () => {
  const dataDir = tempDir();
  return {
    start: () => startServer({ dataDir, env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN } }),
    close: async () => require('node:fs').rmSync(dataDir, { recursive: true, force: true }),
  };
});

describe('PostgreSQL', () => {
  let pg;
  beforeAll(async () => {
    pg = await startPostgres();
  });
  afterAll(async () => {
    await pg.stop();
  });

  // Every process on one database shares the master key, as docs/self-hosting.md says: each run
  // gets a fresh data dir, and so would otherwise make its own key file.
  const MASTER_KEY = require('node:crypto').randomBytes(32).toString('hex');
  const serverOn = (url) =>
    startServer({ env: { DATABASE_URL: url, TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN, TOLLGATE_MASTER_KEY: MASTER_KEY } });

  describeStore('one database', async () => {
    const url = await pg.freshDatabase();
    return { start: () => serverOn(url), close: async () => {} };
  });

  test('two tollgate processes on one database allow exactly floor(balance / cost)', async () => {
    const url = await pg.freshDatabase();
    const [a, b] = await Promise.all([serverOn(url), serverOn(url)]);
    try {
      const project = await createProject(a, { startingCredits: 100 });
      const statuses = await burst([a, b], project.sk, 'shared', 64, 3);
      expect(statuses.filter((s) => s === 200)).toHaveLength(33);
      expect(statuses.filter((s) => s === 402)).toHaveLength(31);
      for (const server of [a, b]) {
        const account = await call(server, 'GET', '/v1/accounts/shared', { key: project.sk });
        expect(account.body.balance).toBe(1);
      }
      await expectLedgerSound(b, project.sk);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  test('a frozen database fails closed with 503 within the client deadline', async () => {
    const own = await startPostgres();
    const server = await serverOn(own.url);
    const postmaster = Number(require('node:fs').readFileSync(`${own.dir}/data/postmaster.pid`, 'utf8').split('\n')[0]);
    const signalAll = (signal) => {
      process.kill(postmaster, signal);
      spawnSync('pkill', [`-${signal.replace('SIG', '')}`, '-P', String(postmaster)]);
    };
    try {
      const project = await createProject(server, { startingCredits: 10 });
      expect((await meter(server, project.sk, { userId: 'u', event: 'e' })).status).toBe(200);
      signalAll('SIGSTOP');
      const started = Date.now();
      const refused = await meter(server, project.sk, { userId: 'u', event: 'e' });
      expect(refused.status).toBe(503);
      expect(Date.now() - started).toBeLessThan(30_000);
      signalAll('SIGCONT');
      // Once the database answers again, so does the ledger, with nothing applied twice.
      let recovered;
      for (let i = 0; i < 50 && recovered?.status !== 200; i++) {
        recovered = await meter(server, project.sk, { userId: 'u', event: 'e' });
        if (recovered.status !== 200) await new Promise((r) => setTimeout(r, 200));
      }
      expect(recovered.status).toBe(200);
      await expectLedgerSound(server, project.sk);
    } finally {
      signalAll('SIGCONT');
      await server.stop();
      await own.stop();
    }
  });

  test('a database that stops answering fails closed with 503', async () => {
    const own = await startPostgres();
    const server = await serverOn(own.url);
    try {
      const project = await createProject(server, { startingCredits: 10 });
      expect((await meter(server, project.sk, { userId: 'u', event: 'e' })).status).toBe(200);
      await own.stop();
      const refused = await meter(server, project.sk, { userId: 'u', event: 'e' });
      expect(refused.status).toBe(503);
      expect(refused.body.error.code).toBe('store_unavailable');
      expect(refused.body.error.message).not.toMatch(/127\.0\.0\.1|postgres/i);
      expect((await call(server, 'GET', '/healthz')).status).toBe(503);
    } finally {
      await server.stop();
      await own.stop();
    }
  });
});
