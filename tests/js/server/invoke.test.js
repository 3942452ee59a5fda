// Running AI features on a real tollgate process with the demo provider: reserve, run, settle;
// streaming; every refusal before money moves; token attacks; limits; and no prompt in any
// answer an end user can receive.
const fs = require('node:fs');
const { startServer, tempDir } = require('../helpers/server');
const { ADMIN_TOKEN, call, createProject, expectLedgerSound } = require('../helpers/api');
const { sdk } = require('../helpers/sdk');
const { tollgateForFaketime } = require('../helpers/paths');

const SYSTEM_PROMPT = 'HIDDEN-SYSTEM-PROMPT-7f3a: you are the support lead of Acme';
const TEMPLATE_TEXT = 'HIDDEN-TEMPLATE-91c2';
const SUMMARY_SCHEMA = {
  type: 'object',
  properties: { summary: { type: 'string', minLength: 10 }, priority: { enum: ['low', 'high'] } },
  required: ['summary', 'priority'],
  additionalProperties: false,
};

let server;
let dataDir;
let project;
let core;
// Every body an end user could see, to search for the hidden prompt at the end.
const seen = [];

async function define(body, key = project.sk) {
  const res = await call(server, 'POST', '/v1/operations', { key, body: { model: 'demo/echo', ...body } });
  expect(res.status).toBe(200);
  return res.body;
}

async function mint(endUserId, operationIds, { key = project.sk, ttlMinutes } = {}) {
  const res = await call(server, 'POST', '/v1/runtime/sessions', {
    key, body: { endUserId, operationIds, ...(ttlMinutes ? { ttlMinutes } : {}) },
  });
  expect(res.status).toBe(200);
  return res.body.token;
}

async function invoke(token, body, headers = {}) {
  const res = await call(server, 'POST', '/v1/runtime/invoke', { key: token, body, headers });
  seen.push(typeof res.body === 'string' ? res.body : JSON.stringify(res.body));
  return res;
}

/** A streamed invoke: the status, the content type and the parsed events. */
async function invokeStream(token, body) {
  const res = await fetch(`${server.url}/v1/runtime/invoke`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, stream: true }),
  });
  const text = await res.text();
  seen.push(text);
  if (!res.headers.get('content-type').startsWith('text/event-stream')) {
    return { status: res.status, type: res.headers.get('content-type'), body: JSON.parse(text), events: [] };
  }
  const parser = core.stream.sse();
  try {
    const events = parser.feed(text).map((e) => ({ type: e.type, data: JSON.parse(e.data) }));
    return { status: res.status, type: res.headers.get('content-type'), events };
  } finally {
    parser.dispose();
  }
}

const account = async (userId) => (await call(server, 'GET', `/v1/accounts/${userId}`, { key: project.sk })).body;

beforeAll(async () => {
  core = await sdk.loadCore();
  // A data dir of our own, kept across the restarts below.
  dataDir = tempDir();
  server = await startServer({ dataDir, env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN } });
  project = await createProject(server, { startingCredits: 100 });
  await define({
    slug: 'summarize',
    systemPrompt: SYSTEM_PROMPT,
    userTemplate: `${TEMPLATE_TEXT} Ticket:\n{{ticket}}`,
    responseFormat: SUMMARY_SCHEMA,
    price: { type: 'fixed', credits: 3 },
  });
  await define({ slug: 'chat', systemPrompt: SYSTEM_PROMPT, userTemplate: '{{question}}', maxTokens: 300, price: { type: 'tokens', markupBasisPoints: 20000, microsPerCredit: 100 } });
});

