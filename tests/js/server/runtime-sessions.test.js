// Runtime sessions on a real tollgate process: minting with the secret key, browser minting
// with the publishable key from allowed origins only, and every bad input refused by name.
const { startServer } = require('../helpers/server');
const { ADMIN_TOKEN, call, createProject } = require('../helpers/api');
const { sdk } = require('../helpers/sdk');

let server;
let project;
let core;

const mint = (body, { key = project.sk, origin } = {}) =>
  call(server, 'POST', '/v1/runtime/sessions', { key, body, headers: origin ? { origin } : {} });

beforeAll(async () => {
  core = await sdk.loadCore();
  server = await startServer({ env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN } });
  project = await createProject(server);
  for (const [slug, allowedOrigins] of [['summarize', []], ['classify', ['https://app.example.com']], ['internal', ['https://admin.example.com']]]) {
    const res = await call(server, 'POST', '/v1/operations', {
      key: project.sk, body: { slug, model: 'demo/echo', userTemplate: '{{text}}', allowedOrigins },
    });
    expect(res.status).toBe(200);
  }
});

afterAll(async () => {
  await server.stop();
});

test('the secret key mints a token for one end user and the listed features', async () => {
  const before = Date.now();
  const res = await mint({ endUserId: 'user_123', operationIds: ['summarize', 'classify'] });
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ object: 'runtime_session', endUserId: 'user_123', operationIds: ['summarize', 'classify'] });
  expect(res.body.token).toMatch(/^tg_rt_/);
  const claims = core.runtimeToken.decode(res.body.token);
  expect(claims).toMatchObject({ projectId: project.id, endUserId: 'user_123', operations: ['summarize', 'classify'], sessionId: res.body.sessionId });
  expect(claims.keyId).toMatch(/^rtk_/);
  expect(claims.expiresAtMs - claims.issuedAtMs).toBe(15 * 60_000);
  expect(claims.issuedAtMs).toBeGreaterThanOrEqual(before);
  expect(res.body.expiresAtMs).toBe(claims.expiresAtMs);
});

test('ttlMinutes sets the lifetime, up to a day', async () => {
  const res = await mint({ endUserId: 'u', operationIds: ['summarize'], ttlMinutes: 1440 });
  expect(res.status).toBe(200);
  const claims = core.runtimeToken.decode(res.body.token);
  expect(claims.expiresAtMs - claims.issuedAtMs).toBe(1440 * 60_000);
});

test('every session gets its own id', async () => {
  const a = await mint({ endUserId: 'u', operationIds: ['summarize'] });
  const b = await mint({ endUserId: 'u', operationIds: ['summarize'] });
  expect(a.body.sessionId).not.toBe(b.body.sessionId);
  expect(a.body.token).not.toBe(b.body.token);
});

describe('bad input is refused, naming the field', () => {
  const cases = [
    ['no endUserId', { operationIds: ['summarize'] }, 'endUserId'],
    ['empty endUserId', { endUserId: '', operationIds: ['summarize'] }, 'endUserId'],
    ['endUserId too long', { endUserId: 'u'.repeat(257), operationIds: ['summarize'] }, 'endUserId'],
    ['endUserId with a control character', { endUserId: 'a\u0001b', operationIds: ['summarize'] }, 'endUserId'],
    ['endUserId with a C1 control character', { endUserId: 'a\u0085b', operationIds: ['summarize'] }, 'endUserId'],
    ['endUserId a number', { endUserId: 7, operationIds: ['summarize'] }, 'endUserId'],
    ['no operationIds', { endUserId: 'u' }, 'operationIds'],
    ['empty operationIds', { endUserId: 'u', operationIds: [] }, 'operationIds'],
    ['operationIds not an array', { endUserId: 'u', operationIds: 'summarize' }, 'operationIds'],
    ['too many operationIds', { endUserId: 'u', operationIds: Array.from({ length: 65 }, (_, i) => `op${i}`) }, 'operationIds'],
    ['an unknown feature', { endUserId: 'u', operationIds: ['summarize', 'nope'] }, 'operationIds[1]'],
    ['a feature listed twice', { endUserId: 'u', operationIds: ['summarize', 'summarize'] }, 'operationIds[1]'],
    ['a feature id not a string', { endUserId: 'u', operationIds: [3] }, 'operationIds[0]'],
    ['ttlMinutes zero', { endUserId: 'u', operationIds: ['summarize'], ttlMinutes: 0 }, 'ttlMinutes'],
    ['ttlMinutes over a day', { endUserId: 'u', operationIds: ['summarize'], ttlMinutes: 1441 }, 'ttlMinutes'],
    ['ttlMinutes fractional', { endUserId: 'u', operationIds: ['summarize'], ttlMinutes: 1.5 }, 'ttlMinutes'],
    ['an unknown field', { endUserId: 'u', operationIds: ['summarize'], scope: 'all' }, 'scope'],
  ];
  test.each(cases)('%s', async (label, body, param) => {
    const res = await mint(body);
    expect(res.status).toBe(400);
    expect(res.body.error.param).toBe(param);
    expect(res.body).not.toHaveProperty('token');
  });
});

