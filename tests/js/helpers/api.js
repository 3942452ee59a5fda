// Talking to a running tollgate: a project made through the admin API, and small request helpers.
// Every answer call() gets is checked against the server's OpenAPI document (helpers/openapi.js).
const { checkAnswer } = require('./openapi');
const ADMIN_TOKEN = 'tgadm_test_admin_token_0123456789';

/** fetch() against the server, returning {status, headers, body (parsed JSON)}. */
async function call(server, method, path, { key, body, headers = {}, raw } = {}) {
  const init = { method, headers: { ...headers } };
  if (key) init.headers.authorization = `Bearer ${key}`;
  if (raw !== undefined) {
    init.body = raw;
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['content-type'] = init.headers['content-type'] || 'application/json';
  }
  const res = await fetch(server.url + path, init);
  const text = await res.text();
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  checkAnswer(method, path, res.status, res.headers.get('content-type'), parsed);
  return { status: res.status, headers: res.headers, body: parsed };
}

/** Creates a project with the admin token and applies `settings`; returns its keys. */
async function createProject(server, settings = {}) {
  const created = await call(server, 'POST', '/v1/projects', {
    key: ADMIN_TOKEN,
    body: { name: 'test project' },
  });
  if (created.status !== 200) throw new Error(`create project: ${JSON.stringify(created.body)}`);
  const { publishableKey: pk, secretKey: sk, id } = created.body;
  if (Object.keys(settings).length) {
    const patched = await call(server, 'PATCH', '/v1/projects/current', { key: sk, body: settings });
    if (patched.status !== 200) throw new Error(`settings: ${JSON.stringify(patched.body)}`);
  }
  return { id, pk, sk };
}

const meter = (server, key, body, headers) => call(server, 'POST', '/v1/meter', { key, body, headers });

/** The ledger audit, which must pass after every ledger test. */
async function expectLedgerSound(server, sk) {
  const audit = await call(server, 'GET', '/v1/ledger/audit', { key: sk });
  expect(audit.status).toBe(200);
  expect(audit.body.mismatchedUserIds).toEqual([]);
  expect(audit.body.ok).toBe(true);
  return audit.body;
}

module.exports = { ADMIN_TOKEN, call, createProject, meter, expectLedgerSound };
