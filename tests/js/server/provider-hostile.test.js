// Hostile provider answers: a real tollgate process calls the fake provider process, which puts a
// wrong-typed value into one field of its answer (or of one stream chunk), in both dialects,
// streamed and not. Every such answer must end in a clear, named 502 (or an `error` event once
// a stream started), with the hold closed, nothing hidden leaked and the server still up.
const fs = require('node:fs');
const path = require('node:path');
const { startServer, tempDir } = require('../helpers/server');
const { ADMIN_TOKEN, call, createProject, expectLedgerSound } = require('../helpers/api');
const { startFakeProvider } = require('../helpers/fake-provider');

const SYSTEM_PROMPT = 'HIDDEN-SYSTEM-PROMPT-5d1c: you are the refunds desk of Acme';
const TEMPLATE_TEXT = 'HIDDEN-TEMPLATE-0e77';
const PROVIDER_KEY = 'sk-fake-provider-key-DO-NOT-LEAK-9876';
const PRICE = 5;
const STARTING_CREDITS = 100;
const TOOLS = [{ name: 'get_order', description: 'Looks an order up', parameters: { type: 'object', properties: { id: { type: 'string' } } } }];

// Wrong kinds for a field of each type (the fake's HOSTILE table). "bigexp" (1e999) and "nan"
// make the whole chunk unreadable; "deep" nests past any sane depth.
const WRONG = {
  string: ['number', 'object', 'array'],
  object: ['string', 'array', 'number'],
  array: ['object', 'string'],
  integer: ['string', 'negative', 'float', 'overflow', 'huge', 'bigexp'],
  document: ['string', 'array', 'nan', 'deep'],
};

// Every field each dialect reads, by where it sits: [path, type, needs tool calls].
const FIELDS = {
  openai: {
    whole: [
      ['_', 'document'], ['choices', 'array'], ['choices.0', 'object'], ['choices.0.message', 'object'],
      ['choices.0.message.content', 'string'], ['choices.0.finish_reason', 'string'], ['usage', 'object'],
      ['usage.prompt_tokens', 'integer'], ['usage.completion_tokens', 'integer'],
      ['choices.0.message.tool_calls', 'array', true], ['choices.0.message.tool_calls.0', 'object', true],
      ['choices.0.message.tool_calls.0.id', 'string', true], ['choices.0.message.tool_calls.0.type', 'string', true],
      ['choices.0.message.tool_calls.0.function', 'object', true],
      ['choices.0.message.tool_calls.0.function.name', 'string', true],
      ['choices.0.message.tool_calls.0.function.arguments', 'string', true],
    ],
    stream: [
      ['_', 'document'], ['choices', 'array'], ['choices.0', 'object'], ['choices.0.delta', 'object'],
      ['choices.0.delta.content', 'string'], ['choices.0.finish_reason', 'string'], ['usage', 'object'],
      ['usage.prompt_tokens', 'integer'], ['usage.completion_tokens', 'integer'],
      ['choices.0.delta.tool_calls', 'array', true], ['choices.0.delta.tool_calls.0', 'object', true],
      ['choices.0.delta.tool_calls.0.index', 'integer', true], ['choices.0.delta.tool_calls.0.id', 'string', true],
      ['choices.0.delta.tool_calls.0.type', 'string', true], ['choices.0.delta.tool_calls.0.function', 'object', true],
      ['choices.0.delta.tool_calls.0.function.name', 'string', true],
      ['choices.0.delta.tool_calls.0.function.arguments', 'string', true],
    ],
  },
  anthropic: {
    whole: [
      ['_', 'document'], ['type', 'string'], ['content', 'array'], ['content.0', 'object'], ['content.0.type', 'string'],
      ['content.0.text', 'string'], ['stop_reason', 'string'], ['usage', 'object'],
      ['usage.input_tokens', 'integer'], ['usage.output_tokens', 'integer'],
      ['content.0.id', 'string', true], ['content.0.name', 'string', true], ['content.0.input', 'object', true],
    ],
    stream: [
      ['_', 'document'], ['type', 'string'], ['message_start:message', 'object'], ['message_start:message.usage', 'object'],
      ['message_start:message.usage.input_tokens', 'integer'], ['message_start:message.usage.output_tokens', 'integer'],
      ['content_block_start:index', 'integer'], ['content_block_start:content_block', 'object'],
      ['content_block_start:content_block.type', 'string'], ['content_block_start:content_block.text', 'string'],
      ['content_block_delta:index', 'integer'], ['content_block_delta:delta', 'object'],
      ['content_block_delta:delta.type', 'string'], ['content_block_delta:delta.text', 'string'],
      ['message_delta:delta', 'object'], ['message_delta:delta.stop_reason', 'string'], ['message_delta:usage', 'object'],
      ['message_delta:usage.output_tokens', 'integer'],
      ['content_block_start:content_block.id', 'string', true], ['content_block_start:content_block.name', 'string', true],
      ['content_block_start:content_block.input', 'object', true],
      ['content_block_delta:delta.partial_json', 'string', true],
    ],
  },
};

