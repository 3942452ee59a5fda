// Starts tests/fixtures/fake-stripe.js as its own process on a free loopback port.
const { startFixture } = require('./fixture-process');

async function startFakeStripe() {
  const { url, port, stop } = await startFixture('fake-stripe.js', 'fake Stripe');
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
    stop,
  };
}

module.exports = { startFakeStripe };
