// GET /metrics on a real tollgate process: admin token only, the Prometheus text format, and
// every family moving under a short bounded load (meters allowed and blocked, streamed and
// plain feature calls, the ledger's batches, holds opened and closed, connections).
const { startServer } = require('../helpers/server');
const { ADMIN_TOKEN, call, createProject, meter, expectLedgerSound } = require('../helpers/api');

let server;
let project;

beforeAll(async () => {
  server = await startServer({ env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN } });
  project = await createProject(server, { startingCredits: 100 });
});

afterAll(async () => {
  await server?.stop();
});

// One sample line of the text format: name, optional {labels}, a value.
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (-?[0-9.e+]+|\+Inf|NaN)$/;

/** Scrapes /metrics; returns {text, value(name, labels)} after checking every line's syntax. */
async function scrape() {
  const res = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  const text = await res.text();
  const samples = new Map();
  const typed = new Set();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# HELP ')) continue;
    const type = /^# TYPE ([a-z_]+) (counter|gauge|histogram)$/.exec(line);
    if (type) {
      typed.add(type[1]);
      continue;
    }
    const sample = SAMPLE.exec(line);
    if (!sample) throw new Error(`not a sample line: ${line}`);
    const family = sample[1].replace(/_(bucket|sum|count)$/, '');
    if (!typed.has(sample[1]) && !typed.has(family)) throw new Error(`sample before its TYPE: ${line}`);
    samples.set(sample[1] + (sample[2] || ''), Number(sample[3]));
  }
  const value = (name, labels = '') => samples.get(name + labels);
  return { text, value, samples };
}

/** Runs `count` calls of `one(i)`, at most `width` at a time. */
async function bounded(count, width, one) {
  const results = [];
  for (let start = 0; start < count; start += width) {
    const batch = [];
    for (let i = start; i < Math.min(count, start + width); i++) batch.push(one(i));
    results.push(...(await Promise.all(batch)));
  }
  return results;
}

test('needs the instance admin token', async () => {
  const none = await call(server, 'GET', '/metrics');
  expect(none.status).toBe(401);
  expect(none.body.error.code).toBe('unauthenticated');
  const secret = await call(server, 'GET', '/metrics', { key: project.sk });
  expect(secret.status).toBe(401);
  expect(JSON.stringify(secret.body)).not.toContain('tollgate_');
});

test('the counters move under a bounded load', async () => {
  const before = await scrape();
  expect(before.value('tollgate_meter_decisions_total', '{decision="allowed"}')).toBe(0);
  expect(before.value('tollgate_open_holds')).toBe(0);

  // 150 meters of 1 credit for one user with 100: exactly 100 allowed, 50 blocked.
  const meters = await bounded(150, 25, () => meter(server, project.sk, { userId: 'ada', event: 'e' }));
  expect(meters.filter((r) => r.status === 200)).toHaveLength(100);
  expect(meters.filter((r) => r.status === 402)).toHaveLength(50);

  // Feature calls through the demo provider: 4 plain, 4 streamed.
  const defined = await call(server, 'POST', '/v1/operations', {
    key: project.sk,
    body: { slug: 'echo', model: 'demo/echo', userTemplate: 'Say {{x}}', price: { type: 'fixed', credits: 1 } },
  });
  expect(defined.status).toBe(200);
  const minted = await call(server, 'POST', '/v1/runtime/sessions', {
    key: project.sk, body: { endUserId: 'bob', operationIds: ['echo'] },
  });
  expect(minted.status).toBe(200);
  const invoke = (stream) => fetch(`${server.url}/v1/runtime/invoke`, {
    method: 'POST',
    headers: { authorization: `Bearer ${minted.body.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ operation: 'echo', input: { x: 'hello' }, stream }),
  }).then(async (res) => ({ status: res.status, text: await res.text() }));
  const calls = await bounded(8, 4, (i) => invoke(i % 2 === 1));
  for (const c of calls) expect(c.status).toBe(200);

  const after = await scrape();
  const v = after.value;
  expect(v('tollgate_meter_decisions_total', '{decision="allowed"}')).toBe(100);
  expect(v('tollgate_meter_decisions_total', '{decision="blocked"}')).toBe(50);
  expect(v('tollgate_http_requests_total', '{method="POST",route="/v1/meter",status="200"}')).toBe(100);
  expect(v('tollgate_http_requests_total', '{method="POST",route="/v1/meter",status="402"}')).toBe(50);
  expect(v('tollgate_http_requests_total', '{method="POST",route="/v1/runtime/invoke",status="200"}')).toBe(8);
  expect(v('tollgate_http_request_duration_seconds_count', '{method="POST",route="/v1/meter"}')).toBe(150);
  expect(v('tollgate_http_request_duration_seconds_bucket', '{method="POST",route="/v1/meter",le="+Inf"}')).toBe(150);
  // Every meter, reserve and settle went through a batch.
  expect(v('tollgate_ledger_batch_commands_sum')).toBeGreaterThanOrEqual(150 + 16);
  expect(v('tollgate_ledger_batch_commands_count')).toBeGreaterThan(0);
  expect(v('tollgate_ledger_commit_duration_seconds_count')).toBe(v('tollgate_ledger_batch_commands_count'));
  expect(v('tollgate_provider_calls_total', '{provider="demo",outcome="ok"}')).toBe(8);
  expect(v('tollgate_provider_tokens_total', '{provider="demo",kind="input"}')).toBeGreaterThan(0);
  expect(v('tollgate_provider_tokens_total', '{provider="demo",kind="output"}')).toBeGreaterThan(0);
  expect(v('tollgate_provider_spend_micros_total', '{provider="demo"}')).toBeGreaterThanOrEqual(0);
  expect(v('tollgate_provider_time_to_first_token_seconds_count', '{provider="demo"}')).toBe(4);
  expect(v('tollgate_open_holds')).toBe(0);
  expect(v('tollgate_connections_open')).toBeGreaterThanOrEqual(1);
  expect(v('tollgate_connections_shed_total')).toBe(0);
  expect(v('tollgate_connections_refused_total', '{reason="full"}')).toBe(0);
  // The raw path of a user's account never becomes a label.
  await call(server, 'GET', '/v1/accounts/ada%40example.com', { key: project.sk });
  const third = await scrape();
  expect(third.text).not.toContain('ada');
  expect(third.value('tollgate_http_requests_total', '{method="GET",route="/v1/accounts/{userId}",status="200"}')).toBe(1);
  await expectLedgerSound(server, project.sk);
});

test('docs/self-hosting.md lists exactly the families the server reports', async () => {
  const docs = require('node:fs').readFileSync(require('node:path').join(__dirname, '../../../docs/self-hosting.md'), 'utf8');
  const section = docs.slice(docs.indexOf('## Metrics'), docs.indexOf('## Security'));
  const documented = [...section.matchAll(/^\| `(tollgate_[a-z_]+)[{`]/gm)].map((m) => m[1]).sort();
  const { text } = await scrape();
  const reported = [...text.matchAll(/^# TYPE (tollgate_[a-z_]+) /gm)].map((m) => m[1]).sort();
  expect(documented).toEqual(reported);
});