afterAll(async () => {
  await server.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('a call', () => {
  test('reserves, runs the feature, settles its price and says what is left', async () => {
    const token = await mint('alice', ['summarize']);
    const res = await invoke(token, { operation: 'summarize', input: { ticket: 'The printer is on fire' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ object: 'invocation', operation: 'summarize', model: 'demo/echo', demo: true, finishReason: 'stop' });
    expect(res.body.id).toMatch(/^hold_/);
    expect(JSON.parse(res.body.output)).toEqual(res.body.parsed);
    expect(res.body.parsed.priority).toBe('low');
    expect(res.body.parsed.summary.length).toBeGreaterThanOrEqual(10);
    expect(res.body.usage.inputTokens).toBeGreaterThan(0);
    expect(res.body.usage.outputTokens).toBeGreaterThan(0);
    expect(res.body.cost.credits).toBe(3);
    expect(res.body.cost.micros).toBeGreaterThan(0);
    expect(res.body.remaining).toBe(97);
    const after = await account('alice');
    expect(after.balance).toBe(97);
    expect(after.heldMicros).toBe(0);
    const audit = await expectLedgerSound(server, project.sk);
    expect(audit.openHolds).toBe(0);
  });

  test('a token-priced feature charges the provider cost times the markup, in credits', async () => {
    const token = await mint('tina', ['chat']);
    const res = await invoke(token, { operation: 'chat', input: { question: 'How do refunds work?' } });
    expect(res.status).toBe(200);
    // demo/*: $1 per million input tokens, $2 per million output tokens.
    const micros = Math.ceil((res.body.usage.inputTokens * 1_000_000 + res.body.usage.outputTokens * 2_000_000) / 1_000_000);
    expect(res.body.cost.micros).toBe(micros);
    expect(res.body.cost.credits).toBe(Math.ceil((micros * 2) / 100));
    expect(res.body.remaining).toBe(100 - res.body.cost.credits);
    expect(res.body.output).toMatch(/demo/);
    expect(res.body.parsed).toBeUndefined();
  });

  test('streams deltas, partial objects and a final done event', async () => {
    const token = await mint('sam', ['summarize']);
    const res = await invokeStream(token, { operation: 'summarize', input: { ticket: 'Cannot log in' } });
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^text\/event-stream/);
    const types = res.events.map((e) => e.type);
    expect(types[types.length - 1]).toBe('done');
    const deltas = res.events.filter((e) => e.type === 'delta').map((e) => e.data.text);
    expect(deltas.length).toBeGreaterThan(1);
    const done = res.events[res.events.length - 1].data;
    expect(deltas.join('')).toBe(done.output);
    expect(done.parsed).toEqual(JSON.parse(done.output));
    expect(done.remaining).toBe(97);
    // Partial objects grow towards the final one.
    const partials = res.events.filter((e) => e.type === 'partial').map((e) => e.data.parsed);
    expect(partials.length).toBeGreaterThan(0);
    expect(Object.keys(partials[0]).length).toBeLessThanOrEqual(Object.keys(done.parsed).length);
    expect(partials[partials.length - 1]).toEqual(done.parsed);
    expect((await account('sam')).balance).toBe(97);
  });

  test('a refused streamed call answers with a plain JSON error, not a stream', async () => {
    const token = await mint('sam', ['summarize']);
    const res = await invokeStream(token, { operation: 'summarize', input: {} });
    expect(res.status).toBe(400);
    expect(res.type).toMatch(/^application\/json/);
    expect(res.body.error.param).toBe('input.ticket');
  });

  test('tools come back as toolCalls with arguments matching their parameters', async () => {
    await define({
      slug: 'lookup',
      systemPrompt: SYSTEM_PROMPT,
      userTemplate: 'Find order {{order}}',
      tools: [{ name: 'get_order', description: 'Looks an order up', parameters: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] } }],
    });
    const token = await mint('tom', ['lookup']);
    const res = await invoke(token, { operation: 'lookup', input: { order: 'A-1' } });
    expect(res.status).toBe(200);
    expect(res.body.finishReason).toBe('tool_calls');
    expect(res.body.toolCalls).toEqual([{ id: 'call_demo_1', name: 'get_order', arguments: '{"id":"demo"}' }]);
    const streamed = await invokeStream(token, { operation: 'lookup', input: { order: 'A-1' } });
    const calls = streamed.events.filter((e) => e.type === 'tool_call').map((e) => e.data);
    expect(calls[0]).toMatchObject({ index: 0, id: 'call_demo_1', name: 'get_order' });
    expect(calls.map((c) => c.argumentsDelta).join('')).toBe('{"id":"demo"}');
  });

  test('a tool result goes back in a follow-up with the sealed continuation', async () => {
    const token = await mint('tom', ['lookup']);
    const first = await invoke(token, { operation: 'lookup', input: { order: 'A-1' } });
    expect(first.body.toolSteps).toEqual({ used: 1, max: 8 });
    expect(first.body.continuation).toMatch(/^tgsb1\./);
    const follow = await invoke(token, {
      operation: 'lookup', continuation: first.body.continuation, toolResults: [{ id: 'call_demo_1', output: '{"status":"shipped"}' }],
    });
    expect(follow.status).toBe(200);
    expect(follow.body.finishReason).toBe('stop');
    expect(follow.body.output).toMatch(/demo/);
    expect(follow.body.toolCalls).toBeUndefined();
    expect(follow.body.usage.inputTokens).toBeGreaterThan(first.body.usage.inputTokens);
    // Each step is a charged call of its own.
    expect(follow.body.remaining).toBe(first.body.remaining - 1);
  });

  describe('a bad follow-up is refused by name, with nothing charged', () => {
    let token;
    let continuation;
    beforeAll(async () => {
      token = await mint('tom2', ['lookup']);
      continuation = (await invoke(token, { operation: 'lookup', input: { order: 'A-1' } })).body.continuation;
    });
    const result = [{ id: 'call_demo_1', output: 'ok' }];
    test.each([
      ['no tool results', () => ({ continuation }), 'toolResults'],
      ['an unknown call id', () => ({ continuation, toolResults: [{ id: 'call_x', output: 'ok' }] }), 'toolResults[0].id'],
      ['the same id twice', () => ({ continuation, toolResults: [...result, ...result] }), 'toolResults[1].id'],
      ['a result that is not a string', () => ({ continuation, toolResults: [{ id: 'call_demo_1', output: { a: 1 } }] }), 'toolResults[0]'],
      ['input beside a continuation', () => ({ continuation, toolResults: result, input: { order: 'B' } }), 'input'],
      ['tool results without a continuation', () => ({ input: { order: 'B' }, toolResults: result }), 'toolResults'],
      ['an altered continuation', () => ({ continuation: `${continuation.slice(0, -4)}AAAA`, toolResults: result }), 'continuation'],
      ['not a string', () => ({ continuation: 7, toolResults: result }), 'continuation'],
    ])('%s', async (_name, body, param) => {
      const before = await account('tom2');
      const res = await invoke(token, { operation: 'lookup', ...body() });
      expect(res.status).toBe(400);
      expect(res.body.error.param).toBe(param);
      expect((await account('tom2')).balance).toBe(before.balance);
    });

    test('another session\'s continuation', async () => {
      const other = await mint('tom2', ['lookup']);
      const res = await invoke(other, { operation: 'lookup', continuation, toolResults: result });
      expect(res.status).toBe(400);
      expect(res.body.error.param).toBe('continuation');
    });
  });

  test('usage reports the end user\'s calls, tokens, spend and balance this month', async () => {
    const token = await mint('ursula', ['summarize', 'chat']);
    await invoke(token, { operation: 'summarize', input: { ticket: 'one' } });
    await invoke(token, { operation: 'summarize', input: { ticket: 'two' } });
    const chat = await invoke(token, { operation: 'chat', input: { question: 'three' } });
    const res = await call(server, 'GET', '/v1/runtime/usage', { key: token });
    seen.push(JSON.stringify(res.body));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ object: 'runtime_usage', endUserId: 'ursula', remaining: 100 - 6 - chat.body.cost.credits });
    expect(res.body.total.calls).toBe(3);
    expect(res.body.total.credits).toBe(6 + chat.body.cost.credits);
    const summarize = res.body.features.find((f) => f.operation === 'summarize');
    expect(summarize).toMatchObject({ calls: 2, credits: 6 });
    expect(summarize.inputTokens).toBeGreaterThan(0);
    // The owner sees the same calls in analytics, by feature and by end user.
    const analytics = await call(server, 'GET', '/v1/analytics', { key: project.sk });
    const byUser = analytics.body.topEndUsers.find((u) => u.endUserId === 'ursula');
    expect(byUser).toMatchObject({ calls: 3, credits: 6 + chat.body.cost.credits });
    expect(analytics.body.topFeatures.find((f) => f.operation === 'summarize').calls).toBeGreaterThanOrEqual(2);
  });
});

