// The official `openai` npm client against the gateway, unchanged but for baseURL and apiKey:
// chat completions streamed and not, .stream() with finalChatCompletion(), runTools with one
// tool, response_format with a json_schema, models.list, and a cap that surfaces as one 402.
// The model behind it is the fake provider, configured as the project's "fake" provider.
const fs = require('node:fs');
const path = require('node:path');
const OpenAI = require('openai');
const { startServer, tempDir } = require('../helpers/server');
const { startFakeProvider } = require('../helpers/fake-provider');
const { ADMIN_TOKEN, call, createProject, expectLedgerSound } = require('../helpers/api');

let server;
let fake;
let project;
let pricingDir;

// The fake provider's prices: a million tokens in for $1, out for $2.
const PRICES = { inputPerMillionMicros: 1_000_000, outputPerMillionMicros: 2_000_000, maxOutputTokens: 1000 };

async function newKey(body = {}) {
  const res = await call(server, 'POST', '/v1/keys', { key: project.sk, body: { userId: 'alice', ...body } });
  expect(res.status).toBe(201);
  return res.body;
}

function client(secret, options = {}) {
  return new OpenAI({ apiKey: secret, baseURL: `${server.url}/v1`, maxRetries: 2, ...options });
}

beforeAll(async () => {
  fake = await startFakeProvider();
  pricingDir = tempDir();
  const pricing = path.join(pricingDir, 'pricing.json');
  fs.writeFileSync(pricing, JSON.stringify({ models: { 'fake/text': PRICES, 'fake/tools': PRICES, 'fake/json': PRICES, 'fake/cut': PRICES, 'fake/status-500-always': PRICES, 'fake/malformed': PRICES, 'fake/bad-json-once': PRICES } }));
  server = await startServer({ env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN, TOLLGATE_PRICING_FILE: pricing } });
  project = await createProject(server);
  const res = await call(server, 'PUT', '/v1/providers/fake', { key: project.sk, body: { apiKey: 'sk-fake-provider', baseUrl: `${fake.url}/v1` } });
  expect(res.status).toBe(200);
});

afterAll(async () => {
  await server?.stop();
  await fake?.stop();
  fs.rmSync(pricingDir, { recursive: true, force: true });
});

test('chat.completions.create answers in the chat.completion shape and charges the key', async () => {
  const key = await newKey({ spendCapMicros: 1_000_000 });
  const openai = client(key.secret);
  const { data: completion, response } = await openai.chat.completions
    .create({ model: 'fake/text', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 100 })
    .withResponse();
  expect(response.headers.get('x-request-id')).toMatch(/^req_/);
  expect(completion.object).toBe('chat.completion');
  expect(completion.model).toBe('fake/text');
  expect(completion.choices).toHaveLength(1);
  expect(completion.choices[0].message.role).toBe('assistant');
  expect(completion.choices[0].message.content).toContain('Hello from the fake provider');
  expect(completion.choices[0].finish_reason).toBe('stop');
  expect(completion.usage.total_tokens).toBe(completion.usage.prompt_tokens + completion.usage.completion_tokens);
  expect(completion.tollgate.costMicros).toBeGreaterThan(0);
  const after = await call(server, 'GET', `/v1/keys/${key.id}`, { key: project.sk });
  expect(after.body.spend.periodSpentMicros).toBe(completion.tollgate.costMicros);
  expect(after.body.spend.heldMicros).toBe(0);
  expect(after.body.spend.remainingMicros).toBe(1_000_000 - completion.tollgate.costMicros);
});

