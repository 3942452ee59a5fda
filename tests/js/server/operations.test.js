// AI features on a real tollgate process: create, read, list, patch, delete; the prompts shown
// to the secret key only; every bad definition refused, naming its field, with nothing written.
const { startServer } = require('../helpers/server');
const { ADMIN_TOKEN, call, createProject } = require('../helpers/api');

let server;
let project;

const SECRET_PROMPT = 'You are TicketBot. Internal escalation code: ZX-SECRET-41.';

const definition = (overrides = {}) => ({
  slug: 'summarize_ticket',
  title: 'Summarize a ticket',
  model: 'demo/echo',
  systemPrompt: SECRET_PROMPT,
  userTemplate: 'Ticket:\n{{ticket}}\nTone: {{tone}}',
  maxTokens: 300,
  temperature: 0.2,
  responseFormat: {
    type: 'object',
    properties: { summary: { type: 'string' }, priority: { enum: ['low', 'high'] } },
    required: ['summary'],
  },
  tools: [{ name: 'lookup_customer', description: 'Look up a customer by email.', parameters: { type: 'object', properties: { email: { type: 'string' } } } }],
  perUserDailyLimit: 20,
  allowedOrigins: ['https://app.example.com', 'http://localhost:3000'],
  price: { type: 'fixed', credits: 3 },
  ...overrides,
});

const create = (body, key = project.sk) => call(server, 'POST', '/v1/operations', { key, body });
const list = async () => (await call(server, 'GET', '/v1/operations?limit=100', { key: project.sk })).body.data;

beforeAll(async () => {
  server = await startServer({ env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN } });
  project = await createProject(server);
});

afterAll(async () => {
  await server.stop();
});

describe('defining a feature', () => {
  test('create returns the whole definition to the owner, with defaults and variables', async () => {
    const res = await create(definition());
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      object: 'operation',
      slug: 'summarize_ticket',
      model: 'demo/echo',
      systemPrompt: SECRET_PROMPT,
      variables: ['ticket', 'tone'],
      maxTokens: 300,
      monthlyInvocationLimit: null,
      perUserDailyLimit: 20,
      price: { type: 'fixed', credits: 3 },
      status: 'active',
    });
    expect(res.body.id).toMatch(/^op_/);
    expect(res.body.createdAtMs).toBeGreaterThan(0);
  });

  test('a minimal definition gets defaults', async () => {
    const res = await create({ slug: 'hello', model: 'openai/gpt-4o-mini' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      title: 'hello', systemPrompt: '', userTemplate: '', variables: [], maxTokens: 1024,
      temperature: null, responseFormat: null, tools: [], allowedOrigins: [],
      price: { type: 'fixed', credits: 1 }, status: 'active',
    });
  });

  test('a taken slug is 409 and the first definition is kept', async () => {
    const res = await create(definition({ title: 'Other' }));
    expect(res.status).toBe(409);
    expect(res.body.error.param).toBe('slug');
    const kept = await call(server, 'GET', '/v1/operations/summarize_ticket', { key: project.sk });
    expect(kept.body.title).toBe('Summarize a ticket');
  });

  test('the publishable key cannot create, patch or delete', async () => {
    expect((await create(definition({ slug: 'via_pk' }), project.pk)).status).toBe(403);
    const patch = await call(server, 'PATCH', '/v1/operations/summarize_ticket', { key: project.pk, body: { title: 'x' } });
    expect(patch.status).toBe(403);
    const del = await call(server, 'DELETE', '/v1/operations/summarize_ticket', { key: project.pk });
    expect(del.status).toBe(403);
    expect((await list()).map((op) => op.slug)).not.toContain('via_pk');
  });
});