describe('refused before anything runs, with nothing written', () => {
  let token;
  beforeAll(async () => {
    token = await mint('bob', ['summarize']);
  });

  const cases = [
    ['no operation', { input: { ticket: 'x' } }, 400, 'operation'],
    ['an unknown field', { operation: 'summarize', input: { ticket: 'x' }, temprature: 1 }, 400, 'temprature'],
    ['input not an object', { operation: 'summarize', input: 'x' }, 400, 'input'],
    ['a missing variable', { operation: 'summarize', input: {} }, 400, 'input.ticket'],
    ['an unknown variable', { operation: 'summarize', input: { ticket: 'x', extra: 'y' } }, 400, 'input.extra'],
    ['a variable that is an object', { operation: 'summarize', input: { ticket: { a: 1 } } }, 400, 'input.ticket'],
    ['a control character', { operation: 'summarize', input: { ticket: 'a\u0001b' } }, 400, 'input.ticket'],
    ['a variable over 64 KiB', { operation: 'summarize', input: { ticket: 'x'.repeat(65537) } }, 400, 'input.ticket'],
    ['stream not a boolean', { operation: 'summarize', input: { ticket: 'x' }, stream: 'yes' }, 400, 'stream'],
    ['a feature outside the token', { operation: 'chat', input: { question: 'x' } }, 403, 'operation'],
  ];
  test.each(cases)('%s', async (_name, body, status, param) => {
    const before = await account('bob');
    const res = await invoke(token, body);
    expect(res.status).toBe(status);
    expect(res.body.error.param).toBe(param);
    expect(res.body.error.message.length).toBeGreaterThan(10);
    expect((await account('bob')).balance).toBe(before.balance);
  });

  test('a paused feature', async () => {
    await define({ slug: 'paused_one', userTemplate: 'hi', status: 'paused' });
    const paused = await mint('bob', ['paused_one']);
    const res = await invoke(paused, { operation: 'paused_one' });
    expect(res.status).toBe(403);
    expect(res.body.error.message).toMatch(/paused/);
  });

  test('a change to the feature applies to the very next call', async () => {
    await define({ slug: 'toggle', userTemplate: 'hi' });
    const toggle = await mint('tog', ['toggle']);
    expect((await invoke(toggle, { operation: 'toggle' })).status).toBe(200);
    await call(server, 'PATCH', '/v1/operations/toggle', { key: project.sk, body: { status: 'paused' } });
    expect((await invoke(toggle, { operation: 'toggle' })).status).toBe(403);
    await call(server, 'PATCH', '/v1/operations/toggle', { key: project.sk, body: { status: 'active', userTemplate: 'hi {{name}}' } });
    const res = await invoke(toggle, { operation: 'toggle', input: {} });
    expect(res.status).toBe(400);
    expect(res.body.error.param).toBe('input.name');
  });

  test('a deleted feature', async () => {
    await define({ slug: 'gone', userTemplate: 'hi' });
    const gone = await mint('bob', ['gone']);
    await call(server, 'DELETE', '/v1/operations/gone', { key: project.sk });
    const res = await invoke(gone, { operation: 'gone' });
    expect(res.status).toBe(404);
  });

  test('too few credits: 402 with what is left and what the call needs; nothing held', async () => {
    await define({ slug: 'pricey', userTemplate: 'hi', price: { type: 'fixed', credits: 150 } });
    const pricey = await mint('bob', ['pricey']);
    const res = await invoke(pricey, { operation: 'pricey' });
    expect(res.status).toBe(402);
    expect(res.body).toMatchObject({ allowed: false, remaining: 100, cost: 150 });
    expect(res.body.error.code).toBe('insufficient_credits');
    const audit = await expectLedgerSound(server, project.sk);
    expect(audit.openHolds).toBe(0);
  });

  test('a per-user daily limit refuses the call past it with 429 naming the limit', async () => {
    await define({ slug: 'limited', userTemplate: 'hi', perUserDailyLimit: 2, monthlyInvocationLimit: 3 });
    const a = await mint('lim_a', ['limited']);
    const b = await mint('lim_b', ['limited']);
    expect((await invoke(a, { operation: 'limited' })).status).toBe(200);
    expect((await invoke(a, { operation: 'limited' })).status).toBe(200);
    const third = await invoke(a, { operation: 'limited' });
    expect(third.status).toBe(429);
    expect(third.body.error.param).toBe('perUserDailyLimit');
    expect((await account('lim_a')).balance).toBe(98);
    expect((await invoke(b, { operation: 'limited' })).status).toBe(200);
    const fourth = await invoke(b, { operation: 'limited' });
    expect(fourth.status).toBe(429);
    expect(fourth.body.error.param).toBe('monthlyInvocationLimit');
  });
});

