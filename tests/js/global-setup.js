// Once per Jest run: the server's OpenAPI document, for helpers/openapi.js to check every answer
// against. Skipped when the server is not built (the SDK suites need none).
const fs = require('node:fs');
const { tollgate } = require('./helpers/paths');
const { SPEC_FILE } = require('./helpers/openapi');
const { startServer } = require('./helpers/server');

module.exports = async function globalSetup() {
  fs.rmSync(SPEC_FILE, { force: true });
  if (!fs.existsSync(tollgate)) return;
  const server = await startServer();
  try {
    const res = await fetch(`${server.url}/openapi.json`);
    if (res.status !== 200) throw new Error(`GET /openapi.json answered ${res.status}`);
    fs.writeFileSync(SPEC_FILE, await res.text());
  } finally {
    await server.stop();
  }
};
