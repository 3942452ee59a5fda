// The official `@anthropic-ai/sdk` against the gateway's POST /v1/messages, unchanged but for
// baseURL and apiKey (sent as x-api-key): messages.create and messages.stream, routed to an
// OpenAI-dialect provider and to an Anthropic one (both the fake provider).
const fs = require('node:fs');
const path = require('node:path');
const Anthropic = require('@anthropic-ai/sdk');
const { startServer, tempDir } = require('../helpers/server');
const { startFakeProvider } = require('../helpers/fake-provider');
const { ADMIN_TOKEN, call, createProject, expectLedgerSound } = require('../helpers/api');

let server;
let fake;
let project;
let pricingDir;
let key;

const PRICES = { inputPerMillionMicros: 1_000_000, outputPerMillionMicros: 2_000_000, maxOutputTokens: 1000 };

function client(secret = key.secret) {
  return new Anthropic({ apiKey: secret, baseURL: server.url, maxRetries: 0 });
}

beforeAll(async () => {
  fake = await startFakeProvider();
  pricingDir = tempDir();
  const pricing = path.join(pricingDir, 'pricing.json');
  fs.writeFileSync(pricing, JSON.stringify({ models: { 'fake/*': PRICES, 'anthropic/*': PRICES } }));
  server = await startServer({ env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN, TOLLGATE_PRICING_FILE: pricing } });
  project = await createProject(server);
  for (const [name, baseUrl] of [['fake', `${fake.url}/v1`], ['anthropic', fake.url]]) {
    const res = await call(server, 'PUT', `/v1/providers/${name}`, { key: project.sk, body: { apiKey: 'provider-key', baseUrl } });
    expect(res.status).toBe(200);
  }
  const created = await call(server, 'POST', '/v1/keys', { key: project.sk, body: { userId: 'bea', spendCapMicros: 5_000_000 } });
  expect(created.status).toBe(201);
  key = created.body;
});

afterAll(async () => {
  await server?.stop();
  await fake?.stop();
  fs.rmSync(pricingDir, { recursive: true, force: true });
});

test.each([['an OpenAI-dialect provider', 'fake/text'], ['an Anthropic provider', 'anthropic/text']])(
  'messages.create through %s answers in the Messages shape',
  async (_name, model) => {
    const message = await client().messages.create({
      model,
      max_tokens: 200,
      system: 'You are terse.',
      messages: [{ role: 'user', content: 'Hello' }],
    });
    expect(message.type).toBe('message');
    expect(message.role).toBe('assistant');
    expect(message.model).toBe(model);
    expect(message.content[0].type).toBe('text');
    expect(message.content[0].text).toContain('Hello from the fake provider');
    expect(message.stop_reason).toBe('end_turn');
    expect(message.usage.output_tokens).toBeGreaterThan(0);
    const sent = (await fake.requests()).requests.pop();
    expect(JSON.stringify(sent.body)).toContain('You are terse.');
  },
);

test('messages.stream: text events, then finalMessage()', async () => {
  const stream = client().messages.stream({ model: 'fake/text', max_tokens: 200, messages: [{ role: 'user', content: 'Hello' }] });
  const pieces = [];
  stream.on('text', (text) => pieces.push(text));
  const final = await stream.finalMessage();
  expect(pieces.length).toBeGreaterThan(1);
  expect(final.content[0].text).toBe(pieces.join(''));
  expect(final.stop_reason).toBe('end_turn');
  expect(final.usage.output_tokens).toBeGreaterThan(0);
});

test('tool use, streamed and not: tool_use blocks with their input, stop_reason tool_use', async () => {
  const tools = [{ name: 'get_order', description: 'Looks an order up', input_schema: { type: 'object', properties: { id: { type: 'string' } } } }];
  const whole = await client().messages.create({ model: 'fake/tools', max_tokens: 200, tools, messages: [{ role: 'user', content: 'Where is order A1?' }] });
  expect(whole.stop_reason).toBe('tool_use');
  const use = whole.content.find((b) => b.type === 'tool_use');
  expect(use.name).toBe('get_order');
  expect(typeof use.input).toBe('object');
  const streamed = await client().messages.stream({ model: 'anthropic/tools', max_tokens: 200, tools, messages: [{ role: 'user', content: 'Where is order A1?' }] }).finalMessage();
  expect(streamed.stop_reason).toBe('tool_use');
  expect(streamed.content.find((b) => b.type === 'tool_use').name).toBe('get_order');
  const answered = await client().messages.create({
    model: 'fake/tools',
    max_tokens: 200,
    tools,
    messages: [
      { role: 'user', content: 'Where is order A1?' },
      { role: 'assistant', content: whole.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'shipped' }] },
    ],
  });
  expect(answered.stop_reason).toBe('end_turn');
  const sent = (await fake.requests()).requests.pop();
  expect(sent.body.messages.find((m) => m.role === 'tool')).toMatchObject({ tool_call_id: use.id, content: 'shipped' });
});

test('errors come in the Anthropic shape: a bad request, a bad key, a cap', async () => {
  const bad = await client().messages.create({ model: 'fake/text', max_tokens: 0, messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
  expect(bad).toBeInstanceOf(Anthropic.BadRequestError);
  expect(bad.error).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
  const unknown = await client('tgk_' + 'x'.repeat(38)).messages.create({ model: 'fake/text', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
  expect(unknown).toBeInstanceOf(Anthropic.AuthenticationError);
  const tiny = await call(server, 'POST', '/v1/keys', { key: project.sk, body: { userId: 'bea', spendCapMicros: 1 } });
  const capped = await client(tiny.body.secret).messages.create({ model: 'fake/text', max_tokens: 100, messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
  expect(capped.status).toBe(402);
  expect(capped.error.error.type).toBe('billing_error');
  await expectLedgerSound(server, project.sk);
});
