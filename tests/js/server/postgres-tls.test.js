// DATABASE_URL with TLS: `sslmode=require` meters over an encrypted connection (the server's own
// pg_stat_ssl says so), `sslmode=verify-full` with `sslrootcert` checks the server's certificate,
// and a server that cannot give what the URL requires stops tollgate at start with a clear error.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { startServer, tempDir } = require('../helpers/server');
const { startPostgres, psql } = require('../helpers/postgres');
const { ADMIN_TOKEN, createProject, meter, expectLedgerSound } = require('../helpers/api');

jest.setTimeout(120_000);

let tls;
let plain;

beforeAll(async () => {
  [tls, plain] = await Promise.all([startPostgres({ ssl: true }), startPostgres()]);
});

afterAll(async () => {
  await Promise.all([tls?.stop(), plain?.stop()]);
});

const serverOn = (url) => startServer({ env: { DATABASE_URL: url, TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN } });

/** Starting tollgate on `url` must fail; resolves to the error it prints on stderr. */
async function startFailure(url) {
  const error = await serverOn(url).then(
    async (server) => {
      await server.stop();
      throw new Error(`tollgate started on ${url}`);
    },
    (err) => err,
  );
  expect(error.message).toMatch(/tollgate exited 1/);
  const line = error.message.split('\n').find((l) => l.includes('"error"'));
  return JSON.parse(line.slice(line.indexOf('{'))).error;
}

/** Starts a server on `url` that has metered once, with a clean audit. */
async function metersOn(url) {
  const server = await serverOn(url);
  try {
    const project = await createProject(server, { startingCredits: 5 });
    const res = await meter(server, project.sk, { userId: 'u', event: 'e', cost: 2 });
    expect(res.status).toBe(200);
    expect(res.body.remaining).toBe(3);
    await expectLedgerSound(server, project.sk);
    return server;
  } catch (err) {
    await server.stop();
    throw err;
  }
}

test('sslmode=require meters over connections the server sees encrypted', async () => {
  const database = await tls.freshDatabase();
  const server = await metersOn(`${database}?sslmode=require`);
  try {
    // The server's view of every backend of tollgate's database (this psql does not use TLS).
    const rows = psql(
      `${database}?sslmode=disable`,
      "SELECT s.ssl || ' ' || coalesce(s.version, '') FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) " +
        "WHERE a.datname = current_database() AND a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()",
    )
      .split('\n')
      .filter(Boolean);
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) expect(row).toMatch(/^true TLSv1\.[23]$/);
  } finally {
    await server.stop();
  }
});

test('sslmode=verify-full with sslrootcert checks the certificate', async () => {
  const database = await tls.freshDatabase();
  const server = await metersOn(`${database}?sslmode=verify-full&sslrootcert=${tls.sslRootCert}`);
  await server.stop();

  // Another self-signed certificate is not the server's root: refused before any query.
  const dir = tempDir();
  try {
    const wrongRoot = path.join(dir, 'other.crt');
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=other',
        '-keyout', path.join(dir, 'other.key'), '-out', wrongRoot],
      { stdio: 'pipe' },
    );
    const error = await startFailure(`${database}?sslmode=verify-full&sslrootcert=${wrongRoot}`);
    expect(error.code).toBe('store_unavailable');
    expect(error.param).toBe('DATABASE_URL');
    expect(error.message).toMatch(/certificate verify failed/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('sslmode=require against a server without TLS stops tollgate at start, clearly', async () => {
  const error = await startFailure(`${await plain.freshDatabase()}?sslmode=require`);
  expect(error.code).toBe('store_unavailable');
  expect(error.param).toBe('DATABASE_URL');
  expect(error.message).toMatch(/^cannot connect to PostgreSQL: .*server does not support SSL, but SSL was required/);
});
