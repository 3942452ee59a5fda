// Provider credentials on a real tollgate process: a key is sealed before it is stored, shown
// only as a hint, never logged, and every bad input is refused naming its field.
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { tollgate } = require('../helpers/paths');
const { startServer, tempDir } = require('../helpers/server');
const { ADMIN_TOKEN, call, createProject } = require('../helpers/api');

const PROVIDER_KEY = 'sk-proj-ZZtopSecretProviderKey0123456789abcd';

let server;
let project;

const put = (name, body, key = project.sk) => call(server, 'PUT', `/v1/providers/${name}`, { key, body });
const list = async () => (await call(server, 'GET', '/v1/providers', { key: project.sk })).body.data;

beforeAll(async () => {
  server = await startServer({ env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN, TOLLGATE_MASTER_KEY: '' } });
  project = await createProject(server);
});

afterAll(async () => {
  await server.stop();
});

test('PUT stores a key and answers with its last four characters only', async () => {
  const res = await put('openai', { apiKey: PROVIDER_KEY });
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ name: 'openai', object: 'provider', keyHint: '…abcd', baseUrl: null });
  expect(JSON.stringify(res.body)).not.toContain('ZZtopSecret');
  const listed = await list();
  expect(listed).toHaveLength(1);
  expect(JSON.stringify(listed)).not.toContain('ZZtopSecret');
});

test('PUT again replaces the key and keeps createdAtMs', async () => {
  const before = (await list())[0];
  const res = await put('openai', { apiKey: 'sk-second-key-wxyz', baseUrl: 'https://gateway.example.com/v1/' });
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ keyHint: '…wxyz', baseUrl: 'https://gateway.example.com/v1' });
  expect(res.body.createdAtMs).toBe(before.createdAtMs);
  await put('openai', { apiKey: PROVIDER_KEY });
});

test('a local http base URL is allowed, for Ollama or llama.cpp', async () => {
  const res = await put('ollama', { apiKey: 'ollama', baseUrl: 'http://127.0.0.1:11434/v1' });
  expect(res.status).toBe(200);
  expect(res.body.baseUrl).toBe('http://127.0.0.1:11434/v1');
  expect((await list()).map((p) => p.name)).toEqual(['ollama', 'openai']);
});

test('the key is sealed at rest, and the master key file is private', async () => {
  const files = fs.readdirSync(server.dataDir);
  expect(files).toContain('master.key');
  expect(fs.statSync(path.join(server.dataDir, 'master.key')).mode & 0o777).toBe(0o600);
  for (const file of files) {
    const bytes = fs.readFileSync(path.join(server.dataDir, file));
    expect(bytes.includes('ZZtopSecret')).toBe(false);
  }
});

test('the key never appears in the logs', () => {
  expect(JSON.stringify(server.logs)).not.toContain('ZZtopSecret');
});

test('only the secret key may read or write providers', async () => {
  expect((await put('groq', { apiKey: 'gsk_x' }, project.pk)).status).toBe(403);
  expect((await call(server, 'GET', '/v1/providers', { key: project.pk })).status).toBe(403);
  expect((await call(server, 'DELETE', '/v1/providers/openai', { key: project.pk })).status).toBe(403);
  expect((await call(server, 'GET', '/v1/providers')).status).toBe(401);
  const other = await createProject(server);
  expect((await call(server, 'GET', '/v1/providers', { key: other.sk })).body.data).toEqual([]);
});

