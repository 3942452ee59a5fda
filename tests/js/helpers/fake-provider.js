// Starts tests/fixtures/fake-provider.js as its own process on a free loopback port.
const { spawn } = require('node:child_process');
const path = require('node:path');
const { root } = require('./paths');

async function startFakeProvider() {
  const proc = spawn(process.execPath, [path.join(root, 'tests', 'fixtures', 'fake-provider.js'), '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (chunk) => {
      out += chunk;
      const newline = out.indexOf('\n');
      if (newline >= 0) resolve(JSON.parse(out.slice(0, newline)).port);
    });
    proc.on('exit', (code) => reject(new Error(`fake provider exited ${code}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    async requests() {
      return (await fetch(`${url}/_requests`)).json();
    },
    async reset() {
      await fetch(`${url}/_reset`, { method: 'POST' });
    },
    async stop() {
      proc.kill('SIGTERM');
      await new Promise((resolve) => proc.on('exit', resolve));
    },
  };
}

module.exports = { startFakeProvider };