const PROVIDERS = { openai: 'fake', anthropic: 'anthropic' };

// What the error must say: the field as Tollgate names it ("choices[0].message"), or, for a
// value that breaks the whole document, that it could not be read at all.
function expectedMessage(dialect, stream, target, kind) {
  const where = stream ? (dialect === 'openai' ? 'a stream chunk' : 'a stream event') : 'its body';
  if (kind === 'nan' || kind === 'bigexp') return `${where} is not JSON`;
  if (kind === 'deep') return `${where} nests deeper than`;
  if (target === '_') return `${where} is not a JSON object`;
  const colon = target.indexOf(':');
  const field = `'${target.slice(colon + 1).replace(/\.(\d+)/g, '[$1]')}'`;
  if (!stream) return `malformed answer: ${field}`;
  if (dialect === 'openai') return `in a stream chunk, ${field}`;
  return colon >= 0 ? `in a ${target.slice(0, colon)} event, ${field}` : `in a stream event, ${field}`;
}

const CASES = [];
for (const [dialect, places] of Object.entries(FIELDS)) {
  for (const [place, fields] of Object.entries(places)) {
    for (const [target, type, tools] of fields) {
      for (const kind of WRONG[type]) {
        CASES.push({ dialect, stream: place === 'stream', target, kind, tools: Boolean(tools) });
      }
    }
  }
}

let fake;
let server;
let project;
let pricingDir;
let counter = 0;
const seen = [];

async function feature(model, tools) {
  counter += 1;
  const slug = `hc_${counter}`;
  const res = await call(server, 'POST', '/v1/operations', {
    key: project.sk,
    body: { slug, model, systemPrompt: SYSTEM_PROMPT, userTemplate: `${TEMPLATE_TEXT} {{ticket}}`, price: { type: 'fixed', credits: PRICE }, ...(tools ? { tools: TOOLS } : {}) },
  });
  expect(res.status).toBe(200);
  return slug;
}

async function token(user, slug) {
  const res = await call(server, 'POST', '/v1/runtime/sessions', { key: project.sk, body: { endUserId: user, operationIds: [slug] } });
  expect(res.status).toBe(200);
  return res.body.token;
}

// A minimal SSE reader for the invoke's own events (`event:` then one `data:` line).
function events(text) {
  return text.split('\n\n').filter((block) => block.trim()).map((block) => {
    const type = /^event: (.*)$/m.exec(block)[1];
    return { type, data: JSON.parse(/^data: (.*)$/m.exec(block)[1]) };
  });
}

