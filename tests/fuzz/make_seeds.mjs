#!/usr/bin/env node
// Writes the seed corpora in tests/fuzz/corpus/<target>/ (committed; rerun when a source below
// changes): the dialects' answers and streams as tests/fixtures/fake-provider.js sends them,
// shapes from the providers' API references that the fake does not send, the shared vectors
// in tests/vectors/, and Stripe webhook deliveries signed as Stripe signs them. It rewrites only the files it names (seed-*, slow-*); crash-* seeds, saved from
// fuzzer runs, are left alone.
//   node tests/fuzz/make_seeds.mjs
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const corpus = join(root, 'tests', 'fuzz', 'corpus');
const vectors = (name) => JSON.parse(readFileSync(join(root, 'tests', 'vectors', `${name}.json`), 'utf8'));
const REQUEST_TIMEOUT_MS = 10_000;

const seeds = new Map(); // target -> Map(name -> Buffer)
// A slow seed (many milliseconds a run) is replayed by run.sh but not fuzzed from.
function seed(target, name, content, options = {}) {
  if (!seeds.has(target)) seeds.set(target, new Map());
  const slug = name.toLowerCase().replace(/[^a-z0-9.]+/g, '-').replace(/^-|-$/g, '');
  const files = seeds.get(target);
  const prefix = options.slow ? 'slow' : 'seed';
  let file = `${prefix}-${slug}`;
  for (let i = 2; files.has(file); i += 1) file = `${prefix}-${slug}-${i}`;
  files.set(file, Buffer.isBuffer(content) ? content : Buffer.from(content, 'utf8'));
}

// --- the fake provider's answers and streams ----------------------------------------------

function startFake() {
  const child = spawn(process.execPath, [join(root, 'tests', 'fixtures', 'fake-provider.js'), '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.stdout.once('data', (line) => resolve({ child, port: JSON.parse(String(line)).port }));
  });
}

// The raw body, as far as it arrived (a `cut` stream ends with the connection).
function post(port, path, body) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => resolve(Buffer.concat(chunks)));
      res.on('error', () => resolve(Buffer.concat(chunks)));
      res.on('aborted', () => resolve(Buffer.concat(chunks)));
    });
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`${path} timed out`)));
    req.on('error', (error) => (chunks.length ? resolve(Buffer.concat(chunks)) : reject(error)));
    req.end(JSON.stringify(body));
  });
}

const TOOL = { name: 'get_order', description: 'Looks up an order', parameters: { type: 'object', properties: { id: { type: 'string' } } } };
const OUTPUT_SCHEMA = { type: 'object', properties: { summary: { type: 'string' }, priority: { enum: ['low', 'high'] } }, required: ['summary', 'priority'] };

async function fakeSeeds() {
  const { child, port } = await startFake();
  try {
    const behaviours = ['text', 'json', 'tools', 'no-usage', 'malformed', 'cut', 'bad-json'];
    for (const stream of [false, true]) {
      for (const model of behaviours) {
        if (!stream && (model === 'malformed' || model === 'cut')) continue;
        const messages = [{ role: 'user', content: 'Summarize: the printer is on fire' }];
        const kind = stream ? 'stream' : 'answer';
        const openai = { model, messages, max_tokens: 256, ...(model === 'tools' ? { tools: [{ type: 'function', function: TOOL }] } : {}) };
        if (stream) Object.assign(openai, { stream: true, stream_options: { include_usage: true } });
        const openaiBody = await post(port, '/v1/chat/completions', openai);
        seed('openai_dialect_fuzz', `${kind}-${model}`, openaiBody);
        if (stream) seed('sse_fuzz', `openai-${model}`, openaiBody);

        const anthropic = { model, messages, max_tokens: 256, ...(stream ? { stream: true } : {}) };
        if (model === 'tools') anthropic.tools = [{ name: TOOL.name, description: TOOL.description, input_schema: TOOL.parameters }];
        const anthropicBody = await post(port, '/v1/messages', anthropic);
        seed('anthropic_dialect_fuzz', `${kind}-${model}`, anthropicBody);
        if (stream) seed('sse_fuzz', `anthropic-${model}`, anthropicBody);
        if (model === 'json') {
          // Structured output travels as the forced tollgate_output tool.
          anthropic.tools = [{ name: 'tollgate_output', description: 'Answer', input_schema: OUTPUT_SCHEMA }];
          anthropic.tool_choice = { type: 'tool', name: 'tollgate_output' };
          seed('anthropic_dialect_fuzz', `${kind}-output-tool`, await post(port, '/v1/messages', anthropic));
        }
      }
    }
  } finally {
    child.kill('SIGTERM');
  }
}

