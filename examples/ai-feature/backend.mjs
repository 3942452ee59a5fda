// Step 2, on your backend: mint a short-lived runtime session for the signed-in user and serve
// the page. The secret key never leaves this process. Tollgate lets a page read its answers only
// from origins the project lists, so this backend adds its own at start.
// Run: TOLLGATE_SECRET_KEY=sk_... node backend.mjs   then open the printed URL.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

const tollgateUrl = process.env.TOLLGATE_URL || 'http://localhost:8787';
const secretKey = process.env.TOLLGATE_SECRET_KEY;
if (!secretKey) {
  console.error('set TOLLGATE_SECRET_KEY to your project\'s secret key (sk_...)');
  process.exit(2);
}
const require = createRequire(import.meta.url);
const sdkBrowserBuild = require.resolve('@tollgate/sdk').replace(/index\.cjs$/, 'index.mjs');

// Your app knows who is signed in; this example pretends it is always the same user.
const signedInUser = (req) => req.headers['x-demo-user'] || 'user_123';

async function mintSession(userId) {
  const res = await fetch(`${tollgateUrl}/v1/runtime/sessions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${secretKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ endUserId: userId, operationIds: ['triage_ticket'], ttlMinutes: 15 }),
  });
  return { status: res.status, body: await res.json() };
}

// Adds the page's origins to the project's allowedOrigins (a one-time setting; in production set
// it once with PATCH /v1/projects/current).
async function allowPageOrigins(origins) {
  const headers = { authorization: `Bearer ${secretKey}`, 'content-type': 'application/json' };
  const project = await (await fetch(`${tollgateUrl}/v1/projects/current`, { headers })).json();
  if (!project.settings) throw new Error(`reading the project: ${JSON.stringify(project.error)}`);
  const allowed = project.settings.allowedOrigins;
  const missing = origins.filter((origin) => !allowed.includes(origin));
  if (missing.length === 0) return;
  const res = await fetch(`${tollgateUrl}/v1/projects/current`, {
    method: 'PATCH', headers, body: JSON.stringify({ allowedOrigins: [...allowed, ...missing] }),
  });
  if (!res.ok) throw new Error(`allowing ${missing.join(', ')}: ${JSON.stringify((await res.json()).error)}`);
}

const server = createServer(async (req, res) => {
  try {
    if (req.method === 'GET' && req.url === '/') {
      const page = (await readFile(new URL('./page.html', import.meta.url), 'utf8')).replace('__TOLLGATE_URL__', tollgateUrl);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      return res.end(page);
    }
    if (req.method === 'GET' && req.url === '/tollgate-sdk.mjs') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      return res.end(await readFile(sdkBrowserBuild));
    }
    if (req.method === 'POST' && req.url === '/api/ai-session') {
      const minted = await mintSession(signedInUser(req));
      // Only the token and its expiry go to the page.
      const { token, expiresAtMs } = minted.body;
      res.writeHead(minted.status, { 'content-type': 'application/json' });
      return res.end(JSON.stringify(minted.status === 200 ? { token, expiresAtMs } : minted.body));
    }
    res.writeHead(404).end();
  } catch (error) {
    res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ error: String(error.message) }));
  }
});

server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', async () => {
  const { port } = server.address();
  try {
    await allowPageOrigins([`http://127.0.0.1:${port}`, `http://localhost:${port}`]);
  } catch (error) {
    console.error(error.message);
    process.exit(1);
  }
  console.log(JSON.stringify({ url: `http://127.0.0.1:${port}` }));
});