test('a streamed completion: role first, deltas, finish_reason, the usage chunk, [DONE]', async () => {
  const key = await newKey();
  const stream = await client(key.secret).chat.completions.create({
    model: 'fake/text',
    messages: [{ role: 'user', content: 'Hello' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  expect(chunks[0].choices[0].delta.role).toBe('assistant');
  expect(chunks.slice(1).every((c) => c.choices.length === 0 || c.choices[0].delta.role === undefined)).toBe(true);
  const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
  expect(text).toContain('Hello from the fake provider');
  const finishes = chunks.filter((c) => c.choices[0]?.finish_reason);
  expect(finishes).toHaveLength(1);
  expect(finishes[0].choices[0].finish_reason).toBe('stop');
  const last = chunks[chunks.length - 1];
  expect(last.choices).toEqual([]);
  expect(last.usage.completion_tokens).toBeGreaterThan(0);
  expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
});

test('.stream() with finalChatCompletion()', async () => {
  const key = await newKey();
  const stream = client(key.secret).chat.completions.stream({ model: 'fake/text', messages: [{ role: 'user', content: 'Hi' }] });
  const deltas = [];
  stream.on('content', (delta) => deltas.push(delta));
  const final = await stream.finalChatCompletion();
  expect(final.choices[0].message.content).toBe(deltas.join(''));
  expect(final.choices[0].message.content).toContain('Hello from the fake provider');
});

test('runTools with one tool: the tool runs, its result goes back, the answer follows', async () => {
  const key = await newKey();
  const calls = [];
  const runner = client(key.secret).chat.completions.runTools({
    model: 'fake/tools',
    messages: [{ role: 'user', content: 'Where is my order?' }],
    tools: [
      {
        type: 'function',
        function: {
          name: 'get_order',
          description: 'Looks an order up',
          parameters: { type: 'object', properties: { id: { type: 'string' } } },
          function: (args) => {
            calls.push(args);
            return { status: 'shipped' };
          },
          parse: JSON.parse,
        },
      },
    ],
  });
  const content = await runner.finalContent();
  expect(calls.length).toBe(1);
  expect(content).toContain('Hello from the fake provider');
  const messages = runner.messages;
  expect(messages.some((m) => m.role === 'tool')).toBe(true);
  const { requests } = await fake.requests();
  const last = requests.filter((r) => r.path === '/v1/chat/completions').pop();
  expect(JSON.stringify(last.body.messages)).toContain('shipped');
});

test('response_format with a json_schema: the answer is validated and parses', async () => {
  const key = await newKey();
  const completion = await client(key.secret).chat.completions.create({
    model: 'fake/json',
    messages: [{ role: 'user', content: 'The printer is on fire' }],
    response_format: {
      type: 'json_schema',
      json_schema: {
        name: 'ticket',
        schema: {
          type: 'object',
          properties: { summary: { type: 'string' }, priority: { enum: ['low', 'high'] } },
          required: ['summary', 'priority'],
        },
      },
    },
  });
  const parsed = JSON.parse(completion.choices[0].message.content);
  expect(parsed.priority).toBe('high');
});

test('a streamed json_schema answer is sent once it is valid, after a repair, never the broken first try', async () => {
  const key = await newKey();
  const stream = await client(key.secret).chat.completions.create({
    model: 'fake/bad-json-once',
    stream: true,
    messages: [{ role: 'user', content: 'The printer is on fire' }],
    response_format: { type: 'json_schema', json_schema: { name: 'ticket', schema: { type: 'object', properties: { summary: { type: 'string' }, priority: { enum: ['low', 'high'] } }, required: ['summary', 'priority'] } } },
  });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
  expect(JSON.parse(text)).toMatchObject({ priority: 'high' });
  expect((await fake.requests()).requests.filter((r) => r.body.model === 'bad-json-once').length).toBeGreaterThanOrEqual(2);
});

test('models.list shows the models this key may use, with prices', async () => {
  const key = await newKey({ models: ['fake/text', 'fake/json'] });
  const models = [];
  for await (const model of client(key.secret).models.list()) models.push(model);
  expect(models.map((m) => m.id).sort()).toEqual(['fake/json', 'fake/text']);
  expect(models[0].pricing.outputPerMillionMicros).toBe(2_000_000);
  const other = await client(key.secret).chat.completions.create({ model: 'fake/tools', messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
  expect(other).toBeInstanceOf(OpenAI.APIError);
  expect(other.status).toBe(403);
});

test('at the cap: an APIError with status 402 after exactly one request', async () => {
  const key = await newKey({ spendCapMicros: 10 });
  await fake.reset();
  const before = await fetch(`${server.url}/healthz`);
  expect(before.status).toBe(200);
  let requests = 0;
  const counting = async (url, init) => {
    requests += 1;
    return fetch(url, init);
  };
  const error = await client(key.secret, { fetch: counting })
    .chat.completions.create({ model: 'fake/text', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 100 })
    .catch((e) => e);
  expect(error).toBeInstanceOf(OpenAI.APIError);
  expect(error.status).toBe(402);
  expect(error.type).toBe('insufficient_quota');
  expect(error.code).toBe('insufficient_quota');
  expect(error.headers['x-should-retry'] ?? error.headers.get?.('x-should-retry')).toBe('false');
  expect(requests).toBe(1);
  expect(error.message).toMatch(/can afford 0 tokens/);
  expect((await fake.requests()).requests.filter((r) => r.path === '/v1/chat/completions')).toHaveLength(0);
  // A cap that affords part of max_tokens says how much.
  const some = await newKey({ spendCapMicros: 150 });
  const partly = await client(some.secret).chat.completions
    .create({ model: 'fake/text', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 1000 })
    .catch((e) => e);
  expect(partly.status).toBe(402);
  const affords = Number(/can afford (\d+) tokens/.exec(partly.message)[1]);
  expect(affords).toBeGreaterThan(0);
  const ok = await client(some.secret).chat.completions.create({ model: 'fake/text', messages: [{ role: 'user', content: 'Hello' }], max_tokens: affords });
  expect(ok.choices[0].finish_reason).toBe('stop');
});

test('without max_tokens the model maximum is reserved, and a smaller budget is told what it affords', async () => {
  const key = await newKey({ spendCapMicros: 1000 });  // $0.001: the 1000-token maximum costs $0.002
  const error = await client(key.secret).chat.completions
    .create({ model: 'fake/text', messages: [{ role: 'user', content: 'Hello' }] })
    .catch((e) => e);
  expect(error.status).toBe(402);
  const affords = Number(/can afford (\d+) tokens/.exec(error.message)[1]);
  expect(affords).toBeGreaterThan(0);
  expect(affords).toBeLessThan(1000);
  const quote = await call(server, 'POST', '/v1/quote', { key: key.secret, body: { model: 'fake/text', messages: [{ role: 'user', content: 'Hello' }] } });
  expect(quote.status).toBe(200);
  expect(quote.body.affordableMaxTokens).toBe(affords);
  expect(quote.body.remainingMicros).toBe(1000);
  const ok = await client(key.secret).chat.completions.create({ model: 'fake/text', messages: [{ role: 'user', content: 'Hello' }], max_tokens: affords });
  expect(ok.choices[0].finish_reason).toBe('stop');
});

test('bad requests get 400 naming the field, in the error shape, and run nothing', async () => {
  const key = await newKey();
  await fake.reset();
  const cases = [
    [{ model: 'fake/text', messages: [{ role: 'user', content: 'x' }], n: 2 }, 'n'],
    [{ model: 'fake/text', messages: [] }, 'messages'],
    [{ model: 'fake/text', messages: [{ role: 'wizard', content: 'x' }] }, 'messages[0].role'],
    [{ model: 'fake/unpriced', messages: [{ role: 'user', content: 'x' }] }, 'model'],
    [{ model: 'nomodel', messages: [{ role: 'user', content: 'x' }] }, 'model'],
    [{ model: 'fake/text', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }, 'messages[0].content[0]'],
    [{ model: 'fake/text', messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_schema', json_schema: { name: 'x' } } }, 'response_format.json_schema.schema'],
    [{ model: 'fake/text', messages: [{ role: 'user', content: 'x' }], tool_choice: 'sometimes' }, 'tool_choice'],
    [{ model: 'fake/text', messages: [{ role: 'user', content: 'x' }], max_tokens: 0 }, 'max_tokens'],
  ];
  for (const [body, param] of cases) {
    const res = await call(server, 'POST', '/v1/chat/completions', { key: key.secret, body });
    expect([res.status, res.body.error.param]).toEqual([400, param]);
    expect(res.headers.get('x-request-id')).toMatch(/^req_/);
  }
  expect((await fake.requests()).requests.filter((r) => r.path === '/v1/chat/completions')).toHaveLength(0);
  const noKey = await call(server, 'POST', '/v1/chat/completions', { key: project.sk, body: cases[0][0] });
  expect(noKey.status).toBe(401);
  await expectLedgerSound(server, project.sk);
});

test('an error after the stream started arrives as a data: {"error"} chunk; what streamed is charged', async () => {
  const key = await newKey();
  const stream = await client(key.secret).chat.completions.create({ model: 'fake/cut', messages: [{ role: 'user', content: 'Hi' }], stream: true });
  const pieces = [];
  const error = await (async () => {
    for await (const chunk of stream) pieces.push(chunk.choices[0]?.delta?.content ?? '');
  })().catch((e) => e);
  expect(pieces.join('')).toContain('Hello');
  expect(error).toBeInstanceOf(OpenAI.APIError);
  expect(error.message).toMatch(/provider/);
  const raw = await fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key.secret}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'fake/malformed', stream: true, messages: [{ role: 'user', content: 'Hi' }] }),
  }).then((r) => r.text());
  const frames = raw.trim().split('\n\n');
  expect(frames[frames.length - 1]).toBe('data: [DONE]');
  expect(JSON.parse(frames[frames.length - 2].slice(6)).error.code).toBe('upstream_error');
  const spend = (await call(server, 'GET', `/v1/keys/${key.id}`, { key: project.sk })).body.spend;
  expect(spend.heldMicros).toBe(0);
  expect(spend.periodSpentMicros).toBeGreaterThan(0);
});

test('a provider that fails before answering: 502 in OpenAI\'s shape, and nothing is charged', async () => {
  const key = await newKey();
  const error = await client(key.secret, { maxRetries: 0 }).chat.completions
    .create({ model: 'fake/status-500-always', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 10 })
    .catch((e) => e);
  expect(error).toBeInstanceOf(OpenAI.APIError);
  expect(error.status).toBe(502);
  expect(error.code).toBe('upstream_error');
  const spend = (await call(server, 'GET', `/v1/keys/${key.id}`, { key: project.sk })).body.spend;
  expect([spend.heldMicros, spend.periodSpentMicros]).toEqual([0, 0]);
  await expectLedgerSound(server, project.sk);
});
