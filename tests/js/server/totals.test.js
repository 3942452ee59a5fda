// Totals past int64 on both stores, through a real tollgate: balances, debits, charged credits,
// micros and tokens near INT64_MAX (seeded straight into the database: the API's own limits
// would take millions of calls to get there) are summed exactly, never answered with a 503 from
// an overflowing sum. A total beyond int64 is a string of its exact digits (docs/api.md,
// "Totals"); one inside it stays a number. No grant pushes a balance past INT64_MAX.
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const { startServer, tempDir } = require('../helpers/server');
const { startPostgres, psql } = require('../helpers/postgres');
const { ADMIN_TOKEN, call, createProject, meter, expectLedgerSound } = require('../helpers/api');

jest.setTimeout(60_000);

const MAX = 9223372036854775807n;
const TWICE_MAX = (2n * MAX).toString(); // 18446744073709551614

/** The seed: users a and b at INT64_MAX; c debited INT64_MAX twice (event "huge"); a and b each
 *  charged INT64_MAX credits, micros and tokens by one call of the feature "summarize". Every
 *  balance stays the sum of its entries. Runs after each user metered 1 of 100 starting credits. */
function seedSql(projectId, nowMs) {
  const p = `'${projectId}'`;
  const entry = (user, kind, amount, after, event) =>
    `(${p}, '${user}', '${kind}', ${amount}, ${after}, ${event ? `'${event}'` : 'NULL'}, 'seed', ${nowMs})`;
  const hold = (id, user) =>
    `('${id}', ${p}, '${user}', ${MAX}, ${MAX}, 'settled', ${MAX}, ${MAX}, ${nowMs}, ${nowMs}, 'summarize', ${MAX}, ${MAX})`;
  return [
    `INSERT INTO ledger (project_id, user_id, kind, amount, balance_after, event, reason, created_at_ms) VALUES ` +
      [
        entry('a', 'grant', MAX - 99n, MAX),
        entry('b', 'grant', MAX - 99n, MAX),
        entry('c', 'grant', MAX - 99n, MAX),
        entry('c', 'debit', -MAX, 0, 'huge'),
        entry('c', 'grant', MAX, MAX),
        entry('c', 'debit', -MAX, 0, 'huge'),
      ].join(', ') +
      ';',
    `UPDATE accounts SET balance = ${MAX}, purchased = ${MAX} WHERE project_id = ${p} AND user_id IN ('a', 'b');`,
    `UPDATE accounts SET balance = 0, purchased = 0 WHERE project_id = ${p} AND user_id = 'c';`,
    `INSERT INTO holds (id, project_id, user_id, credits, micros, status, settled_credits, settled_micros, ` +
      `expires_at_ms, created_at_ms, operation, input_tokens, output_tokens) VALUES ` +
      `${hold('hold_seed_a', 'a')}, ${hold('hold_seed_b', 'b')};`,
  ].join('\n');
}

/** GET with the raw text kept: JSON.parse rounds integers above 2^53. */
async function rawGet(server, key, route) {
  const res = await fetch(server.url + route, { headers: { authorization: `Bearer ${key}` } });
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) };
}

function describeStore(name, open) {
  describe(name, () => {
    let store;
    beforeAll(async () => {
      store = await open();
    });
    afterAll(async () => {
      await store?.close();
    });

    test('accounts, analytics and the audit sum past int64 exactly', async () => {
      const server = await store.start();
      try {
        const project = await createProject(server, { startingCredits: 100 });
        for (const userId of ['a', 'b', 'c']) {
          expect((await meter(server, project.sk, { userId, event: 'e' })).status).toBe(200);
        }
        store.seed(seedSql(project.id, Date.now() - 1_000));

        const accounts = await rawGet(server, project.sk, '/v1/accounts');
        expect(accounts.status).toBe(200);
        expect(accounts.body.stats.total).toBe(3);
        expect(accounts.body.stats.creditsOutstanding).toBe(TWICE_MAX);
        expect(accounts.text).toContain(`"balance":${MAX}`); // an int64 stays a number, exact

        const analytics = await rawGet(server, project.sk, '/v1/analytics');
        expect(analytics.status).toBe(200);
        const { series, topEvents, topFeatures, topEndUsers, stats } = analytics.body;
        expect(topEvents[0]).toEqual({ event: 'huge', calls: 2, credits: TWICE_MAX });
        expect(topEvents[1]).toEqual({ event: 'e', calls: 3, credits: 3 });
        expect(series).toHaveLength(1);
        expect(series[0].calls).toBe(5);
        expect(series[0].credits).toBe((2n * MAX + 3n).toString());
        expect(topFeatures).toEqual([
          {
            operation: 'summarize',
            calls: 2,
            inputTokens: TWICE_MAX,
            outputTokens: TWICE_MAX,
            credits: TWICE_MAX,
            costMicros: TWICE_MAX,
          },
        ]);
        expect(topEndUsers).toHaveLength(2);
        expect(analytics.text).toContain(`"endUserId":"a","calls":1,"inputTokens":${MAX}`);
        expect(stats.creditsOutstanding).toBe(TWICE_MAX);

        const audit = await expectLedgerSound(server, project.sk);
        expect(audit.entries).toBe(3 * 2 + 6);

        // A full balance takes no more: a clear 400 naming the amount, and nothing written.
        const over = await call(server, 'POST', '/v1/accounts/a/credits', { key: project.sk, body: { amount: 1 } });
        expect(over.status).toBe(400);
        expect(over.body.error.code).toBe('overflow');
        expect(over.body.error.param).toBe('amount');
        expect((await expectLedgerSound(server, project.sk)).entries).toBe(audit.entries);
      } finally {
        await server.stop();
      }
    });
  });
}

describeStore('SQLite', async () => {
  const dataDir = tempDir();
  return {
    start: () => startServer({ dataDir, env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN } }),
    // The server keeps running: WAL lets the sqlite3 shell write beside it.
    seed: (sql) =>
      execFileSync('sqlite3', ['-bail', '-cmd', '.timeout 5000', path.join(dataDir, 'tollgate.db'), sql], {
        stdio: 'pipe',
      }),
    close: async () => require('node:fs').rmSync(dataDir, { recursive: true, force: true }),
  };
});

describeStore('PostgreSQL', async () => {
  const pg = await startPostgres();
  const url = await pg.freshDatabase();
  return {
    start: () => startServer({ env: { DATABASE_URL: url, TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN } }),
    seed: (sql) => psql(url, `BEGIN; ${sql} COMMIT;`),
    close: () => pg.stop(),
  };
});