describe('token attacks are refused', () => {
  let token;
  beforeAll(async () => {
    token = await mint('mallory', ['summarize']);
  });
  const body = { operation: 'summarize', input: { ticket: 'x' } };

  test('no token, or an API key instead of one', async () => {
    expect((await invoke(undefined, body)).status).toBe(401);
    const withKey = await invoke(project.pk, body);
    expect(withKey.status).toBe(401);
    expect(withKey.body.error.message).toMatch(/runtime token/);
  });

  test('a tampered payload', async () => {
    const [payload, signature] = token.slice('tg_rt_'.length).split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    for (const change of [{ sub: 'alice' }, { ops: ['summarize', 'chat'] }, { exp: claims.exp + 3_600_000 }, { pid: 'proj_other' }]) {
      const forged = Buffer.from(JSON.stringify({ ...claims, ...change })).toString('base64url');
      const res = await invoke(`tg_rt_${forged}.${signature}`, body);
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('token_signature_invalid');
    }
  });

  test('a tampered signature', async () => {
    // Inside the signature: its last character's low bits must stay zero in canonical
    // base64url, so changing that one can read as malformed instead.
    const at = token.length - 10;
    const changed = token[at] === 'A' ? 'B' : 'A';
    const res = await invoke(token.slice(0, at) + changed + token.slice(at + 1), body);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('token_signature_invalid');
  });

  test('an alg claim, another version or an unknown key id', async () => {
    const [payload, signature] = token.slice('tg_rt_'.length).split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const variants = [
      { v: 1, alg: 'none', ...claims },
      { ...claims, v: 2 },
      { ...claims, kid: 'rtk_unknown' },
    ];
    for (const variant of variants) {
      const forged = Buffer.from(JSON.stringify(variant)).toString('base64url');
      const res = await invoke(`tg_rt_${forged}.${signature}`, body);
      expect(res.status).toBe(401);
      expect(['token_malformed', 'token_signature_invalid']).toContain(res.body.error.code);
    }
    expect((await invoke('tg_rt_garbage', body)).status).toBe(401);
  });

  test('another project\'s token cannot reach this project\'s features', async () => {
    const other = await createProject(server);
    await call(server, 'POST', '/v1/operations', { key: other.sk, body: { slug: 'other_only', model: 'demo/echo', userTemplate: 'hi' } });
    const otherToken = await mint('mallory', ['other_only'], { key: other.sk });
    // Its token names its own project: this project's feature is outside its scope.
    const res = await invoke(otherToken, body);
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('token_scope_denied');
  });

  test('an origin outside the project\'s or the feature\'s allowedOrigins', async () => {
    const origins = ['https://app.example.com', 'https://admin.example.com'];
    const patched = await call(server, 'PATCH', '/v1/projects/current', { key: project.sk, body: { allowedOrigins: origins } });
    expect(patched.status).toBe(200);
    try {
      await define({ slug: 'web_only', userTemplate: 'hi', allowedOrigins: ['https://app.example.com'] });
      const web = await mint('mallory', ['web_only']);
      // Not one of the project's: refused, and the page may not even read why.
      const bad = await invoke(web, { operation: 'web_only' }, { origin: 'https://evil.example.com' });
      expect([bad.status, bad.body.error.param]).toEqual([403, 'origin']);
      expect(bad.headers.get('access-control-allow-origin')).toBeNull();
      // The project's, but not the feature's: refused, readable by that page.
      const narrower = await invoke(web, { operation: 'web_only' }, { origin: 'https://admin.example.com' });
      expect([narrower.status, narrower.body.error.param]).toEqual([403, 'origin']);
      expect(narrower.body.error.message).toMatch(/web_only/);
      expect(narrower.headers.get('access-control-allow-origin')).toBe('https://admin.example.com');
      const good = await invoke(web, { operation: 'web_only' }, { origin: 'https://app.example.com' });
      expect(good.status).toBe(200);
      expect(good.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    } finally {
      await call(server, 'PATCH', '/v1/projects/current', { key: project.sk, body: { allowedOrigins: [] } });
    }
  });
});

test('a token is accepted one second before it expires and refused one second after', async () => {
  // A second process on the same data dir, its wall clock started at a chosen instant.
  const token = await mint('tick', ['summarize'], { ttlMinutes: 1 });
  const { expiresAtMs } = core.runtimeToken.decode(token);
  const at = async (ms) => {
    const date = new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
    const clocked = await startServer({
      dataDir,
      binary: tollgateForFaketime,
      env: {
        TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN,
        LD_PRELOAD: '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1',
        FAKETIME: `@${date}`,
        FAKETIME_DONT_FAKE_MONOTONIC: '1',
        TZ: 'UTC',
        // Under AddressSanitizer (make test-asan) libfaketime loads first; that is fine here.
        ASAN_OPTIONS: [process.env.ASAN_OPTIONS, 'verify_asan_link_order=0'].filter(Boolean).join(':'),
      },
    });
    try {
      return await call(clocked, 'POST', '/v1/runtime/invoke', { key: token, body: { operation: 'summarize', input: { ticket: 'x' } } });
    } finally {
      await clocked.stop();
    }
  };
  await server.stop();
  try {
    // FAKETIME takes whole seconds: start at least 1 s and at most 2 s before expiry.
    const before = await at(Math.floor((expiresAtMs - 1000) / 1000) * 1000 - 1000);
    expect(before.body).toMatchObject({ object: 'invocation' });
    expect(before.status).toBe(200);
    const after = await at(Math.ceil((expiresAtMs + 1000) / 1000) * 1000);
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('token_expired');
    expect(after.body.error.message).toMatch(/expired/);
  } finally {
    server = await startServer({ dataDir, env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN } });
  }
}, 30_000);

test('50 concurrent streamed calls by one user never spend past the balance', async () => {
  await define({ slug: 'tenner', userTemplate: 'go {{n}}', price: { type: 'fixed', credits: 10 } });
  const token = await mint('crowd', ['tenner']);
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, n) => invokeStream(token, { operation: 'tenner', input: { n } })),
  );
  const ok = results.filter((r) => r.status === 200);
  const refused = results.filter((r) => r.status === 402);
  expect(ok.length).toBe(10);
  expect(refused.length).toBe(40);
  for (const r of ok) expect(r.events[r.events.length - 1].type).toBe('done');
  expect((await account('crowd')).balance).toBe(0);
  const audit = await expectLedgerSound(server, project.sk);
  expect(audit.openHolds).toBe(0);
});

test('no answer an end user received contains the system prompt or the template', () => {
  expect(seen.length).toBeGreaterThan(40);
  for (const text of seen) {
    expect(text).not.toContain('HIDDEN-SYSTEM-PROMPT');
    expect(text).not.toContain(TEMPLATE_TEXT);
  }
});