// Runs one invoke of `model`; {status, body | events, charged} with what the user was charged.
async function invoke(model, { stream, tools }) {
  const slug = await feature(model, tools);
  const user = `user_${counter}`;
  const res = await fetch(`${server.url}/v1/runtime/invoke`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await token(user, slug)}`, 'content-type': 'application/json' },
    body: JSON.stringify({ operation: slug, input: { ticket: 'my parcel never came' }, stream }),
  });
  const text = await res.text();
  seen.push(text);
  const account = await call(server, 'GET', `/v1/accounts/${user}`, { key: project.sk });
  const charged = STARTING_CREDITS - account.body.balance;
  expect(account.body.heldMicros).toBe(0);  // the hold is closed before the answer is sent
  if (!res.headers.get('content-type').startsWith('text/event-stream')) {
    return { status: res.status, body: JSON.parse(text), charged };
  }
  return { status: res.status, events: events(text), charged };
}

async function expectUp() {
  const health = await call(server, 'GET', '/healthz');
  expect(health.status).toBe(200);
  expect(health.body.ok).toBe(true);
  expect(server.proc.exitCode).toBeNull();
}

beforeAll(async () => {
  fake = await startFakeProvider();
  pricingDir = tempDir();
  const pricing = path.join(pricingDir, 'pricing.json');
  fs.writeFileSync(pricing, JSON.stringify({ models: { 'fake/*': { inputPerMillionMicros: 1_000_000, outputPerMillionMicros: 2_000_000 }, 'anthropic/*': { inputPerMillionMicros: 3_000_000, outputPerMillionMicros: 15_000_000 } } }));
  server = await startServer({ env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN, TOLLGATE_PRICING_FILE: pricing } });
  project = await createProject(server, { startingCredits: STARTING_CREDITS });
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

test('the table covers both dialects, streamed and not, with dozens of cases each', () => {
  for (const dialect of ['openai', 'anthropic']) {
    for (const stream of [false, true]) {
      expect(CASES.filter((c) => c.dialect === dialect && c.stream === stream).length).toBeGreaterThan(30);
    }
  }
});

test.each(CASES.map((c) => [`${c.dialect} ${c.stream ? 'stream' : 'whole'} ${c.target} = ${c.kind}`, c]))(
  '%s: a named 502, the hold closed, the server up',
  async (_name, { dialect, stream, target, kind, tools }) => {
    const model = `${PROVIDERS[dialect]}/${tools ? 'tools+' : ''}hostile-${target}-${kind}`;
    const res = await invoke(model, { stream, tools });
    const expected = expectedMessage(dialect, stream, target, kind);
    const error = stream ? res.events[res.events.length - 1].data.error : res.body.error;
    expect(JSON.stringify(error)).not.toContain('hostile');  // the provider's values are not echoed
    if (!stream) {
      expect(res.status).toBe(502);
      expect(res.body.error.code).toBe('upstream_error');
      expect(res.body.error.message).toContain('the provider sent a malformed answer: ');
      expect(res.body.error.message).toContain(expected);
      expect(res.charged).toBe(0);  // nothing reached the caller: the hold is released
    } else {
      // The stream started when the hold was committed, so the error comes as its last event.
      expect(res.status).toBe(200);
      const last = res.events[res.events.length - 1];
      expect(last.type).toBe('error');
      expect(last.data.error.code).toBe('upstream_error');
      expect(last.data.error.message).toContain('the provider sent a malformed answer: ');
      expect(last.data.error.message).toContain(expected);
      expect(res.events.filter((e) => e.type === 'done')).toEqual([]);
      // Charged what was produced: the price once output reached the caller, else nothing.
      const produced = res.events.some((e) => e.type === 'delta' || e.type === 'tool_call');
      expect(res.charged).toBe(produced ? PRICE : 0);
    }
    await expectUp();
  },
);

describe('the numeric tool-call id that crashed the server', () => {
  test.each([
    ['openai', false, 'choices.0.message.tool_calls.0.id'],
    ['openai', true, 'choices.0.delta.tool_calls.0.id'],
    ['anthropic', false, 'content.0.id'],
    ['anthropic', true, 'content_block_start:content_block.id'],
  ])('%s (stream: %s): %s as a number is a 502 that names it', async (dialect, stream, target) => {
    const res = await invoke(`${PROVIDERS[dialect]}/tools+hostile-${target}-number`, { stream, tools: true });
    const message = stream ? res.events[res.events.length - 1].data.error.message : res.body.error.message;
    const field = target.slice(target.indexOf(':') + 1).replace(/\.(\d+)/g, '[$1]');
    expect(message).toContain(`'${field}' must be a string`);
    if (!stream) expect(res.status).toBe(502);
    await expectUp();
  });
});

describe('lenient where the protocols allow it', () => {
  test.each([
    ['openai', false, 'choices.0.message.content', (r) => expect(r.body.output).toBe('')],
    ['openai', false, 'choices.0.finish_reason', (r) => expect(r.body.finishReason).toBe('')],
    ['openai', false, 'usage', (r) => expect(r.body.usage.reported).toBe(false)],
    ['openai', true, 'usage', (r) => expect(r.events.pop().data.usage.reported).toBe(false)],
    ['anthropic', false, 'stop_reason', (r) => expect(r.body.output).toMatch(/^Hello from the fake provider/)],
    ['anthropic', false, 'usage', (r) => expect(r.body.usage.reported).toBe(false)],
    ['anthropic', true, 'message_delta:delta.stop_reason', (r) => expect(r.events.pop().type).toBe('done')],
  ])('%s (stream: %s): %s as null is answered', async (dialect, stream, target, check) => {
    const res = await invoke(`${PROVIDERS[dialect]}/hostile-${target}-null`, { stream, tools: false });
    expect(res.status).toBe(200);
    if (stream) expect(res.events[res.events.length - 1].type).toBe('done');
    check(res);
    expect(res.charged).toBe(PRICE);
    await expectUp();
  });
});

test('nothing hidden leaked, every hold is closed and the ledger balances', async () => {
  expect(seen.length).toBeGreaterThanOrEqual(CASES.length);
  for (const text of seen) {
    expect(text).not.toContain('HIDDEN-SYSTEM-PROMPT');
    expect(text).not.toContain(TEMPLATE_TEXT);
    expect(text).not.toContain(PROVIDER_KEY);
  }
  const audit = await expectLedgerSound(server, project.sk);
  expect(audit.openHolds).toBe(0);
  expect(audit.mismatchedUserIds).toEqual([]);
  await expectUp();
});
