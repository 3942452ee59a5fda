// Starts tests/fixtures/fake-stripe.js as its own process on a free loopback port.
const { spawn } = require('node:child_process');
const path = require('node:path');
const { root } = require('./paths');

async function startFakeStripe() {
  const proc = spawn(process.execPath, [path.join(root, 'tests', 'fixtures', 'fake-stripe.js'), '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (chunk) => {
      out += chunk;
      const newline = out.indexOf('\n');
      if (newline >= 0) resolve(JSON.parse(out.slice(0, newline)).port);
    });
    proc.on('exit', (code) => reject(new Error(`fake Stripe exited ${code}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    port,
    async requests() {
      return (await fetch(`${url}/_requests`)).json();
    },
    async events() {
      return (await fetch(`${url}/_test/events`)).json();
    },
    async object(id) {
      const res = await fetch(`${url}/_test/objects/${encodeURIComponent(id)}`);
      if (!res.ok) throw new Error(`fake Stripe has no object ${id}: ${res.status}`);
      return res.json();
    },
    async reset() {
      await fetch(`${url}/_reset`, { method: 'POST' });
    },
    // POSTs `body` as JSON to /_test/<path> and answers the parsed JSON; throws on non-2xx.
    async control(controlPath, body = {}) {
      const res = await fetch(`${url}/_test/${controlPath.replace(/^\/+(_test\/)?/, '')}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`fake Stripe ${controlPath} answered ${res.status}: ${text}`);
      return JSON.parse(text);
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      await new Promise((resolve) => proc.on('exit', resolve));
    },
  };
}

module.exports = { startFakeStripe };
