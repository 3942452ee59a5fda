// examples/ai-feature as shipped: the owner's script defines the feature, the example backend
// mints sessions with the secret key, and real headless Chromium runs the page, which streams the
// feature from a real tollgate with the session token alone.
const { spawn, execFileSync } = require('node:child_process');
const path = require('node:path');
const { launchChromium } = require('../helpers/chromium');
const { root } = require('../helpers/paths');
const { startServer } = require('../helpers/server');
const { ADMIN_TOKEN, call, createProject } = require('../helpers/api');

const example = path.join(root, 'examples', 'ai-feature');
let server;
let project;
let backend;
let chromium;
let browser;

function startBackend(env) {
  const proc = spawn(process.execPath, [path.join(example, 'backend.mjs')], {
    cwd: example,
    env: { ...process.env, ...env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    proc.stdout.once('data', (chunk) => resolve({ proc, url: JSON.parse(chunk.toString()).url }));
    proc.on('exit', (code) => reject(new Error(`backend exited ${code}`)));
  });
}

beforeAll(async () => {
  server = await startServer({ env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN } });
  project = await createProject(server, { startingCredits: 10 });
  const env = { TOLLGATE_URL: server.url, TOLLGATE_SECRET_KEY: project.sk };
  const defined = execFileSync(process.execPath, [path.join(example, 'define-feature.mjs')], { env: { ...process.env, ...env } });
  expect(JSON.parse(defined.toString())).toEqual({ defined: 'triage_ticket', model: 'demo/echo', variables: ['plan', 'ticket'] });
  // Running it again updates the feature in place.
  execFileSync(process.execPath, [path.join(example, 'define-feature.mjs')], { env: { ...process.env, ...env } });
  backend = await startBackend(env);
  chromium = await launchChromium();
  browser = chromium.browser;
}, 60_000);

afterAll(async () => {
  if (chromium) await chromium.close();
  if (backend) backend.proc.kill('SIGTERM');
  if (server) await server.stop();
});

test('the page streams the feature with a session token, and never sees the prompt or a key', async () => {
  const page = await browser.newPage();
  const seen = [];
  page.on('response', async (response) => {
    try {
      seen.push(await response.text());
    } catch {
      // a response without a body (preflight)
    }
  });
  await page.goto(backend.url);
  await page.waitForSelector('body[data-ready]');
  await page.click('#run');
  await page.waitForSelector('#result[data-remaining]', { timeout: 15_000 });
  expect(await page.textContent('#result')).toBe('low: demo (2 credits, 8 left)');
  expect(JSON.parse(await page.textContent('#output'))).toEqual({ priority: 'low', summary: 'demo' });
  expect(JSON.parse(await page.textContent('#partial'))).toEqual({ priority: 'low', summary: 'demo' });
  // The ledger agrees with what the page showed.
  const account = await call(server, 'GET', '/v1/accounts/user_123', { key: project.sk });
  expect(account.body.balance).toBe(8);
  // Nothing the page received holds the hidden prompt, the template or the secret key.
  const html = await page.content();
  for (const text of [...seen, html]) {
    expect(text).not.toContain('support lead of Acme');
    expect(text).not.toContain('Customer plan:');
    expect(text).not.toContain(project.sk);
  }
  await page.close();
}, 30_000);

test('out of credits, the page shows the 402 the server sent', async () => {
  const page = await browser.newPage();
  await page.goto(backend.url);
  await page.waitForSelector('body[data-ready]');
  const results = [];
  // 8 credits left at 2 a call: four more calls, then the fifth is refused before it runs.
  for (let i = 0; i < 5; i += 1) {
    await page.evaluate(() => { document.querySelector('#result').textContent = ''; });
    await page.click('#run');
    await page.waitForFunction(() => document.querySelector('#result').textContent !== '', null, { timeout: 15_000 });
    results.push(await page.textContent('#result'));
  }
  expect(await page.textContent('#result')).toMatch(/^402: insufficient credits/);
  expect(results.slice(0, 4)).toEqual(['6', '4', '2', '0'].map((left) => `low: demo (2 credits, ${left} left)`));
  await page.close();
}, 30_000);