describe('browser minting with the publishable key', () => {
  test('is refused until the project allows it', async () => {
    const res = await mint({ endUserId: 'u', operationIds: ['summarize'] }, { key: project.pk, origin: 'https://app.example.com' });
    expect(res.status).toBe(403);
    expect(res.body.error.message).toMatch(/allowBrowserMinting/);
  });

  test('project settings refuse bad values', async () => {
    for (const [body, param] of [
      [{ allowBrowserMinting: 'yes' }, 'allowBrowserMinting'],
      [{ allowedOrigins: ['https://app.example.com/path'] }, 'allowedOrigins[0]'],
      [{ allowedOrigins: 'https://app.example.com' }, 'allowedOrigins'],
    ]) {
      const res = await call(server, 'PATCH', '/v1/projects/current', { key: project.sk, body });
      expect([res.status, res.body.error?.param]).toEqual([400, param]);
    }
    const settings = (await call(server, 'GET', '/v1/projects/current', { key: project.sk })).body.settings;
    expect(settings).toMatchObject({ allowBrowserMinting: false, allowedOrigins: [] });
  });

  test('works only from an allowed origin, and only for features that origin may use', async () => {
    const patched = await call(server, 'PATCH', '/v1/projects/current', {
      key: project.sk, body: { allowBrowserMinting: true, allowedOrigins: ['https://app.example.com'] },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.settings).toMatchObject({ allowBrowserMinting: true, allowedOrigins: ['https://app.example.com'] });

    const ok = await mint({ endUserId: 'u', operationIds: ['summarize', 'classify'] }, { key: project.pk, origin: 'https://app.example.com' });
    expect(ok.status).toBe(200);

    const noOrigin = await mint({ endUserId: 'u', operationIds: ['summarize'] }, { key: project.pk });
    expect([noOrigin.status, noOrigin.body.error.param]).toEqual([403, 'origin']);
    const otherOrigin = await mint({ endUserId: 'u', operationIds: ['summarize'] }, { key: project.pk, origin: 'https://evil.example.com' });
    expect([otherOrigin.status, otherOrigin.body.error.param]).toEqual([403, 'origin']);
    const narrower = await mint({ endUserId: 'u', operationIds: ['summarize', 'internal'] }, { key: project.pk, origin: 'https://app.example.com' });
    expect([narrower.status, narrower.body.error.param]).toEqual([403, 'operationIds[1]']);
    // The secret key is a backend: it may mint any feature, whatever the origin.
    const backend = await mint({ endUserId: 'u', operationIds: ['internal'] }, { origin: 'https://evil.example.com' });
    expect(backend.status).toBe(200);
  });
});

test('the signing key is kept across restarts', async () => {
  const first = core.runtimeToken.decode((await mint({ endUserId: 'u', operationIds: ['summarize'] })).body.token);
  const dataDir = require('../helpers/server').tempDir();
  const a = await startServer({ dataDir, env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN } });
  let kid;
  try {
    const p = await createProject(a);
    await call(a, 'POST', '/v1/operations', { key: p.sk, body: { slug: 's', model: 'demo/echo' } });
    const res = await call(a, 'POST', '/v1/runtime/sessions', { key: p.sk, body: { endUserId: 'u', operationIds: ['s'] } });
    kid = core.runtimeToken.decode(res.body.token).keyId;
    await a.stop();
    const b = await startServer({ dataDir, env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN } });
    try {
      const again = await call(b, 'POST', '/v1/runtime/sessions', { key: p.sk, body: { endUserId: 'u', operationIds: ['s'] } });
      expect(core.runtimeToken.decode(again.body.token).keyId).toBe(kid);
    } finally {
      await b.stop();
    }
  } finally {
    require('node:fs').rmSync(dataDir, { recursive: true, force: true });
  }
  expect(kid).not.toBe(first.keyId); // each instance (data dir) has its own keys
});

