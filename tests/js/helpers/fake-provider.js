// Starts tests/fixtures/fake-provider.js as its own process on a free loopback port.
const { startFixture } = require('./fixture-process');

async function startFakeProvider() {
  const { url, stop } = await startFixture('fake-provider.js', 'fake provider');
  return {
    url,
    async requests() {
      return (await fetch(`${url}/_requests`)).json();
    },
    async reset() {
      await fetch(`${url}/_reset`, { method: 'POST' });
    },
    stop,
  };
}

module.exports = { startFakeProvider };
