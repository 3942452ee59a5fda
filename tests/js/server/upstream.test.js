// Features on real provider wire formats: a real tollgate process calls the fake provider
// process (tests/fixtures/fake-provider.js) over HTTP, as OpenAI Chat Completions and as
// Anthropic Messages, through retries, timeouts, broken streams and bad output.
const fs = require('node:fs');
const path = require('node:path');
const { startServer, tempDir } = require('../helpers/server');
const { ADMIN_TOKEN, call, createProject, expectLedgerSound } = require('../helpers/api');
const { startFakeProvider } = require('../helpers/fake-provider');
const { sdk } = require('../helpers/sdk');

const SYSTEM_PROMPT = 'HIDDEN-SYSTEM-PROMPT-b81e: answer as Acme support';
const PROVIDER_KEY = 'sk-fake-provider-key-DO-NOT-LEAK-1234';
const SCHEMA = {
  type: 'object',
  properties: { summary: { type: 'string' }, priority: { enum: ['low', 'high'] } },
  required: ['summary', 'priority'],
};

let fake;
let server;
let project;
let core;
let pricingDir;
const seen = [];

async function feature(slug, model, extra = {}) {
  const res = await call(server, 'POST', '/v1/operations', {
    key: project.sk,
    body: { slug, model, systemPrompt: SYSTEM_PROMPT, userTemplate: 'Ticket: {{ticket}}', price: { type: 'fixed', credits: 5 }, ...extra },
  });
  expect(res.status).toBe(200);
}

async function token(user, ops) {
  const res = await call(server, 'POST', '/v1/runtime/sessions', { key: project.sk, body: { endUserId: user, operationIds: ops } });
  return res.body.token;
}

async function invoke(user, op, extra = {}) {
  const res = await call(server, 'POST', '/v1/runtime/invoke', {
    key: await token(user, [op]), body: { operation: op, input: { ticket: 'the printer is on fire' }, ...extra },
  });
  seen.push(JSON.stringify(res.body));
  return res;
}

