// CORS on a real tollgate: for each kind of route (secret key, publishable key, runtime token,
// the routes that take either key) and each kind of Origin (one the project allows, another one,
// "null", none), exactly when Access-Control-Allow-Origin is sent and what it says; then the
// preflights, and the demo's own origins.
const { startServer } = require('../helpers/server');
const { ADMIN_TOKEN, call, createProject } = require('../helpers/api');

const ALLOWED = 'https://app.example.com';
const OTHER = 'https://evil.example.com';
// [name, Origin header or undefined]
const ORIGINS = [['allowed', ALLOWED], ['other', OTHER], ['null', 'null'], ['none', undefined]];

let server;
let project;
let token;

beforeAll(async () => {
  server = await startServer({ env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN } });
  project = await createProject(server, { startingCredits: 1000, allowedOrigins: [ALLOWED] });
  const defined = await call(server, 'POST', '/v1/operations', {
    key: project.sk, body: { slug: 'echo', model: 'demo/echo', userTemplate: 'hi' },
  });
  expect(defined.status).toBe(200);
  const minted = await call(server, 'POST', '/v1/runtime/sessions', {
    key: project.sk, body: { endUserId: 'visitor', operationIds: ['echo'] },
  });
  expect(minted.status).toBe(200);
  token = minted.body.token;
});

afterAll(async () => {
  await server.stop();
});

// What a browser route answers a browser credential: the allowed origin is echoed; any other
// Origin is refused before anything runs; no Origin is a backend or curl, served without CORS.
const browser = { allowed: [200, ALLOWED], other: [403, null], null: [403, null], none: [200, null] };
// What the secret key gets, on any route: served, never with CORS.
const backend = { allowed: [200, null], other: [200, null], null: [200, null], none: [200, null] };

const ROUTES = [
  ['a secret-key route', 'GET', '/v1/projects/current', () => project.sk, undefined, backend],
  ['a publishable-key route (meter)', 'POST', '/v1/meter', () => project.pk, { userId: 'u1', event: 'e' }, browser],
  ['the dual route with the publishable key', 'GET', '/v1/check?userId=u1', () => project.pk, undefined, browser],
  ['the dual route with the secret key', 'GET', '/v1/check?userId=u1', () => project.sk, undefined, backend],
  ['a dual route with the publishable key', 'GET', '/v1/operations/echo', () => project.pk, undefined, browser],
  ['minting with the secret key', 'POST', '/v1/runtime/sessions', () => project.sk, { endUserId: 'v', operationIds: ['echo'] }, backend],
  ['a runtime-token route', 'GET', '/v1/runtime/usage', () => token, undefined, browser],
  ['a runtime-token route (invoke)', 'POST', '/v1/runtime/invoke', () => token, { operation: 'echo' }, browser],
];

const TABLE = ROUTES.flatMap(([name, method, path, key, body, expected]) =>
  ORIGINS.map(([originName, origin]) => [name, originName, method, path, key, body, origin, expected === browser, expected[originName]]));

describe.each(TABLE)('%s, origin %s', (name, originName, method, path, key, body, origin, isBrowser, [status, allowOrigin]) => {
  test(`answers ${status} with Access-Control-Allow-Origin ${allowOrigin}`, async () => {
    const res = await call(server, method, path, { key: key(), body, headers: origin ? { origin } : {} });
    expect(res.status).toBe(status);
    expect(res.headers.get('access-control-allow-origin')).toBe(allowOrigin);
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    if (allowOrigin) expect(res.headers.get('access-control-expose-headers')).toMatch(/x-request-id/);
    if (status === 403) expect(res.body.error.param).toBe('origin');
    // A browser route's answer depends on the Origin, so caches must key on it.
    if (isBrowser) expect(res.headers.get('vary')).toBe('Origin');
  });
});

test('a streamed invoke from an allowed origin carries the origin on its head', async () => {
  const res = await fetch(`${server.url}/v1/runtime/invoke`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', origin: ALLOWED },
    body: JSON.stringify({ operation: 'echo', stream: true }),
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/event-stream');
  expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED);
  expect(await res.text()).toContain('event: done');
});

test('a credential that does not authenticate gets no origin, even an allowed one', async () => {
  for (const [path, key] of [['/v1/check?userId=u1', 'pk_not_a_real_key'], ['/v1/runtime/usage', `${token}x`]]) {
    const res = await call(server, 'GET', path, { key, headers: { origin: ALLOWED } });
    expect(res.status).toBe(401);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  }
});

