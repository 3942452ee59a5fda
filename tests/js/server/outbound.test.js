// The outbound guard on real tollgate processes: one started as production is (private upstreams
// refused) and one as tests and `make run` are (allowed), both calling the fake provider on
// 127.0.0.1. Whatever stops a call from reaching its provider, the caller gets one message.
const net = require('node:net');
const { startServer } = require('../helpers/server');
const { ADMIN_TOKEN, call, createProject, expectLedgerSound } = require('../helpers/api');
const { startFakeProvider } = require('../helpers/fake-provider');

const PROVIDER = 'acme';
const UNREACHABLE = `the provider '${PROVIDER}': could not be reached`;

let fake;
let strict;
let loose;

async function setUp(server) {
  const project = await createProject(server, { startingCredits: 100 });
  const res = await call(server, 'POST', '/v1/operations', {
    key: project.sk,
    body: { slug: 'ask', model: `${PROVIDER}/text`, systemPrompt: 'Answer.', userTemplate: '{{q}}', price: { type: 'fixed', credits: 5 } },
  });
  expect(res.status).toBe(200);
  return { server, project };
}

const putBaseUrl = ({ server, project }, baseUrl) =>
  call(server, 'PUT', `/v1/providers/${PROVIDER}`, { key: project.sk, body: { apiKey: 'sk-acme-test-key-0123', baseUrl } });

async function invoke({ server, project }, user) {
  const session = await call(server, 'POST', '/v1/runtime/sessions', { key: project.sk, body: { endUserId: user, operationIds: ['ask'] } });
  return call(server, 'POST', '/v1/runtime/invoke', { key: session.body.token, body: { operation: 'ask', input: { q: 'hi' } } });
}

const balance = async ({ server, project }, user) => (await call(server, 'GET', `/v1/accounts/${user}`, { key: project.sk })).body.balance;

// A port nothing listens on: one the kernel just handed out and that was closed again.
async function closedPort() {
  const probe = net.createServer();
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

const failureLines = ({ server, project }) =>
  server.logs.filter((l) => l.event === 'provider_call_failed' && l.project === project.id);

// The owner's log line of this project's next failed call after the `seen` first ones.
async function failureLine(side, seen) {
  for (let i = 0; i < 100; i += 1) {
    const lines = failureLines(side);
    if (lines.length > seen) return lines[seen];
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('no provider_call_failed line');
}

beforeAll(async () => {
  fake = await startFakeProvider();
  const [a, b] = await Promise.all([
    startServer({ privateUpstreams: false, env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN } }),
    startServer({ env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN } }),
  ]);
  strict = await setUp(a);
  loose = await setUp(b);
});

afterAll(async () => {
  await Promise.all([strict.server.stop(), loose.server.stop()]);
  await fake.stop();
});

test('the start-up line says whether private upstreams are allowed', () => {
  expect(strict.server.logs.find((l) => l.event === 'listening').allow_private_upstreams).toBe(false);
  expect(loose.server.logs.find((l) => l.event === 'listening').allow_private_upstreams).toBe(true);
});

test('without private upstreams, plain http to this machine is refused when the provider is saved', async () => {
  const port = new URL(fake.url).port;
  for (const baseUrl of [`http://127.0.0.1:${port}/v1`, `http://[::1]:${port}/v1`, `http://localhost:${port}/v1`]) {
    const res = await putBaseUrl(strict, baseUrl);
    expect(res.status).toBe(400);
    expect(res.body.error.param).toBe('baseUrl');
  }
  for (const baseUrl of [`https://127.0.0.1:${port}/v1`, `https://10.0.0.1/v1`, 'https://169.254.169.254/latest', 'https://2130706433/v1', 'https://127.1/v1', 'https://[::ffff:7f00:1]/v1']) {
    const res = await putBaseUrl(strict, baseUrl);
    expect(res.status).toBe(400);
    expect(res.body.error.param).toBe('baseUrl');
  }
  expect((await call(strict.server, 'GET', '/v1/providers', { key: strict.project.sk })).body.data).toEqual([]);
  // The same http URL is fine where private upstreams are allowed; a name still is not.
  expect((await putBaseUrl(loose, `http://127.0.0.1:${port}/v1`)).status).toBe(200);
  expect((await putBaseUrl(loose, `http://localhost:${port}/v1`)).status).toBe(400);
  expect((await putBaseUrl(loose, 'https://2130706433/v1')).status).toBe(400);
});

test('a name that resolves to loopback is refused at connect time: 502, nothing reaches the provider, the hold is released', async () => {
  const port = new URL(fake.url).port;
  // A name passes when saved: what it resolves to is checked when it is called.
  expect((await putBaseUrl(strict, `https://localhost:${port}/v1`)).status).toBe(200);
  await fake.reset();
  const logged = failureLines(strict).length;
  const res = await invoke(strict, 'loop_user');
  expect(res.status).toBe(502);
  expect(res.body.error).toMatchObject({ type: expect.any(String), code: 'upstream_error', message: UNREACHABLE });
  const seen = await fake.requests();
  expect(seen.requests).toEqual([]);
  expect(seen.connections).toBe(0);
  expect(await balance(strict, 'loop_user')).toBe(100);
  expect((await expectLedgerSound(strict.server, strict.project.sk)).openHolds).toBe(0);
  // The owner's log says why; the caller's error does not.
  const line = await failureLine(strict, logged);
  expect(line.provider).toMatch(/every address of localhost is refused: 127\.0\.0\.1 is a loopback address/);
  expect(JSON.stringify(res.body)).not.toMatch(/loopback|refused|127\.0\.0\.1/);
});

test('one message for a refused port, a name that does not resolve and a guard refusal', async () => {
  const port = await closedPort();
  const cases = [
    [loose, `http://127.0.0.1:${port}/v1`, /connecting to 127\.0\.0\.1: Connection refused/],
    [loose, 'https://tollgate-test.invalid/v1', /looking up tollgate-test\.invalid/],
    [strict, 'https://tollgate-test.invalid/v1', /looking up tollgate-test\.invalid/],
    [strict, `https://localhost:${port}/v1`, /every address of localhost is refused/],
  ];
  const bodies = [];
  for (const [side, baseUrl, detail] of cases) {
    expect((await putBaseUrl(side, baseUrl)).status).toBe(200);
    const user = `u_${bodies.length}`;
    const logged = failureLines(side).length;
    const res = await invoke(side, user);
    expect(res.status).toBe(502);
    bodies.push(res.body);
    expect(await balance(side, user)).toBe(100);
    expect((await failureLine(side, logged)).provider).toMatch(detail);
  }
  // Byte for byte the same error, so the answer tells nothing about what listens where.
  for (const body of bodies) expect(body).toEqual(bodies[0]);
  expect(bodies[0].error).toMatchObject({ code: 'upstream_error', message: UNREACHABLE });
});
