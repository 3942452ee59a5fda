// Definitions that cannot fail later, on a real tollgate process: a setting that would make
// every later call fail (a token price for a model the pricing catalog does not price, a
// provider Tollgate has no address for) is refused when it is written, naming the field, and
// nothing is written. What does work is still accepted.
const fs = require('node:fs');
const path = require('node:path');
const { startServer, tempDir } = require('../helpers/server');
const { ADMIN_TOKEN, call, createProject } = require('../helpers/api');

let server;
let project;
let pricingDir;

// The server's own catalog, not the shipped one: openai/gpt-4o is priced by default but not
// here, so a refusal shows that the server checks against the catalog it runs with.
const CATALOG = {
  models: {
    'demo/*': { inputPerMillionMicros: 1_000_000, outputPerMillionMicros: 2_000_000 },
    'openai/gpt-4o-mini': { inputPerMillionMicros: 150_000, outputPerMillionMicros: 600_000 },
  },
};
const TOKENS = { type: 'tokens', markupBasisPoints: 10_000, microsPerCredit: 1 };

const create = (body) => call(server, 'POST', '/v1/operations', { key: project.sk, body });
const patch = (slug, body) => call(server, 'PATCH', `/v1/operations/${slug}`, { key: project.sk, body });
const get = (slug) => call(server, 'GET', `/v1/operations/${slug}`, { key: project.sk });
const slugs = async () => (await call(server, 'GET', '/v1/operations?limit=100', { key: project.sk })).body.data.map((op) => op.slug);
const providers = async () => (await call(server, 'GET', '/v1/providers', { key: project.sk })).body.data.map((p) => p.name);

beforeAll(async () => {
  pricingDir = tempDir();
  const pricing = path.join(pricingDir, 'pricing.json');
  fs.writeFileSync(pricing, JSON.stringify(CATALOG));
  server = await startServer({ env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN, TOLLGATE_PRICING_FILE: pricing } });
  project = await createProject(server, { startingCredits: 1000 });
});

afterAll(async () => {
  await server.stop();
  fs.rmSync(pricingDir, { recursive: true, force: true });
});

/** A 400 invalid_argument naming `param`, whose message names `model`. */
function expectRefused(res, param, model) {
  expect(res.status).toBe(400);
  expect(res.body.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_argument', param });
  expect(res.body.error.message).toContain(model);
  expect(res.body.error.message).toMatch(/pricing catalog/);
}

describe('a token price needs a catalog price', () => {
  test('a token-priced feature on an unpriced model is refused naming model, and is not listed', async () => {
    const before = await slugs();
    const res = await create({ slug: 'unpriced', model: 'openai/gpt-4o', price: TOKENS });
    expectRefused(res, 'model', 'openai/gpt-4o');
    expect(await slugs()).toEqual(before);
    expect(await slugs()).not.toContain('unpriced');
    expect((await get('unpriced')).status).toBe(404);
  });

  test('an unpriced fallback model is refused naming fallbackModel', async () => {
    const res = await create({ slug: 'fallback_unpriced', model: 'openai/gpt-4o-mini', fallbackModel: 'groq/some-model', price: TOKENS });
    expectRefused(res, 'fallbackModel', 'groq/some-model');
    expect(await slugs()).not.toContain('fallback_unpriced');
  });

  test('a fixed price needs no catalog price; switching it to tokens by PATCH is refused and changes nothing', async () => {
    const created = await create({ slug: 'fixed', model: 'openai/gpt-4o', fallbackModel: 'groq/some-model', price: { type: 'fixed', credits: 2 } });
    expect(created.status).toBe(200);
    const before = (await get('fixed')).body;
    const res = await patch('fixed', { price: TOKENS });
    expectRefused(res, 'model', 'openai/gpt-4o');
    expect((await get('fixed')).body).toEqual(before);
    // Moving the primary to a priced model still leaves the fallback unpriced.
    const half = await patch('fixed', { model: 'openai/gpt-4o-mini', price: TOKENS });
    expectRefused(half, 'fallbackModel', 'groq/some-model');
    expect((await get('fixed')).body).toEqual(before);
  });

  test('a PATCH of a token-priced feature to an unpriced model is refused', async () => {
    expect((await create({ slug: 'tokens', model: 'openai/gpt-4o-mini', price: TOKENS })).status).toBe(200);
    const before = (await get('tokens')).body;
    expectRefused(await patch('tokens', { model: 'openai/gpt-4o' }), 'model', 'openai/gpt-4o');
    expectRefused(await patch('tokens', { fallbackModel: 'anthropic/claude-x' }), 'fallbackModel', 'anthropic/claude-x');
    expect((await get('tokens')).body).toEqual(before);
    // A priced change goes through.
    const moved = await patch('tokens', { fallbackModel: 'demo/echo' });
    expect(moved.status).toBe(200);
    expect(moved.body.fallbackModel).toBe('demo/echo');
  });

  test('a token-priced feature on a priced model is accepted and its invokes are charged by tokens', async () => {
    const created = await create({ slug: 'demo_tokens', model: 'demo/echo', userTemplate: 'Q: {{q}}', maxTokens: 50, price: TOKENS });
    expect(created.status).toBe(200);
    const session = await call(server, 'POST', '/v1/runtime/sessions', { key: project.sk, body: { endUserId: 'u1', operationIds: ['demo_tokens'] } });
    expect(session.status).toBe(200);
    const ran = await call(server, 'POST', '/v1/runtime/invoke', { key: session.body.token, body: { operation: 'demo_tokens', input: { q: 'hello' } } });
    expect(ran.status).toBe(200);
    expect(ran.body.cost.micros).toBeGreaterThan(0);
    expect(ran.body.cost.credits).toBe(ran.body.cost.micros); // 1 micro per credit, 1× markup
  });
});

describe('provider settings', () => {
  test('a provider Tollgate has no address for needs a baseUrl; nothing is stored without one', async () => {
    const before = await providers();
    const res = await call(server, 'PUT', '/v1/providers/mycorp', { key: project.sk, body: { apiKey: 'mc-key-0123' } });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'invalid_argument', param: 'baseUrl' });
    expect(res.body.error.message).toContain('mycorp');
    expect(await providers()).toEqual(before);
    const withUrl = await call(server, 'PUT', '/v1/providers/mycorp', { key: project.sk, body: { apiKey: 'mc-key-0123', baseUrl: 'https://llm.mycorp.example/v1' } });
    expect(withUrl.status).toBe(200);
    expect(await providers()).toContain('mycorp');
  });

  test('a known provider takes its default address', async () => {
    const res = await call(server, 'PUT', '/v1/providers/groq', { key: project.sk, body: { apiKey: 'gsk_0123456789' } });
    expect(res.status).toBe(200);
    expect(res.body.baseUrl).toBeNull();
  });
});