describe('reading features', () => {
  test('the publishable key sees neither the prompts nor tool descriptions', async () => {
    for (const path of ['/v1/operations/summarize_ticket', '/v1/operations']) {
      const res = await call(server, 'GET', path, { key: project.pk });
      expect(res.status).toBe(200);
      const text = JSON.stringify(res.body);
      expect(text).not.toContain('ZX-SECRET-41');
      expect(text).not.toContain('Tone:');
      expect(text).not.toContain('Look up a customer');
      expect(text).toContain('lookup_customer');
    }
    const one = await call(server, 'GET', '/v1/operations/summarize_ticket', { key: project.pk });
    expect(one.body.variables).toEqual(['ticket', 'tone']);
    expect(one.body).not.toHaveProperty('systemPrompt');
    expect(one.body).not.toHaveProperty('userTemplate');
  });

  test('list pages by slug', async () => {
    for (const slug of ['page_a', 'page_b', 'page_c']) {
      expect((await create({ slug, model: 'demo/echo' })).status).toBe(200);
    }
    const first = await call(server, 'GET', '/v1/operations?limit=2', { key: project.sk });
    expect(first.body.data.map((op) => op.slug)).toEqual(['hello', 'page_a']);
    expect(first.body.hasMore).toBe(true);
    const next = await call(server, 'GET', '/v1/operations?limit=2&starting_after=page_a', { key: project.sk });
    expect(next.body.data.map((op) => op.slug)).toEqual(['page_b', 'page_c']);
    const bad = await call(server, 'GET', '/v1/operations?limit=0', { key: project.sk });
    expect(bad.status).toBe(400);
    expect(bad.body.error.param).toBe('limit');
  });

  test('an unknown slug is 404, and another project sees nothing', async () => {
    const res = await call(server, 'GET', '/v1/operations/nope', { key: project.sk });
    expect(res.status).toBe(404);
    expect(res.body.error.param).toBe('slug');
    const other = await createProject(server);
    const foreign = await call(server, 'GET', '/v1/operations/summarize_ticket', { key: other.sk });
    expect(foreign.status).toBe(404);
    expect((await call(server, 'GET', '/v1/operations', { key: other.sk })).body.data).toEqual([]);
  });

  test('no key is 401', async () => {
    expect((await call(server, 'GET', '/v1/operations')).status).toBe(401);
  });
});

describe('changing features', () => {
  test('PATCH changes only the fields sent, re-checks the whole and bumps updatedAtMs', async () => {
    const before = (await call(server, 'GET', '/v1/operations/summarize_ticket', { key: project.sk })).body;
    const res = await call(server, 'PATCH', '/v1/operations/summarize_ticket', {
      key: project.sk,
      body: { userTemplate: 'Ticket: {{ticket}}', status: 'paused', temperature: null },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      title: 'Summarize a ticket', systemPrompt: SECRET_PROMPT, variables: ['ticket'],
      status: 'paused', temperature: null, perUserDailyLimit: 20,
    });
    expect(res.body.updatedAtMs).toBeGreaterThanOrEqual(before.updatedAtMs);
    expect(res.body.createdAtMs).toBe(before.createdAtMs);
  });

  test('a bad PATCH is refused naming the field and writes nothing', async () => {
    const before = (await call(server, 'GET', '/v1/operations/summarize_ticket', { key: project.sk })).body;
    const cases = [
      [{ slug: 'renamed' }, 'slug'],
      [{ userTemplate: 'Hi {{' }, 'userTemplate'],
      [{ maxTokens: 0 }, 'maxTokens'],
      [{ price: { type: 'tokens', credits: 2 } }, 'price.credits'],
      [{ bogus: 1 }, 'bogus'],
      [{}, 'body'],
    ];
    for (const [body, param] of cases) {
      const res = await call(server, 'PATCH', '/v1/operations/summarize_ticket', { key: project.sk, body });
      expect([res.status, res.body.error?.param]).toEqual([400, param]);
    }
    const after = (await call(server, 'GET', '/v1/operations/summarize_ticket', { key: project.sk })).body;
    expect(after).toEqual(before);
    const missing = await call(server, 'PATCH', '/v1/operations/nope', { key: project.sk, body: { title: 'x' } });
    expect(missing.status).toBe(404);
  });

  test('DELETE removes the feature once', async () => {
    const res = await call(server, 'DELETE', '/v1/operations/page_c', { key: project.sk });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ slug: 'page_c', object: 'operation', deleted: true });
    expect((await call(server, 'DELETE', '/v1/operations/page_c', { key: project.sk })).status).toBe(404);
    expect((await call(server, 'GET', '/v1/operations/page_c', { key: project.sk })).status).toBe(404);
  });
});