describe('bad input is refused, naming the field, with nothing written', () => {
  const cases = [
    ['a name with capitals', 'OpenAI', { apiKey: 'k' }, 'name'],
    ['a name too long', 'a'.repeat(33), { apiKey: 'k' }, 'name'],
    ['the demo provider', 'demo', { apiKey: 'k' }, 'name'],
    ['no apiKey', 'groq', {}, 'apiKey'],
    ['an empty apiKey', 'groq', { apiKey: '' }, 'apiKey'],
    ['an apiKey with a space', 'groq', { apiKey: 'gsk abc' }, 'apiKey'],
    ['an apiKey with a newline', 'groq', { apiKey: 'gsk\nabc' }, 'apiKey'],
    ['an apiKey that is not a string', 'groq', { apiKey: 12 }, 'apiKey'],
    ['an apiKey too long', 'groq', { apiKey: 'k'.repeat(4097) }, 'apiKey'],
    ['http to another machine', 'groq', { apiKey: 'k', baseUrl: 'http://api.groq.com/openai/v1' }, 'baseUrl'],
    ['http to this machine by name', 'groq', { apiKey: 'k', baseUrl: 'http://localhost:11434/v1' }, 'baseUrl'],
    ['http to a name that starts with 127.', 'groq', { apiKey: 'k', baseUrl: 'http://127.0.0.1.nip.io/v1' }, 'baseUrl'],
    ['a host that is an address spelled as a number', 'groq', { apiKey: 'k', baseUrl: 'https://2130706433/v1' }, 'baseUrl'],
    ['a short-form address', 'groq', { apiKey: 'k', baseUrl: 'http://127.1:11434/v1' }, 'baseUrl'],
    ['user info', 'groq', { apiKey: 'k', baseUrl: 'https://user:pw@api.groq.com/openai/v1' }, 'baseUrl'],
    ['an IPv6 zone id', 'groq', { apiKey: 'k', baseUrl: 'https://[fe80::1%25eth0]/v1' }, 'baseUrl'],
    ['a multicast address', 'groq', { apiKey: 'k', baseUrl: 'https://[ff02::1]/v1' }, 'baseUrl'],
    ['another scheme', 'groq', { apiKey: 'k', baseUrl: 'ftp://api.groq.com' }, 'baseUrl'],
    ['a query string', 'groq', { apiKey: 'k', baseUrl: 'https://api.groq.com/v1?x=1' }, 'baseUrl'],
    ['no host', 'groq', { apiKey: 'k', baseUrl: 'https://' }, 'baseUrl'],
    ['a port out of range', 'groq', { apiKey: 'k', baseUrl: 'https://api.groq.com:70000/v1' }, 'baseUrl'],
    ['a baseUrl that is not a string', 'groq', { apiKey: 'k', baseUrl: true }, 'baseUrl'],
    ['an unknown field', 'groq', { apiKey: 'k', organization: 'x' }, 'organization'],
  ];
  test.each(cases)('%s', async (label, name, body, param) => {
    const before = await list();
    const res = await put(name, body);
    expect(res.status).toBe(400);
    expect(res.body.error.param).toBe(param);
    expect(await list()).toEqual(before);
  });
});

test('DELETE removes a provider once', async () => {
  const res = await call(server, 'DELETE', '/v1/providers/ollama', { key: project.sk });
  expect(res.status).toBe(200);
  expect(res.body).toEqual({ name: 'ollama', object: 'provider', deleted: true });
  expect((await call(server, 'DELETE', '/v1/providers/ollama', { key: project.sk })).status).toBe(404);
});

test('a malformed TOLLGATE_MASTER_KEY stops the server with an error naming it', () => {
  const dir = tempDir();
  try {
    const result = spawnSync(tollgate, ['serve', '--port', '0', '--data-dir', dir], {
      env: { ...process.env, DATABASE_URL: '', TOLLGATE_MASTER_KEY: 'not-hex' }, encoding: 'utf8', timeout: 10_000,
    });
    expect(result.status).not.toBe(0);
    const body = JSON.parse(result.stderr.trim().split('\n').pop());
    expect(body.error.param).toBe('TOLLGATE_MASTER_KEY');
    expect(result.stderr).not.toContain('not-hex');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a configured master key is used instead of a key file', async () => {
  const configured = await startServer({ env: { TOLLGATE_MASTER_KEY: 'ab'.repeat(32) } });
  try {
    expect(fs.readdirSync(configured.dataDir)).not.toContain('master.key');
  } finally {
    await configured.stop();
  }
});