async function stream(user, op) {
  const res = await fetch(`${server.url}/v1/runtime/invoke`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await token(user, [op])}`, 'content-type': 'application/json' },
    body: JSON.stringify({ operation: op, input: { ticket: 'the printer is on fire' }, stream: true }),
  });
  const text = await res.text();
  seen.push(text);
  const parser = core.stream.sse();
  try {
    return { status: res.status, events: parser.feed(text).map((e) => ({ type: e.type, data: JSON.parse(e.data) })) };
  } finally {
    parser.dispose();
  }
}

const balance = async (user) => (await call(server, 'GET', `/v1/accounts/${user}`, { key: project.sk })).body.balance;
const lastRequests = async (model) => (await fake.requests()).requests.filter((r) => r.body.model === model);

beforeAll(async () => {
  core = await sdk.loadCore();
  fake = await startFakeProvider();
  pricingDir = tempDir();
  const pricing = path.join(pricingDir, 'pricing.json');
  fs.writeFileSync(pricing, JSON.stringify({ models: { 'fake/*': { inputPerMillionMicros: 1_000_000, outputPerMillionMicros: 2_000_000 }, 'anthropic/*': { inputPerMillionMicros: 3_000_000, outputPerMillionMicros: 15_000_000 } } }));
  server = await startServer({
    // Four threads, more than the cores: exchanges and the connections they share run on
    // different threads (what the pooled-connection test needs to catch a strand mix-up).
    env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN, TOLLGATE_PRICING_FILE: pricing, TOLLGATE_UPSTREAM_FIRST_BYTE_TIMEOUT_MS: '400', TOLLGATE_THREADS: '4' },
  });
  project = await createProject(server, { startingCredits: 100 });
  for (const [name, baseUrl] of [['fake', `${fake.url}/v1`], ['anthropic', fake.url]]) {
    const res = await call(server, 'PUT', `/v1/providers/${name}`, { key: project.sk, body: { apiKey: PROVIDER_KEY, baseUrl } });
    expect(res.status).toBe(200);
  }
});

afterAll(async () => {
  await server.stop();
  await fake.stop();
  fs.rmSync(pricingDir, { recursive: true, force: true });
});

describe.each([
  ['OpenAI Chat Completions', 'fake'],
  ['Anthropic Messages', 'anthropic'],
])('%s', (_name, provider) => {
  const slug = (s) => `${provider}_${s}`;

  test('a text answer, with the provider\'s usage settled at the catalog price', async () => {
    await feature(slug('text'), `${provider}/text`, { price: { type: 'tokens', markupBasisPoints: 10000, microsPerCredit: 10 }, maxTokens: 20 });
    const res = await invoke(`${provider}_u1`, slug('text'));
    expect(res.status).toBe(200);
    expect(res.body.output).toMatch(/^Hello from the fake provider/);
    expect(res.body.usage.reported).toBe(true);
    const [input, output] = provider === 'fake' ? [1_000_000, 2_000_000] : [3_000_000, 15_000_000];
    const micros = Math.ceil((res.body.usage.inputTokens * input + res.body.usage.outputTokens * output) / 1_000_000);
    expect(res.body.cost).toEqual({ credits: Math.ceil(micros / 10), micros });
    // The provider got the hidden prompt, the key and the model, in its own dialect.
    const [sent] = await lastRequests('text');
    if (provider === 'fake') {
      expect(sent.path).toBe('/v1/chat/completions');
      expect(sent.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
      expect(sent.body.messages[0]).toEqual({ role: 'system', content: SYSTEM_PROMPT });
    } else {
      expect(sent.path).toBe('/v1/messages');
      expect(sent.headers['x-api-key']).toBe(PROVIDER_KEY);
      expect(sent.headers['anthropic-version']).toBe('2023-06-01');
      expect(sent.body.system).toBe(SYSTEM_PROMPT);
    }
    expect(sent.body.max_tokens).toBe(20);
    await fake.reset();
  });

  test('structured output in the provider\'s dialect, validated', async () => {
    await feature(slug('json'), `${provider}/json`, { responseFormat: SCHEMA });
    const res = await invoke(`${provider}_u2`, slug('json'));
    expect(res.status).toBe(200);
    expect(res.body.parsed).toEqual({ summary: 'The printer is on fire and needs a technician', priority: 'high' });
    const [sent] = await lastRequests('json');
    if (provider === 'fake') {
      expect(sent.body.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'output', schema: SCHEMA, strict: false } });
    } else {
      expect(sent.body.tool_choice).toEqual({ type: 'tool', name: 'tollgate_output' });
    }
    const streamed = await stream(`${provider}_u2`, slug('json'));
    const done = streamed.events[streamed.events.length - 1];
    expect(done.type).toBe('done');
    expect(done.data.parsed).toEqual(res.body.parsed);
    expect(streamed.events.filter((e) => e.type === 'delta').map((e) => e.data.text).join('')).toBe(done.data.output);
    expect(streamed.events.some((e) => e.type === 'partial')).toBe(true);
    await fake.reset();
  });

  test('streams text deltas and the provider\'s usage', async () => {
    const res = await stream(`${provider}_u3`, slug('text'));
    expect(res.status).toBe(200);
    const done = res.events[res.events.length - 1];
    expect(done.type).toBe('done');
    expect(res.events.filter((e) => e.type === 'delta').length).toBeGreaterThan(2);
    expect(done.data.output).toMatch(/^Hello from the fake provider/);
    expect(done.data.usage.reported).toBe(true);
    await fake.reset();
  });

  test('tool calls come back, streamed and not', async () => {
    await feature(slug('tools'), `${provider}/tools`, {
      tools: [{ name: 'get_order', description: 'Looks an order up', parameters: { type: 'object', properties: { id: { type: 'string' } } } }],
    });
    const res = await invoke(`${provider}_u4`, slug('tools'));
    expect(res.status).toBe(200);
    expect(res.body.finishReason).toBe('tool_calls');
    expect(res.body.toolCalls).toHaveLength(1);
    expect(res.body.toolCalls[0].name).toBe('get_order');
    expect(JSON.parse(res.body.toolCalls[0].arguments)).toEqual({ id: 'A-1' });
    const streamed = await stream(`${provider}_u4`, slug('tools'));
    const done = streamed.events[streamed.events.length - 1].data;
    expect(done.toolCalls[0].name).toBe('get_order');
    const deltas = streamed.events.filter((e) => e.type === 'tool_call').map((e) => e.data.argumentsDelta || '').join('');
    expect(JSON.parse(deltas)).toEqual({ id: 'A-1' });
    await fake.reset();
  });
});

test('a tool loop stops after eight steps', async () => {
  await feature('loop', 'fake/tools-always', {
    tools: [{ name: 'get_order', description: 'Looks an order up', parameters: { type: 'object' } }],
  });
  const session = await token('loop_user', ['loop']);
  let res = await call(server, 'POST', '/v1/runtime/invoke', { key: session, body: { operation: 'loop', input: { ticket: 'x' } } });
  for (let step = 1; step < 8; step += 1) {
    expect(res.status).toBe(200);
    expect(res.body.toolSteps.used).toBe(step);
    const id = res.body.toolCalls[0].id;
    res = await call(server, 'POST', '/v1/runtime/invoke', {
      key: session, body: { operation: 'loop', continuation: res.body.continuation, toolResults: [{ id, output: 'still pending' }] },
    });
  }
  expect(res.body.toolSteps.used).toBe(8);
  // The provider saw the whole conversation each time, system prompt first.
  const last = (await lastRequests('tools-always')).pop();
  expect(last.body.messages[0]).toEqual({ role: 'system', content: SYSTEM_PROMPT });
  expect(last.body.messages.filter((m) => m.role === 'tool').length).toBe(7);
  const over = await call(server, 'POST', '/v1/runtime/invoke', {
    key: session, body: { operation: 'loop', continuation: res.body.continuation, toolResults: [{ id: res.body.toolCalls[0].id, output: 'x' }] },
  });
  expect(over.status).toBe(400);
  expect(over.body.error.message).toMatch(/8 tool steps/);
});

describe('failures', () => {
  test('429 twice is retried and then succeeds', async () => {
    await feature('retry', 'fake/text+status-429-2');
    const res = await invoke('f1', 'retry');
    expect(res.status).toBe(200);
    expect((await lastRequests('text+status-429-2')).length).toBe(3);
  });

  test('a provider that keeps failing: 502 after three attempts, nothing charged, no key in the error', async () => {
    await feature('broken', 'fake/text+status-500-always');
    const res = await invoke('f2', 'broken');
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe('upstream_error');
    expect(res.body.error.message).toMatch(/HTTP 500/);
    expect(JSON.stringify(res.body)).not.toContain(PROVIDER_KEY);
    expect((await lastRequests('text+status-500-always')).length).toBe(3);
    expect(await balance('f2')).toBe(100);
  });

  test('a fallback model answers when the model fails before answering', async () => {
    await feature('fallback', 'fake/text+status-500-always', { fallbackModel: 'anthropic/text' });
    const res = await invoke('f9', 'fallback');
    expect(res.status).toBe(200);
    expect(res.body.model).toBe('anthropic/text');
    expect(res.body.output).toMatch(/^Hello from the fake provider/);
    const streamed = await stream('f9', 'fallback');
    expect(streamed.events.find((e) => e.type === 'fallback').data).toEqual({ model: 'anthropic/text' });
    expect(streamed.events[streamed.events.length - 1].type).toBe('done');
    expect(await balance('f9')).toBe(90);
  });

  test('a refused key is not retried and not echoed', async () => {
    await feature('badkey', 'fake/text+status-401-always');
    const res = await invoke('f3', 'badkey');
    expect(res.status).toBe(502);
    expect(res.body.error.message).toMatch(/refused its API key/);
    expect(JSON.stringify(res.body)).not.toContain(PROVIDER_KEY);
    expect((await lastRequests('text+status-401-always')).length).toBe(1);
  });

  test("the owner's log keeps what the provider said, with its key masked; the caller gets none of it", async () => {
    await feature('badrequest', 'fake/text+status-400-always');
    const res = await invoke('f3b', 'badrequest');
    expect(res.status).toBe(502);
    expect(res.body.error.message).toMatch(/refused the request \(HTTP 400\)/);
    expect(JSON.stringify(res.body)).not.toMatch(/failed for key/);
    let line;
    for (let i = 0; i < 50 && !line; i += 1) {
      line = server.logs.find((l) => l.event === 'provider_call_failed' && l.operation === 'badrequest');
      if (!line) await new Promise((r) => setTimeout(r, 20));
    }
    expect(line).toMatchObject({ level: 'warn', project: project.id, model: 'fake/text+status-400-always', attempt: 1, code: 'upstream_error' });
    expect(line.provider).toMatch(/^HTTP 400: \{"error":\{"message":"failed for key Bearer \[api key\]"\}\}$/);
    expect(JSON.stringify(server.logs)).not.toContain(PROVIDER_KEY);
    // The request's own line is a warning too: the provider failed, not Tollgate.
    const id = res.headers.get('x-request-id');
    let requestLine;
    for (let i = 0; i < 50 && !requestLine; i += 1) {
      requestLine = server.logs.find((l) => l.event === 'http_request' && l.request_id === id);
      if (!requestLine) await new Promise((r) => setTimeout(r, 20));
    }
    expect(requestLine).toMatchObject({ level: 'warn', path: '/v1/runtime/invoke', status: 502, error_code: 'upstream_error' });
  });

  test('a call retried three times logs one failure; a fallback that answers logs the first as attempt 1', async () => {
    const linesFor = (operation) => server.logs.filter((l) => l.event === 'provider_call_failed' && l.operation === operation);
    const settle = () => new Promise((r) => setTimeout(r, 100)); // the log thread writes within 2 ms
    await feature('retried', 'fake/text+status-503-always');
    expect((await invoke('f3c', 'retried')).status).toBe(502);
    await settle();
    expect(linesFor('retried')).toHaveLength(1);
    expect(linesFor('retried')[0]).toMatchObject({ attempt: 1, provider: expect.stringMatching(/^HTTP 503: /) });
    await feature('fellback', 'fake/text+status-500-always', { fallbackModel: 'anthropic/text' });
    expect((await invoke('f3d', 'fellback')).status).toBe(200);
    await settle();
    expect(linesFor('fellback').map((l) => [l.attempt, l.model])).toEqual([[1, 'fake/text+status-500-always']]);
  });

  test('a slow first byte times out and is retried; a merely slowish one is fine', async () => {
    await feature('slow', 'fake/text+slow-1500');
    const res = await invoke('f4', 'slow');
    expect(res.status).toBe(504);
    expect(res.body.error.code).toBe('upstream_timeout');
    expect((await lastRequests('text+slow-1500')).length).toBe(3);
    expect(await balance('f4')).toBe(100);
    await feature('slowish', 'fake/text+slow-100');
    expect((await invoke('f4', 'slowish')).status).toBe(200);
  });

  test.each([['cut'], ['malformed']])('a stream that breaks midway (%s) ends with an error event and charges what was produced', async (how) => {
    await feature(`stream_${how}`, `fake/text+${how}`);
    const res = await stream(`f5_${how}`, `stream_${how}`);
    expect(res.status).toBe(200);
    const last = res.events[res.events.length - 1];
    expect(last.type).toBe('error');
    expect(last.data.error.code).toBe('upstream_error');
    expect(res.events.filter((e) => e.type === 'delta').length).toBeGreaterThan(0);
    expect(await balance(`f5_${how}`)).toBe(95);
    expect((await expectLedgerSound(server, project.sk)).openHolds).toBe(0);
  });

  test('output that breaks the schema gets one repair; if that fails too, 502 and no credits', async () => {
    await feature('repaired', 'fake/bad-json-once', { responseFormat: SCHEMA });
    const fixed = await invoke('f6', 'repaired');
    expect(fixed.status).toBe(200);
    expect(fixed.body.parsed.priority).toBe('high');
    const sent = await lastRequests('bad-json-once');
    expect(sent.length).toBe(2);
    expect(sent[1].body.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    await feature('hopeless', 'fake/bad-json', { responseFormat: SCHEMA });
    const before = await balance('f6');
    const res = await invoke('f6', 'hopeless');
    expect(res.status).toBe(502);
    expect(res.body.error.message).toMatch(/response format/);
    expect((await lastRequests('bad-json')).length).toBe(2);
    expect(await balance('f6')).toBe(before);
    expect((await expectLedgerSound(server, project.sk)).openHolds).toBe(0);
  });

  test('an answer without usage is charged its reservation', async () => {
    await feature('nousage', 'fake/text+no-usage', { price: { type: 'tokens', markupBasisPoints: 10000, microsPerCredit: 10 }, maxTokens: 10 });
    const res = await invoke('f7', 'nousage');
    expect(res.status).toBe(200);
    expect(res.body.usage.reported).toBe(false);
    expect(res.body.cost.micros).toBeGreaterThan(20);  // the worst case, not the tokens used
    expect(await balance('f7')).toBe(100 - res.body.cost.credits);
  });

  test('a client that leaves mid-stream stops the provider and is charged, never left on hold', async () => {
    await feature('long', 'fake/drip-60-50');
    const controller = new AbortController();
    const res = await fetch(`${server.url}/v1/runtime/invoke`, {
      method: 'POST',
      signal: controller.signal,
      headers: { authorization: `Bearer ${await token('f8', ['long'])}`, 'content-type': 'application/json' },
      body: JSON.stringify({ operation: 'long', input: { ticket: 'x' }, stream: true }),
    });
    const reader = res.body.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toMatch(/event: delta/);
    controller.abort();
    // The provider sees its client go within a few of its 50 ms pieces, not after all 60.
    let closed = [];
    for (let i = 0; i < 40 && !closed.includes('drip-60-50'); i += 1) {
      await new Promise((r) => setTimeout(r, 50));
      closed = (await fake.requests()).closedEarly;
    }
    expect(closed).toContain('drip-60-50');
    let audit;
    for (let i = 0; i < 40; i += 1) {
      audit = await expectLedgerSound(server, project.sk);
      if (audit.openHolds === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(audit.openHolds).toBe(0);
    expect(await balance('f8')).toBe(95);
  });

  test('a token-priced call the client leaves is charged an estimate of what was produced, not its reservation', async () => {
    await feature('long_tokens', 'fake/drip-60-50', { maxTokens: 2000, price: { type: 'tokens', markupBasisPoints: 10000, microsPerCredit: 50 } });
    const controller = new AbortController();
    const res = await fetch(`${server.url}/v1/runtime/invoke`, {
      method: 'POST',
      signal: controller.signal,
      headers: { authorization: `Bearer ${await token('f10', ['long_tokens'])}`, 'content-type': 'application/json' },
      body: JSON.stringify({ operation: 'long_tokens', input: { ticket: 'x' }, stream: true }),
    });
    await res.body.getReader().read();
    controller.abort();
    let entries = [];
    for (let i = 0; i < 40 && !entries.some((e) => e.kind === 'settle'); i += 1) {
      await new Promise((r) => setTimeout(r, 50));
      entries = (await call(server, 'GET', '/v1/ledger?userId=f10', { key: project.sk })).body.data;
    }
    const reserved = -entries.find((e) => e.kind === 'hold').amount;
    const returned = entries.find((e) => e.kind === 'settle').amount;
    const charged = reserved - returned;
    expect(reserved).toBeGreaterThan(80);  // 2,000 output tokens at $2 per million, 50 micros a credit
    expect(charged).toBeGreaterThanOrEqual(1);
    expect(charged).toBeLessThan(reserved / 10);
  });
});

describe('redirects and pooled connections', () => {
  test.each([[302], [307]])('a %i redirect is not followed: 502, not retried, and nothing reaches where it points', async (code) => {
    await feature(`redirect_${code}`, `fake/text+redirect-${code}`);
    const res = await invoke(`r${code}`, `redirect_${code}`);
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe('upstream_error');
    expect(res.body.error.message).toMatch(new RegExp(`redirect \\(HTTP ${code}\\), which is not followed`));
    expect(JSON.stringify(res.body)).not.toContain('_redirected');
    const seenByFake = await fake.requests();
    expect(seenByFake.redirected).toEqual([]);
    expect(seenByFake.requests.filter((r) => r.body.model === `text+redirect-${code}`)).toHaveLength(1);
    expect(await balance(`r${code}`)).toBe(100);
    expect((await expectLedgerSound(server, project.sk)).openHolds).toBe(0);
  });

  // Pooled connections move between exchanges: every completion of an exchange must run on its
  // own strand, whoever opened the connection (a ThreadSanitizer build of the server checks it).
  test('many concurrent calls, streamed, whole and abandoned, share pooled connections', async () => {
    await feature('pooled', 'fake/text');
    await feature('pooled_anthropic', 'anthropic/text');
    await feature('pooled_drip', 'fake/drip-20-10');
    await fake.reset();
    const ROUNDS = 8;
    const PER_ROUND = 16;
    const abandon = async (user) => {
      const controller = new AbortController();
      const res = await fetch(`${server.url}/v1/runtime/invoke`, {
        method: 'POST',
        signal: controller.signal,
        headers: { authorization: `Bearer ${await token(user, ['pooled_drip'])}`, 'content-type': 'application/json' },
        body: JSON.stringify({ operation: 'pooled_drip', input: { ticket: 'x' }, stream: true }),
      });
      await res.body.getReader().read();
      controller.abort();
      return 'abandoned';
    };
    let calls = 0;
    for (let round = 0; round < ROUNDS; round += 1) {
      const results = await Promise.all(Array.from({ length: PER_ROUND }, async (_, i) => {
        const user = `pool_${round}_${i}`;
        calls += 1;
        if (i % 4 === 3) return abandon(user);
        const op = i % 2 === 0 ? 'pooled' : 'pooled_anthropic';
        if (i % 4 < 2) {
          const res = await invoke(user, op);
          return res.status === 200 && /^Hello from the fake provider/.test(res.body.output) ? 'ok' : JSON.stringify(res.body);
        }
        const streamed = await stream(user, op);
        const last = streamed.events[streamed.events.length - 1];
        return streamed.status === 200 && last.type === 'done' ? 'ok' : JSON.stringify(last);
      }));
      expect(results.filter((r) => r !== 'ok' && r !== 'abandoned')).toEqual([]);
    }
    const seenByFake = await fake.requests();
    expect(seenByFake.requests).toHaveLength(calls);
    // Reuse happened: far fewer connections than calls.
    expect(seenByFake.connections).toBeGreaterThan(0);
    expect(seenByFake.connections).toBeLessThan(calls);
    let audit;
    for (let i = 0; i < 40; i += 1) {
      audit = await expectLedgerSound(server, project.sk);
      if (audit.openHolds === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(audit.openHolds).toBe(0);
    expect(await balance('pool_0_0')).toBe(95);
  }, 120_000);
});

test('no end-user answer contains the system prompt or the provider key', () => {
  expect(seen.length).toBeGreaterThan(15);
  for (const text of seen) {
    expect(text).not.toContain('HIDDEN-SYSTEM-PROMPT');
    expect(text).not.toContain(PROVIDER_KEY);
  }
});
