// Starts a stand-in under tests/fixtures/ as its own process on a free loopback port: it prints
// {"port":N} on its first line. Returns {proc, url, port, stop()}.
const { spawn } = require('node:child_process');
const path = require('node:path');
const { root } = require('./paths');

async function startFixture(file, what) {
  const proc = spawn(process.execPath, [path.join(root, 'tests', 'fixtures', file), '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (chunk) => {
      out += chunk;
      const newline = out.indexOf('\n');
      if (newline >= 0) resolve(JSON.parse(out.slice(0, newline)).port);
    });
    proc.on('exit', (code) => reject(new Error(`${what} exited ${code}`)));
  });
  return {
    proc,
    port,
    url: `http://127.0.0.1:${port}`,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      await new Promise((resolve) => proc.on('exit', resolve));
    },
  };
}

module.exports = { startFixture };
