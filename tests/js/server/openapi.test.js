// GET /openapi.json on a real tollgate process: a valid OpenAPI 3.1 document (checked by
// @apidevtools/swagger-parser) that lists exactly the routes the server answers, and request
// log lines that name routes by template, never by raw path.
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { startServer } = require('../helpers/server');
const { ADMIN_TOKEN, call, createProject } = require('../helpers/api');

let server;
let project;

beforeAll(async () => {
  server = await startServer({ env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN } });
  project = await createProject(server, { startingCredits: 10 });
});

afterAll(async () => {
  await server.stop();
});

async function spec() {
  const res = await fetch(`${server.url}/openapi.json`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('application/json');
  return res.json();
}

// @apidevtools/swagger-parser is an ES module Jest cannot require here: it runs in its own node
// process, which prints "valid" or the validator's message.
function validate(document) {
  const script = `const S = require('@apidevtools/swagger-parser'); let t = '';
process.stdin.on('data', (d) => (t += d)).on('end', () => S.validate(JSON.parse(t)).then(
  () => console.log('valid'), (e) => console.log(e.message)));`;
  const out = spawnSync(process.execPath, ['-e', script], {
    input: JSON.stringify(document),
    cwd: path.join(__dirname, '../../..'),
    encoding: 'utf8',
  });
  return (out.stdout || out.stderr).trim();
}

function operationsOf(document) {
  const out = [];
  for (const [route, item] of Object.entries(document.paths)) {
    for (const method of Object.keys(item)) out.push(`${method.toUpperCase()} ${route}`);
  }
  return out.sort();
}

// The route table of docs/api.md: every route the server documents.
function documentedOperations() {
  const text = fs.readFileSync(path.join(__dirname, '../../../docs/api.md'), 'utf8');
  return [...text.matchAll(/^\| `([A-Z]+ \/[^`]*)`/gm)].map((m) => m[1]).sort();
}

// Request lines are written after the answer is sent: wait for the one a test looks for.
async function logged(predicate, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!server.logs.some((l) => l.event === 'http_request' && predicate(l))) {
    if (Date.now() > deadline) throw new Error('the request line was not logged');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function lastLogFor(method) {
  return server.logs.filter((l) => l.event === 'http_request' && l.method === method).pop();
}

describe('GET /openapi.json', () => {
  test('needs no key and is a valid OpenAPI 3.1 document', async () => {
    const document = await spec();
    expect(document.openapi).toBe('3.1.0');
    expect(document.info.title).toBe('Tollgate API');
    expect(validate(document)).toBe('valid');
    expect(validate({ ...document, paths: { bad: {} } })).not.toBe('valid');
  });

  test('lists exactly the documented routes', async () => {
    expect(operationsOf(await spec())).toEqual(documentedOperations());
  });

  test('every listed route is answered: no 404 for an unknown route, no 405', async () => {
    const document = await spec();
    for (const operation of operationsOf(document)) {
      const [method, template] = operation.split(' ');
      const target = template.replace(/\{[^}]+\}/g, 'x');
      // No key: nothing is changed (a key roll would end this suite's key), and a 401 still
      // shows the route matched; only the router's own 404 says "no route for".
      const res = await call(server, method, target, {
        body: ['POST', 'PUT', 'PATCH'].includes(method) ? {} : undefined,
      });
      expect([operation, res.status]).not.toEqual([operation, 405]);
      const message = res.body && res.body.error ? res.body.error.message : '';
      expect([operation, message]).not.toEqual([operation, expect.stringMatching(/^no route for/)]);
    }
  });

  test('an unlisted path is 404 and is not in the document', async () => {
    const document = await spec();
    expect(document.paths['/v1/nowhere']).toBeUndefined();
    const res = await call(server, 'GET', '/v1/nowhere');
    expect(res.status).toBe(404);
    expect(res.body.error.message).toMatch(/^no route for/);
  });
});

describe('the route table documents each route', () => {
  test('who may call it, its body fields with types and bounds, and its Idempotency-Key', async () => {
    const doc = await spec();
    const meter = doc.paths['/v1/meter'].post;
    expect(meter.security).toEqual([{ secretKey: [] }, { publishableKey: [] }]);
    const schema = meter.requestBody.content['application/json'].schema;
    expect(schema.required).toEqual(['userId', 'event']);
    expect(schema.properties.cost).toMatchObject({ type: 'integer', minimum: 1 });
    expect(schema.properties.userId).toMatchObject({ type: 'string', minLength: 1, maxLength: 256 });
    expect(meter.parameters.map((p) => `${p.in}:${p.name}`)).toContain('header:Idempotency-Key');
    expect(doc.paths['/v1/projects'].post.security).toEqual([{ adminToken: [] }]);
    expect(doc.paths['/healthz'].get.security).toEqual([]);
    const credits = doc.paths['/v1/accounts/{userId}/credits'].post.requestBody.content['application/json'].schema;
    expect(credits.properties.type.enum).toEqual(['grant', 'refund']);
    const ledger = doc.paths['/v1/ledger'].get.parameters.map((p) => `${p.in}:${p.name}`);
    expect(ledger).toEqual(expect.arrayContaining(['query:limit', 'query:starting_after', 'query:userId']));
    // Every route is described: a summary and who may call it.
    for (const [route, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        expect({ route, method, summary: typeof op.summary, security: Array.isArray(op.security) })
          .toEqual({ route, method, summary: 'string', security: true });
      }
    }
    expect(doc.paths['/v1/runtime/invoke'].post.security).toEqual([{ runtimeToken: [] }]);
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(['adminToken', 'publishableKey', 'runtimeToken', 'secretKey', 'userKey']);
    expect(doc.paths['/v1/chat/completions'].post.security).toEqual([{ userKey: [] }]);
  });

  test('what each route answers: a named response schema, which every suite checks answers against', async () => {
    const doc = await spec();
    const schemas = doc.components.schemas;
    const used = new Set(['Error']);
    for (const [route, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        const content = (op.responses['200'] || op.responses['201']).content;
        const [media] = Object.keys(content);
        const ref = content[media].schema.$ref || '';
        const name = ref.replace('#/components/schemas/', '');
        expect({ route, method, named: Boolean(schemas[name]) }).toEqual({ route, method, named: true });
        used.add(name);
      }
    }
    expect(doc.paths['/metrics'].get.responses['200'].content).toHaveProperty('text/plain');
    const invoke = doc.paths['/v1/runtime/invoke'].post.responses['200'].content;
    expect(Object.keys(invoke)).toEqual(['application/json', 'text/event-stream']);
    // Every object lists its fields and allows no other, so an answer cannot grow unseen.
    expect(schemas.Account.additionalProperties).toBe(false);
    expect(schemas.Invocation.required).toEqual(expect.arrayContaining(['cost', 'usage', 'remaining']));
    // helpers/openapi.js refuses an answer outside its schema, e.g. an account with a stray field.
    const { checkAnswer } = require('../helpers/openapi');
    const account = await call(server, 'GET', '/v1/accounts/ada', { key: project.sk });
    expect(() => checkAnswer('GET', '/v1/accounts/ada', 200, 'application/json', { ...account.body, stray: 1 }))
      .toThrow(/outside its OpenAPI schema #\/components\/schemas\/Account/);
    expect(() => checkAnswer('GET', '/v1/accounts/ada', 404, 'application/json', { message: 'no' }))
      .toThrow(/Error/);
  });

  test('a declared field is checked before the handler runs, naming it, and nothing is written', async () => {
    const bad = await call(server, 'POST', '/v1/accounts/ada/credits', { key: project.sk, body: { amount: 5, type: 'gift' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'invalid_argument', param: 'type' });
    const account = await call(server, 'GET', '/v1/accounts/ada', { key: project.sk });
    expect(account.body.balance).toBe(10);
  });
});

describe('request log lines', () => {
  const email = 'someone.private@example.com';

  test('name the route template, never the raw path, and carry the error code', async () => {
    const res = await call(server, 'PATCH', `/v1/accounts/${encodeURIComponent(email)}`, {
      key: project.sk,
      body: { bogus: 1 },
    });
    expect(res.status).toBe(400);
    await logged((l) => l.method === 'PATCH' && l.status === 400);
    const line = lastLogFor('PATCH');
    expect(line).toMatchObject({
      level: 'info',
      path: '/v1/accounts/{userId}',
      status: 400,
      error_code: res.body.error.code,
    });
    expect(JSON.stringify(server.logs)).not.toContain('someone.private');
  });

  test('carry the project a request was authenticated to, and the header that told them never leaves', async () => {
    const before = server.logs.length;
    const res = await call(server, 'GET', '/v1/ledger/audit', { key: project.sk });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-tollgate-log-project')).toBeNull();
    const refused = await call(server, 'GET', '/v1/ledger/audit', { key: 'sk_unknown' });
    expect(refused.status).toBe(401);
    // The two lines may be written in either order: they come from two connections.
    const since = () => server.logs.slice(before).filter((l) => l.event === 'http_request' && l.path === '/v1/ledger/audit');
    await logged(() => since().length === 2);
    const byStatus = Object.fromEntries(since().map((l) => [l.status, l]));
    expect(byStatus[200]).toMatchObject({ status: 200, project: project.id });
    expect(byStatus[401].status).toBe(401);
    expect(byStatus[401].project).toBeUndefined();
  });

  test('a success has no error code; an unmatched path is logged without it', async () => {
    const ok = await call(server, 'GET', '/openapi.json');
    expect(ok.status).toBe(200);
    await call(server, 'DELETE', `/v1/secret-${encodeURIComponent(email)}`);
    await logged((l) => l.method === 'DELETE' && l.status === 404);
    await logged((l) => l.path === '/openapi.json' && l.status === 200);
    const get = server.logs.filter((l) => l.event === 'http_request' && l.path === '/openapi.json').pop();
    expect(get.status).toBe(200);
    expect(get.error_code).toBeUndefined();
    const unmatched = lastLogFor('DELETE');
    expect(unmatched).toMatchObject({ path: null, status: 404, error_code: 'not_found' });
    expect(JSON.stringify(server.logs)).not.toContain('someone.private');
  });
});