test('a refused origin ran nothing: the meter from another origin charged no credit', async () => {
  const before = (await call(server, 'GET', '/v1/accounts/charged', { key: project.sk })).body.balance;
  const refused = await call(server, 'POST', '/v1/meter', {
    key: project.pk, body: { userId: 'charged', event: 'e', cost: 5 }, headers: { origin: OTHER },
  });
  expect(refused.status).toBe(403);
  const after = (await call(server, 'GET', '/v1/accounts/charged', { key: project.sk })).body.balance;
  expect(after).toBe(before);
});

describe('preflight', () => {
  const preflight = (path, origin, method = 'GET', headers = 'authorization') =>
    fetch(`${server.url}${path}`, {
      method: 'OPTIONS',
      headers: {
        ...(origin ? { origin } : {}),
        'access-control-request-method': method,
        ...(headers ? { 'access-control-request-headers': headers } : {}),
      },
    });

  // It carries no credentials, so it cannot know the project: a browser path echoes any real
  // origin (the real request then decides), never "null"; a secret-key path echoes none.
  const PATHS = [
    ['a secret-key route', '/v1/projects/current', 'GET', { allowed: null, other: null, null: null, none: null }],
    ['the dual meter route', '/v1/meter', 'POST', { allowed: ALLOWED, other: OTHER, null: null, none: null }],
    ['the dual check route', '/v1/check', 'GET', { allowed: ALLOWED, other: OTHER, null: null, none: null }],
    ['a runtime-token route', '/v1/runtime/invoke', 'POST', { allowed: ALLOWED, other: OTHER, null: null, none: null }],
    ['an unknown path', '/v1/nothing', 'GET', { allowed: null, other: null, null: null, none: null }],
  ];
  const CASES = PATHS.flatMap(([name, path, method, answers]) =>
    ORIGINS.map(([originName, origin]) => [name, originName, path, method, origin, answers[originName]]));

  test.each(CASES)('%s, origin %s', async (name, originName, path, method, origin, allowOrigin) => {
    const res = await preflight(path, origin, method, 'authorization, content-type');
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(allowOrigin);
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    expect(res.headers.get('vary')).toMatch(/Origin/);
    if (allowOrigin) {
      expect(res.headers.get('access-control-allow-methods')).toBe(method);
      expect(res.headers.get('access-control-allow-headers')).toBe('authorization, content-type, idempotency-key, x-tollgate-key');
    } else {
      expect(res.headers.get('access-control-allow-methods')).toBeNull();
    }
  });

  test('only the browser methods of a path, and only the headers Tollgate reads', async () => {
    // GET /v1/accounts/{userId} takes the publishable key; PATCH there is secret-key only.
    const get = await preflight('/v1/accounts/alice', ALLOWED, 'GET');
    expect(get.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(get.headers.get('access-control-allow-methods')).toBe('GET');
    const patch = await preflight('/v1/accounts/alice', ALLOWED, 'PATCH');
    expect(patch.headers.get('access-control-allow-origin')).toBeNull();
    const extra = await preflight('/v1/meter', ALLOWED, 'POST', 'authorization, x-something-else');
    expect(extra.headers.get('access-control-allow-origin')).toBeNull();
    const cased = await preflight('/v1/meter', ALLOWED, 'POST', ' Idempotency-Key ,Content-Type');
    expect(cased.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    const none = await preflight('/v1/meter', ALLOWED, 'POST', null);
    expect(none.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    const noMethod = await fetch(`${server.url}/v1/meter`, { method: 'OPTIONS', headers: { origin: ALLOWED } });
    expect(noMethod.headers.get('access-control-allow-origin')).toBeNull();
    for (const odd of ['https://app.example.com/path', 'file://', 'app.example.com', 'https://a b']) {
      const res = await preflight('/v1/meter', odd, 'POST');
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
    }
  });
});

describe('--demo', () => {
  let demo;
  beforeAll(async () => {
    demo = await startServer({ args: ['--demo'], env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN } });
  });
  afterAll(async () => {
    await demo.stop();
  });

  test('the server\'s own origins may call the demo project\'s browser routes keylessly', async () => {
    for (const origin of [`http://localhost:${demo.port}`, `http://127.0.0.1:${demo.port}`]) {
      const res = await call(demo, 'GET', '/v1/check?userId=visitor', { headers: { origin } });
      expect(res.status).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBe(origin);
    }
    for (const origin of [OTHER, 'null', `http://localhost:${demo.port + 1}`]) {
      const res = await call(demo, 'GET', '/v1/check?userId=visitor', { headers: { origin } });
      expect(res.status).toBe(403);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
    }
  });

  test('another project on a demo server gets no demo origins', async () => {
    const other = await createProject(demo);
    const res = await call(demo, 'GET', '/v1/check?userId=u', { key: other.pk, headers: { origin: `http://localhost:${demo.port}` } });
    expect(res.status).toBe(403);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });
});