// --- shapes from the providers' API references the fake does not send ---------------------

const sse = (events) => events.map(([type, data]) => `${type ? `event: ${type}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`).join('');

function referenceSeeds() {
  const openai = 'openai_dialect_fuzz';
  // Minimal answers: a short input gives a mutation a better chance of landing in the right place.
  seed(openai, 'answer-minimal-text', JSON.stringify({ choices: [{ message: { content: 'Hi' }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1 } }));
  seed(openai, 'answer-minimal-tool-call', JSON.stringify({ choices: [{ message: { tool_calls: [{ id: 'c', function: { name: 'n', arguments: '{}' } }] } }] }));
  seed(openai, 'stream-minimal-text', sse([[null, { choices: [{ delta: { content: 'Hi' }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1 } }], [null, '[DONE]']]));
  seed(openai, 'stream-minimal-tool-call', sse([[null, { choices: [{ delta: { tool_calls: [{ index: 0, id: 'c', function: { name: 'n', arguments: '{}' } }] } }] }], [null, '[DONE]']]));
  seed(openai, 'answer-two-choices', JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'One' }, finish_reason: 'stop' }, { index: 1, message: { role: 'assistant', content: 'Two' }, finish_reason: 'length' }], usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 } }));
  seed(openai, 'answer-refusal', JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', content: null, refusal: 'I cannot help with that.' }, finish_reason: 'stop' }], usage: { prompt_tokens: 5, completion_tokens: 7 } }));
  seed(openai, 'answer-two-tool-calls', JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [{ id: 'call_a', type: 'function', function: { name: 'get_order', arguments: '{"id":"A-1"}' } }, { id: 'call_b', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] }, finish_reason: 'tool_calls' }] }));
  seed(openai, 'answer-error', JSON.stringify({ error: { message: 'Rate limit reached', type: 'requests', param: null, code: 'rate_limit_exceeded' } }));
  const chunk = (delta, finish = null) => ({ id: 'c', object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }] });
  seed(openai, 'stream-two-tool-calls', sse([
    [null, chunk({ role: 'assistant', content: null, tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_order', arguments: '' } }] })],
    [null, chunk({ tool_calls: [{ index: 0, function: { arguments: '{"id":' } }] })],
    [null, chunk({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'get_weather', arguments: '{"city"' } }] })],
    [null, chunk({ tool_calls: [{ index: 0, function: { arguments: '"A-1"}' } }] })],
    [null, chunk({ tool_calls: [{ index: 1, function: { arguments: ':"Paris"}' } }] })],
    [null, chunk({}, 'tool_calls')],
    [null, { id: 'c', choices: [], usage: { prompt_tokens: 20, completion_tokens: 12, total_tokens: 32 } }],
    [null, '[DONE]'],
  ]));
  seed(openai, 'stream-error-mid-stream', sse([[null, chunk({ content: 'Hel' })], [null, { error: { message: 'The server had an error', type: 'server_error' } }]]));
  seed(openai, 'stream-crlf-comments', ': keep-alive\r\n\r\n' + sse([[null, chunk({ content: 'Hi' })], [null, chunk({}, 'stop')], [null, '[DONE]']]).replaceAll('\n', '\r\n'));

  const anthropic = 'anthropic_dialect_fuzz';
  seed(anthropic, 'answer-minimal-text', JSON.stringify({ content: [{ type: 'text', text: 'Hi' }], stop_reason: 'end_turn', usage: { input_tokens: 1, output_tokens: 1 } }));
  seed(anthropic, 'answer-minimal-tool-use', JSON.stringify({ content: [{ type: 'tool_use', id: 't', name: 'n', input: {} }] }));
  seed(anthropic, 'stream-minimal-text', sse([
    [null, { type: 'content_block_start', index: 0, content_block: { type: 'text' } }],
    [null, { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hi' } }],
    [null, { type: 'message_stop' }],
  ]));
  seed(anthropic, 'stream-minimal-tool-use', sse([
    [null, { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 't', name: 'n' } }],
    [null, { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: '{}' } }],
    [null, { type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 1 } }],
    [null, { type: 'message_stop' }],
  ]));
  seed(anthropic, 'answer-text-and-tool', JSON.stringify({ id: 'msg_1', type: 'message', role: 'assistant', content: [{ type: 'text', text: 'Let me look that up.' }, { type: 'tool_use', id: 'toolu_1', name: 'get_order', input: { id: 'A-1' } }], stop_reason: 'tool_use', usage: { input_tokens: 30, output_tokens: 12 } }));
  seed(anthropic, 'answer-thinking', JSON.stringify({ type: 'message', content: [{ type: 'thinking', thinking: 'Hmm.', signature: 'sig' }, { type: 'text', text: 'Answer.' }], stop_reason: 'end_turn', usage: { input_tokens: 3, output_tokens: 4 } }));
  seed(anthropic, 'answer-error', JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }));
  seed(anthropic, 'stream-ping-thinking-two-tools', sse([
    ['message_start', { type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', content: [], usage: { input_tokens: 25, output_tokens: 1 } } }],
    ['ping', { type: 'ping' }],
    ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '' } }],
    ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'Two lookups.' } }],
    ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'sig' } }],
    ['content_block_stop', { type: 'content_block_stop', index: 0 }],
    ['content_block_start', { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_a', name: 'get_order', input: {} } }],
    ['content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"id": "A' } }],
    ['content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '-1"}' } }],
    ['content_block_stop', { type: 'content_block_stop', index: 1 }],
    ['content_block_start', { type: 'content_block_start', index: 2, content_block: { type: 'tool_use', id: 'toolu_b', name: 'get_weather', input: {} } }],
    ['content_block_delta', { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '' } }],
    ['content_block_stop', { type: 'content_block_stop', index: 2 }],
    ['message_delta', { type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 40 } }],
    ['message_stop', { type: 'message_stop' }],
  ]));
  seed(anthropic, 'stream-error-event', sse([
    ['message_start', { type: 'message_start', message: { usage: { input_tokens: 5, output_tokens: 1 } } }],
    ['error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }],
  ]));
}

// --- the shared vectors --------------------------------------------------------------------

function vectorSeeds() {
  for (const v of vectors('sse').events) seed('sse_fuzz', v.name, v.stream);
  for (const v of vectors('sse').retry) seed('sse_fuzz', v.name, v.stream);
  // Reaching the limits: an event past kSseEventBytesMax, a line past kSseLineBytesMax.
  seed('sse_fuzz', 'amplify-event', `:amplify\ndata: ${'x'.repeat(1500)}\n`, { slow: true });
  seed('sse_fuzz', 'amplify-line', `:amplify\n${'y'.repeat(300)}`);

  // partial_json_fuzz: the first byte picks the split offset, the rest is the document.
  const partial = vectors('partial_json');
  let i = 0;
  for (const section of ['valid', 'invalid', 'partial']) {
    for (const v of partial[section]) {
      seed('partial_json_fuzz', `${section}-${v.name}`, Buffer.concat([Buffer.from([(i * 37) % 256]), Buffer.from(v.text, 'utf8')]));
      i += 1;
    }
  }

  const schema = vectors('json_schema');
  for (const group of schema.groups) {
    for (const test of group.tests) {
      seed('json_schema_fuzz', `${group.name}-${test.valid ? 'valid' : 'invalid'}`, `${JSON.stringify(group.schema)}\n${JSON.stringify(test.data)}`);
    }
  }
  for (const v of schema.invalid_schemas) seed('json_schema_fuzz', `invalid-schema-${v.name}`, `${JSON.stringify(v.schema)}\n{}`);
  seed('json_schema_fuzz', 'output-schema', `${JSON.stringify(OUTPUT_SCHEMA)}\n${JSON.stringify({ summary: 'The printer is on fire', priority: 'high' })}`);

  const tokens = vectors('token');
  for (const section of ['encode', 'verify', 'decode_invalid', 'scope']) {
    for (const v of tokens[section]) seed('runtime_token_fuzz', `token-${section}-${v.name}`, v.token);
  }
  for (const section of ['encode', 'encode_invalid']) {
    for (const v of tokens[section]) {
      const c = v.claims;
      seed('runtime_token_fuzz', `claims-${section}-${v.name}`, [c.keyId, c.sessionId, c.projectId, c.endUserId, c.operations.join(','), c.issuedAtMs, c.expiresAtMs].join('\n'));
    }
  }

  const template = vectors('template');
  for (const v of template.render) seed('template_fuzz', v.name, v.template);
  for (const v of template.parse_invalid) seed('template_fuzz', v.name, v.template);
  for (const v of template.escape) seed('template_fuzz', `escaped-${v.text}`, v.escaped);
}

// tool_calls_fuzz: `index<TAB>id<TAB>name<TAB>arguments fragment` per line.
function toolCallSeeds() {
  const t = 'tool_calls_fuzz';
  seed(t, 'openai-fake-provider', '0\tcall_fake_1\tget_order\t{"id"\n0\t\t\t:"A-1"}');
  seed(t, 'anthropic-fake-provider', '0\ttoolu_fake_1\tget_order\t\n0\t\t\t{"id"\n0\t\t\t:"A-\n0\t\t\t1"}');
  seed(t, 'two-calls-interleaved', '0\tcall_a\tget_order\t{"id":\n1\tcall_b\tget_weather\t{"city"\n0\t\t\t"A-1"}\n1\t\t\t:"Paris", "units": ["c", 1.5e3, null, true]}');
  seed(t, 'empty-arguments', '0\tcall_a\tping\t');
  seed(t, 'arguments-not-an-object', '0\tcall_a\tget_order\t["A-1"]');
  seed(t, 'id-changes', '0\tcall_a\tget_order\t{}\n0\tcall_b\t\t');
  seed(t, 'index-out-of-range', '64\tcall_a\tget_order\t{}');
  seed(t, 'no-name', '3\tcall_a\t\t{"x": "\\u00e9\\ud83d\\ude00"}');
}

// --- Stripe webhook deliveries ----------------------------------------------------------

// stripe_event_fuzz: `header\nsecret\nnow\npayload`, each payload an event in the shape of
// Stripe's API reference, pretty-printed as Stripe sends it, signed as Stripe signs it.
function stripeSeeds() {
  const t = 'stripe_event_fuzz';
  const secret = 'whsec_3f1b9c2e7d4a8f6b0c5e9d1a7b3f2c8e';
  const now = 1764806400; // 2025-12-04T00:00:00Z
  const sign = (payload, key, at) => createHmac('sha256', key).update(`${at}.${payload}`).digest('hex');
  const delivery = (name, type, object, options = {}) => {
    const at = options.at ?? now;
    const event = { id: `evt_1Qfz${name.replace(/[^a-z0-9]/gi, '').slice(0, 18)}`, object: 'event', api_version: options.apiVersion ?? '2025-11-17.clover',
      created: at, data: { object }, livemode: false, pending_webhooks: 1, request: { id: null, idempotency_key: null }, type };
    const payload = JSON.stringify(event, null, 2);
    const items = [`t=${at}`, `v1=${sign(payload, secret, at)}`, ...(options.extra ?? []).map((key) => `v1=${sign(payload, key, at)}`)];
    if (options.v0) items.push(`v0=${sign(payload, 'whsec_test_mode_v0', at)}`);
    seed(t, name, `${items.join(',')}\n${secret}\n${options.now ?? now}\n${payload}`);
  };
  const metadata = { tollgate_project: 'prj_demo', tollgate_user: 'alice', tollgate_product: 'pro', tollgate_plan: 'pro' };

  delivery('checkout.session.completed-pack', 'checkout.session.completed', {
    id: 'cs_test_a1B2c3D4e5F6', object: 'checkout.session', amount_subtotal: 500, amount_total: 500, client_reference_id: 'alice',
    currency: 'usd', customer: 'cus_RfA1b2C3d4E5', customer_details: { email: 'alice@example.com', name: null }, expires_at: now + 86400,
    invoice: null, livemode: false, metadata: { tollgate_project: 'prj_demo', tollgate_user: 'alice', tollgate_product: 'pack_500' },
    mode: 'payment', payment_intent: 'pi_3Qfz1a2B3c4D5e6F', payment_status: 'paid', status: 'complete', subscription: null,
    success_url: 'https://shop.example.com/thanks?session_id={CHECKOUT_SESSION_ID}', url: null,
  }, { v0: true });
  delivery('checkout.session.completed-plan-expanded', 'checkout.session.completed', {
    id: 'cs_test_b7C8d9E0f1G2', object: 'checkout.session', amount_total: 2000, currency: 'usd',
    customer: { id: 'cus_RfA1b2C3d4E5', object: 'customer', email: 'alice@example.com' },
    invoice: { id: 'in_1Qfz7h8I9j0K', object: 'invoice', status: 'paid' }, metadata, mode: 'subscription', payment_intent: null,
    payment_status: 'paid', status: 'complete', subscription: 'sub_1Qfz2b3C4d5E6f',
  });
  const item = (lookup, end) => ({ id: 'si_RfB2c3D4e5F6', object: 'subscription_item', current_period_start: end - 2592000, current_period_end: end,
    price: { id: 'price_1Qfz9z8Y7x6W', object: 'price', currency: 'usd', lookup_key: lookup, metadata: {}, recurring: { interval: 'month', interval_count: 1 },
      type: 'recurring', unit_amount: 2000 }, quantity: 1, subscription: 'sub_1Qfz2b3C4d5E6f' });
  delivery('customer.subscription.updated', 'customer.subscription.updated', {
    id: 'sub_1Qfz2b3C4d5E6f', object: 'subscription', cancel_at_period_end: true, canceled_at: null, created: now - 86400,
    customer: 'cus_RfA1b2C3d4E5', items: { object: 'list', data: [item('tollgate:pro', now + 2505600)], has_more: false, total_count: 1 },
    metadata, status: 'active',
  }, { at: now - 120 });
  delivery('customer.subscription.deleted-legacy', 'customer.subscription.deleted', {
    id: 'sub_1Qfz2b3C4d5E6f', object: 'subscription', cancel_at_period_end: false, current_period_end: now, customer: 'cus_RfA1b2C3d4E5',
    items: { object: 'list', data: [{ ...item(null, now), current_period_end: undefined, price: { id: 'price_1Qfz9z8Y7x6W', metadata: { tollgate_plan: 'pro' } } }] },
    metadata: {}, status: 'canceled',
  }, { apiVersion: '2024-06-20' });
  const invoice = { id: 'in_1Qfz7h8I9j0K', object: 'invoice', amount_due: 2000, amount_paid: 2000, billing_reason: 'subscription_cycle',
    currency: 'usd', customer: 'cus_RfA1b2C3d4E5', lines: { object: 'list', data: [{ id: 'il_1Qfz', object: 'line_item', amount: 2000,
      period: { start: now, end: now + 2592000 } }] }, status: 'paid' };
  delivery('invoice.paid-2025', 'invoice.paid', {
    ...invoice, parent: { quote_details: null, subscription_details: { metadata, subscription: 'sub_1Qfz2b3C4d5E6f' }, type: 'subscription_details' },
  }, { extra: ['whsec_rotated_out_old_secret_0000'] });
  delivery('invoice.paid-pre-2025', 'invoice.paid', {
    ...invoice, subscription: 'sub_1Qfz2b3C4d5E6f', subscription_details: { metadata },
  }, { apiVersion: '2024-06-20' });
  delivery('invoice.payment_failed-expanded', 'invoice.payment_failed', {
    ...invoice, amount_paid: 0, status: 'open', parent: { subscription_details: { metadata: null, subscription: { id: 'sub_1Qfz2b3C4d5E6f', object: 'subscription' } } },
  });
  delivery('charge.refunded-expired-signature', 'charge.refunded', {
    id: 'ch_3Qfz1a2B3c4D5e6F', object: 'charge', amount: 500, amount_refunded: 250, currency: 'usd', payment_intent: 'pi_3Qfz1a2B3c4D5e6F', refunded: false,
  }, { at: now - 3600 });
  seed(t, 'signature-minimal', `t=0,v1=${sign('{}', 'whsec_x', 0)}\nwhsec_x\n0\n{}`);
}

await fakeSeeds();
referenceSeeds();
vectorSeeds();
toolCallSeeds();
stripeSeeds();
for (const [target, files] of seeds) {
  const dir = join(corpus, target);
  mkdirSync(dir, { recursive: true });
  for (const old of readdirSync(dir)) if (old.startsWith('seed-') || old.startsWith('slow-')) rmSync(join(dir, old));
  for (const [file, content] of files) writeFileSync(join(dir, file), content);
  console.log(`${target}: ${files.size} seeds`);
}
