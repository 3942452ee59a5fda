// examples/invoicing, run as shipped against a real server, the fake provider and the fake
// Stripe: it bills this month's gateway usage as one invoice item per user and model, and a
// second run bills nothing more.
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { promisify } = require('node:util');
const { root } = require('../helpers/paths');
const { startServer, tempDir } = require('../helpers/server');
const { startFakeProvider } = require('../helpers/fake-provider');
const { startFakeStripe } = require('../helpers/fake-stripe');
const { ADMIN_TOKEN, call, createProject } = require('../helpers/api');

const run = promisify(execFile);
const SCRIPT = path.join(root, 'examples/invoicing/index.mjs');
let server;
let provider;
let stripe;
let pricingDir;

beforeAll(async () => {
  provider = await startFakeProvider();
  stripe = await startFakeStripe();
  pricingDir = tempDir();
  const pricing = path.join(pricingDir, 'pricing.json');
  fs.writeFileSync(pricing, JSON.stringify({ models: { 'fake/*': { inputPerMillionMicros: 100_000_000, outputPerMillionMicros: 200_000_000 } } }));
  server = await startServer({ env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN, TOLLGATE_PRICING_FILE: pricing, STRIPE_API_BASE: stripe.url } });
});

afterAll(async () => {
  await server?.stop();
  await provider?.stop();
  await stripe?.stop();
  fs.rmSync(pricingDir, { recursive: true, force: true });
});

test('bills this month once per user and model, and a second run bills nothing more', async () => {
  const project = await createProject(server);
  await call(server, 'PUT', '/v1/providers/fake', { key: project.sk, body: { apiKey: 'k', baseUrl: `${provider.url}/v1` } });
  const secretKey = `sk_test_${project.id}`;
  await call(server, 'PUT', '/v1/billing/stripe', { key: project.sk, body: { secretKey, webhookSecret: 'whsec_invoicing_example' } });
  for (const [user, model] of [['ada', 'fake/text'], ['ada', 'fake/json'], ['bob', 'fake/text'], ['bob', 'fake/text']]) {
    const key = (await call(server, 'POST', '/v1/keys', { key: project.sk, body: { userId: user } })).body;
    const res = await call(server, 'POST', '/v1/chat/completions', { key: key.secret, body: { model, max_tokens: 100, messages: [{ role: 'user', content: 'Hello' }] } });
    expect(res.status).toBe(200);
  }
  const month = new Date().toISOString().slice(0, 7);
  const env = { ...process.env, TOLLGATE_URL: server.url, TOLLGATE_SECRET_KEY: project.sk, MARKUP_BASIS_POINTS: '1000000' };
  const first = await run(process.execPath, [SCRIPT, month], { env });
  expect(first.stdout).toContain(`${month}: 3 invoice items\n`);
  expect(first.stdout).toMatch(/ {2}bob {2}fake\/text {2}2 requests {2}\$0\.\d\d {2}ii_/);
  const second = await run(process.execPath, [SCRIPT, month], { env });
  expect(second.stdout).toBe(first.stdout);
  const items = await fetch(`${stripe.url}/v1/invoiceitems?limit=100`, { headers: { authorization: `Bearer ${secretKey}` } }).then((r) => r.json());
  expect(items.data.map((ii) => `${ii.metadata.tollgate_user} ${ii.metadata.tollgate_model}`).sort())
    .toEqual(['ada fake/json', 'ada fake/text', 'bob fake/text']);
  const total = Number(/total: \$(\d+\.\d\d)/.exec(first.stdout)[1]);
  expect(Math.round(total * 100)).toBe(items.data.reduce((sum, ii) => sum + ii.amount, 0));
});

test('without a secret key it says what to set', async () => {
  const failed = await run(process.execPath, [SCRIPT], { env: { ...process.env, TOLLGATE_SECRET_KEY: '' } }).catch((e) => e);
  expect(failed.code).toBe(2);
  expect(failed.stderr).toContain('TOLLGATE_SECRET_KEY');
});