describe('bad definitions are refused, naming the field, with nothing written', () => {
  const bad = [
    ['missing slug', { slug: undefined }, 'slug'],
    ['slug with capitals', { slug: 'Summarize' }, 'slug'],
    ['slug with a space', { slug: 'a b' }, 'slug'],
    ['slug too long', { slug: 'a'.repeat(65) }, 'slug'],
    ['missing model', { model: undefined }, 'model'],
    ['model without provider', { model: 'gpt-4o' }, 'model'],
    ['model with empty name', { model: 'openai/' }, 'model'],
    ['model with a bad provider', { model: 'Open AI/gpt' }, 'model'],
    ['system prompt not a string', { systemPrompt: 42 }, 'systemPrompt'],
    ['system prompt too long', { systemPrompt: 'x'.repeat(64 * 1024 + 1) }, 'systemPrompt'],
    ['template syntax', { userTemplate: 'Hello {{name' }, 'userTemplate'],
    ['template variable name', { userTemplate: '{{first-name}}' }, 'userTemplate'],
    ['temperature too high', { temperature: 2.5 }, 'temperature'],
    ['temperature a string', { temperature: 'hot' }, 'temperature'],
    ['maxTokens fractional', { maxTokens: 1.5 }, 'maxTokens'],
    ['maxTokens too large', { maxTokens: 200001 }, 'maxTokens'],
    ['responseFormat not an object', { responseFormat: 'json' }, 'responseFormat'],
    ['responseFormat unknown keyword', { responseFormat: { type: 'object', propertyNames: {} } }, 'responseFormat'],
    ['responseFormat pattern with lookahead', { responseFormat: { type: 'string', pattern: '^(?=a)' } }, 'responseFormat'],
    ['responseFormat pattern that expands too far', { responseFormat: { properties: { a: { pattern: '(a{1000}){1000}' } } } }, 'responseFormat'],
    ['tool parameters pattern with a backreference', { tools: [{ name: 'a', parameters: { properties: { x: { pattern: '(a)\\1' } } } }] }, 'tools[0].parameters'],
    ['tools not an array', { tools: {} }, 'tools'],
    ['tool without name', { tools: [{ parameters: { type: 'object' } }] }, 'tools[0].name'],
    ['tool name with a space', { tools: [{ name: 'look up' }] }, 'tools[0].name'],
    ['tool listed twice', { tools: [{ name: 'a' }, { name: 'a' }] }, 'tools[1].name'],
    ['tool parameters bad schema', { tools: [{ name: 'a', parameters: { type: 'text' } }] }, 'tools[0].parameters'],
    ['tool unknown field', { tools: [{ name: 'a', strict: true }] }, 'tools[0].strict'],
    ['limit zero', { monthlyInvocationLimit: 0 }, 'monthlyInvocationLimit'],
    ['limit negative', { perUserMonthlyLimit: -1 }, 'perUserMonthlyLimit'],
    ['origin with a path', { allowedOrigins: ['https://app.example.com/x'] }, 'allowedOrigins[0]'],
    ['origin without scheme', { allowedOrigins: ['app.example.com'] }, 'allowedOrigins[0]'],
    ['origin not a string', { allowedOrigins: [1] }, 'allowedOrigins[0]'],
    ['price type unknown', { price: { type: 'free' } }, 'price.type'],
    ['price credits negative', { price: { type: 'fixed', credits: -1 } }, 'price.credits'],
    ['fallbackModel without a provider', { fallbackModel: 'gpt-4o' }, 'fallbackModel'],
    ['price markup too large', { price: { type: 'tokens', markupBasisPoints: 1000001 } }, 'price.markupBasisPoints'],
    ['status unknown', { status: 'deleted' }, 'status'],
    ['unknown field', { systemprompt: 'typo' }, 'systemprompt'],
  ];
  test.each(bad)('%s', async (name, overrides, param) => {
    const slug = overrides.slug === undefined && 'slug' in overrides ? undefined : `bad_${bad.findIndex((b) => b[0] === name)}`;
    const body = { ...definition({ slug }), ...overrides };
    for (const [k, v] of Object.entries(body)) if (v === undefined) delete body[k];
    const before = await list();
    const res = await create(body);
    expect(res.status).toBe(400);
    expect(res.body.error.param).toBe(param);
    expect(res.body.error.type).toBe('invalid_request_error');
    expect(await list()).toEqual(before);
  });

  test('a pattern the validator refuses is named by its pointer, with the reason', async () => {
    const responseFormat = { type: 'object', properties: { code: { type: 'string', pattern: 'x(?!y)' } } };
    const res = await create({ ...definition({ slug: 'bad_pattern' }), responseFormat });
    expect(res.status).toBe(400);
    expect(res.body.error.param).toBe('responseFormat');
    expect(res.body.error.message).toContain("invalid schema at '#/properties/code/pattern'");
    expect(res.body.error.message).toContain('lookahead is not supported at byte 1');
  });

  test('a body that is not JSON, or not an object, is 400', async () => {
    const notJson = await call(server, 'POST', '/v1/operations', { key: project.sk, raw: '{nope', headers: { 'content-type': 'application/json' } });
    expect(notJson.status).toBe(400);
    const array = await call(server, 'POST', '/v1/operations', { key: project.sk, raw: '[]', headers: { 'content-type': 'application/json' } });
    expect(array.status).toBe(400);
  });
});
