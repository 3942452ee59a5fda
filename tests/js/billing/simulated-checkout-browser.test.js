// The simulated checkout in real headless Chromium: a shop page on its own origin starts a
// checkout with the publishable key, the browser lands on Tollgate's simulated page, clicks
// Pay, comes back to the shop's successUrl, and the shop shows the new balance from
// GET /v1/checkout/{id}. A screenshot of each step is kept in test-artifacts/.
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { launchChromium } = require('../helpers/chromium');
const { root } = require('../helpers/paths');
const { startServer } = require('../helpers/server');
const { ADMIN_TOKEN, call, createProject } = require('../helpers/api');

const artifacts = path.join(root, 'test-artifacts');
let server;
let shop;
let project;
let chromium;
let browser;

// The shop: one page that buys, and one that shows the balance once back.
function shopPage(tollgate, pk) {
  return `<!doctype html><meta charset="utf-8"><title>Shop</title>
<p id="balance">…</p><button id="buy">Buy 500 credits</button>
<script>
const TG = ${JSON.stringify(tollgate)}, PK = ${JSON.stringify(pk)};
const headers = { authorization: 'Bearer ' + PK, 'content-type': 'application/json' };
const session = new URLSearchParams(location.search).get('session');
async function show() {
  const url = session ? TG + '/v1/checkout/' + session : TG + '/v1/accounts/ada';
  const answer = await (await fetch(url, { headers })).json();
  const account = session ? answer.account : answer;
  document.querySelector('#balance').textContent = 'balance ' + account.balance;
  document.body.dataset.ready = session ? 'back' : 'start';
}
document.querySelector('#buy').onclick = async () => {
  const started = await (await fetch(TG + '/v1/checkout', { method: 'POST', headers, body: JSON.stringify({
    userId: 'ada', product: 'starter',
    successUrl: location.origin + '/?session={CHECKOUT_SESSION_ID}', cancelUrl: location.origin + '/' }) })).json();
  location.href = started.url;
};
show();
</script>`;
}

beforeAll(async () => {
  server = await startServer({ env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN } });
  shop = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(shopPage(server.url, project.pk));
  });
  await new Promise((resolve) => shop.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${shop.address().port}`;
  project = await createProject(server, {
    startingCredits: 100,
    allowedOrigins: [origin],
    creditPacks: [{ id: 'starter', name: 'Starter pack', credits: 500, priceMicros: 5000000 }],
  });
  shop.origin = origin;
  fs.mkdirSync(artifacts, { recursive: true });
  chromium = await launchChromium();
  browser = chromium.browser;
}, 60_000);

afterAll(async () => {
  if (chromium) await chromium.close();
  if (shop) await new Promise((resolve) => shop.close(resolve));
  if (server) await server.stop();
});

test('click Pay, land on successUrl, and the account shows the new balance', async () => {
  const page = await browser.newPage();
  await page.goto(shop.origin + '/');
  await page.waitForSelector('body[data-ready="start"]');
  expect(await page.textContent('#balance')).toBe('balance 100');
  await page.click('#buy');
  await page.waitForSelector('#pay');
  expect(page.url()).toMatch(new RegExp(`^${server.url}/checkout/simulate/chk_`));
  expect(await page.textContent('body')).toMatch(/This is a simulated checkout/);
  expect(await page.textContent('.price')).toBe('5.00 USD');
  await page.screenshot({ path: path.join(artifacts, 'simulated-checkout.png') });
  await page.click('#pay');
  await page.waitForSelector('body[data-ready="back"]', { timeout: 15_000 });
  expect(page.url()).toMatch(new RegExp(`^${shop.origin}/\\?session=chk_`));
  expect(await page.textContent('#balance')).toBe('balance 600');
  await page.screenshot({ path: path.join(artifacts, 'simulated-checkout-paid.png') });
  const account = await call(server, 'GET', '/v1/accounts/ada', { key: project.sk });
  expect(account.body).toMatchObject({ balance: 600, purchased: 600 });
}, 30_000);