describe('signing key rotation', () => {
  // Two processes on one database: one rotates, the other learns of it from the first token
  // that names the new key.
  let dataDir;
  let a;
  let b;
  let p;
  const keysOf = async (s) => (await call(s, 'GET', '/v1/signing-keys', { key: ADMIN_TOKEN })).body.data;
  const mintOn = async (s) => (await call(s, 'POST', '/v1/runtime/sessions', { key: p.sk, body: { endUserId: 'u', operationIds: ['s'] } })).body.token;
  const invokeOn = (s, token) => call(s, 'POST', '/v1/runtime/invoke', { key: token, body: { operation: 's', input: { text: 'hi' } } });

  beforeAll(async () => {
    dataDir = require('../helpers/server').tempDir();
    a = await startServer({ dataDir, env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN } });
    b = await startServer({ dataDir, env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN } });
    p = await createProject(a);
    const made = await call(a, 'POST', '/v1/operations', { key: p.sk, body: { slug: 's', model: 'demo/echo', userTemplate: '{{text}}', price: { type: 'fixed', credits: 0 } } });
    expect(made.status).toBe(200);
  });

  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    require('node:fs').rmSync(dataDir, { recursive: true, force: true });
  });

  test('only the admin token lists or rotates, and a bad body rotates nothing', async () => {
    const before = await keysOf(a);
    for (const key of [undefined, p.sk, p.pk, 'tgadm_wrong']) {
      const listed = await call(a, 'GET', '/v1/signing-keys', { key });
      expect(listed.status).toBe(401);
      const rotated = await call(a, 'POST', '/v1/signing-keys/rotate', { key, body: {} });
      expect(rotated.status).toBe(401);
      expect(rotated.body.error.message).toMatch(/admin token/);
    }
    const extra = await call(a, 'POST', '/v1/signing-keys/rotate', { key: ADMIN_TOKEN, body: { keepOld: true } });
    expect(extra.status).toBe(400);
    expect(extra.body.error.param).toBe('keepOld');
    expect(await keysOf(a)).toEqual(before);
    expect(before).toHaveLength(1);
    expect(before[0]).toMatchObject({ object: 'signing_key', status: 'current', retiredAtMs: null });
  });

  test('a rotation signs new tokens with a new key; old tokens stay valid on every process', async () => {
    const oldToken = await mintOn(a);
    const oldKid = core.runtimeToken.decode(oldToken).keyId;
    const started = Date.now();
    const res = await call(a, 'POST', '/v1/signing-keys/rotate', { key: ADMIN_TOKEN });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ object: 'signing_key_rotation', pruned: [] });
    expect(res.body.current).toMatch(/^rtk_/);
    expect(res.body.current).not.toBe(oldKid);
    expect(res.body.keys.map((k) => [k.id, k.status])).toEqual([[res.body.current, 'current'], [oldKid, 'retired']]);
    expect(res.body.keys[1].retiredAtMs).toBeGreaterThanOrEqual(started);
    expect(JSON.stringify(res.body)).not.toMatch(/sealed|tgsb1/); // ids only, never key bytes

    const newToken = await mintOn(a);
    expect(core.runtimeToken.decode(newToken).keyId).toBe(res.body.current);
    // b has not reread the keys; the new token's kid makes it.
    for (const [server, token] of [[b, newToken], [b, oldToken], [a, oldToken], [a, newToken]]) {
      const ran = await invokeOn(server, token);
      expect(ran.status).toBe(200);
    }
    expect((await keysOf(b)).map((k) => k.id)).toEqual([res.body.current, oldKid]);
  });

  test('revokePrevious drops every older key at once, so their tokens stop working', async () => {
    const bad = await call(a, 'POST', '/v1/signing-keys/rotate', { key: ADMIN_TOKEN, body: { revokePrevious: 'yes' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.param).toBe('revokePrevious');
    const before = await keysOf(a);
    const oldToken = await mintOn(a);
    expect((await invokeOn(a, oldToken)).status).toBe(200); // a has verified it (and remembers)
    const res = await call(a, 'POST', '/v1/signing-keys/rotate', { key: ADMIN_TOKEN, body: { revokePrevious: true } });
    expect(res.status).toBe(200);
    expect(res.body.keys.map((k) => k.id)).toEqual([res.body.current]);
    expect([...res.body.pruned].sort()).toEqual(before.map((k) => k.id).sort());
    const refused = await invokeOn(a, oldToken);
    expect(refused.status).toBe(401);
    expect(refused.body.error.param).toBe('token');
    expect((await invokeOn(a, await mintOn(a))).status).toBe(200);
    // Another process's list rereads the store.
    expect((await keysOf(b)).map((k) => k.id)).toEqual([res.body.current]);
  });
});
