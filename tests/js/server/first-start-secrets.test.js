// Secrets shown once at start (the admin token on a first start, the demo project's keys) never
// reach a process supervisor's log: without a terminal on stderr, as here, they go to a 0600 file
// in the data dir and only its path is printed and logged; on a terminal they are printed there.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { tollgate } = require('../helpers/paths');
const { startServer, tempDir, firstStartSecrets, SECRETS_FILE } = require('../helpers/server');
const { call, meter } = require('../helpers/api');

const modeOf = (file) => fs.statSync(file).mode & 0o7777;
// No admin token configured (empty counts as unset), so a first start makes one.
const NO_TOKEN = { TOLLGATE_ADMIN_TOKEN: '' };

let parent;
beforeEach(() => {
  parent = tempDir();
});
afterEach(() => {
  fs.rmSync(parent, { recursive: true, force: true });
});

test('a first start writes the admin token and the demo keys to a 0600 file, and stderr and the log hold only its path', async () => {
  const dataDir = path.join(parent, 'data');
  const server = await startServer({ dataDir, args: ['--demo'], env: NO_TOKEN });
  try {
    const secrets = firstStartSecrets(server);
    expect(secrets.file).toBe(path.join(dataDir, SECRETS_FILE));
    expect(modeOf(secrets.file)).toBe(0o600);
    expect(secrets.adminToken).toMatch(/^tgadm_[0-9A-Za-z]{20,}$/);
    expect(secrets.publishableKey).toMatch(/^pk_[0-9A-Za-z]{38}$/);
    expect(secrets.secretKey).toMatch(/^sk_[0-9A-Za-z]{38}$/);

    // The secrets are real: the admin token creates projects, the secret key reads the demo's.
    const created = await call(server, 'POST', '/v1/projects', { key: secrets.adminToken, body: { name: 'from the file' } });
    expect(created.status).toBe(200);
    const current = await call(server, 'GET', '/v1/projects/current', { key: secrets.secretKey });
    expect(current.status).toBe(200);
    expect(current.body.demo).toBe(true);
    expect((await meter(server, secrets.publishableKey, { userId: 'u1', event: 'try' })).status).toBe(200);

    // Neither stderr nor the JSON log on stdout holds any of them; both name the file.
    const stderr = server.stderr();
    const logged = JSON.stringify(server.logs);
    for (const secret of [secrets.adminToken, secrets.publishableKey, secrets.secretKey]) {
      expect(stderr).not.toContain(secret);
      expect(logged).not.toContain(secret);
    }
    expect(stderr).not.toMatch(/tgadm_|pk_|sk_/);
    expect(stderr).toContain(secrets.file);
    const lines = server.logs.filter((l) => l.event === 'one_time_secrets_written');
    expect(lines.map((l) => [l.level, l.path])).toEqual([['warn', secrets.file], ['warn', secrets.file]]);
    expect(lines.map((l) => l.what).join('\n')).toMatch(/admin token[^]*demo project proj_/);
  } finally {
    await server.stop();
  }

  // A restart makes no new secret: the file is left as it was and nothing is logged.
  const before = fs.readFileSync(path.join(dataDir, SECRETS_FILE), 'utf8');
  const again = await startServer({ dataDir, args: ['--demo'], env: NO_TOKEN });
  try {
    expect(again.logs.filter((l) => l.event === 'one_time_secrets_written')).toEqual([]);
    expect(fs.readFileSync(path.join(dataDir, SECRETS_FILE), 'utf8')).toBe(before);
    expect(again.stderr()).toBe('');
  } finally {
    await again.stop();
  }
});

test('a file left wider is tightened to 0600 before a secret is appended to it', async () => {
  const dataDir = path.join(parent, 'data');
  fs.mkdirSync(dataDir, { mode: 0o700 });
  const file = path.join(dataDir, SECRETS_FILE);
  fs.writeFileSync(file, 'an older entry\n');
  fs.chmodSync(file, 0o644);
  const server = await startServer({ dataDir, env: NO_TOKEN });
  try {
    expect(modeOf(file)).toBe(0o600);
    const secrets = firstStartSecrets(server);
    expect(secrets.text.startsWith('an older entry\n')).toBe(true);
    expect(secrets.adminToken).toMatch(/^tgadm_/);
    expect(secrets.publishableKey).toBeUndefined(); // no --demo, no demo keys
  } finally {
    await server.stop();
  }
});

test('a symlink in the file\'s place is refused: the server stops, naming the file, and writes nothing through it', async () => {
  const dataDir = path.join(parent, 'data');
  fs.mkdirSync(dataDir, { mode: 0o700 });
  const target = path.join(parent, 'elsewhere.txt');
  fs.writeFileSync(target, '');
  fs.symlinkSync(target, path.join(dataDir, SECRETS_FILE));
  await expect(startServer({ dataDir, env: NO_TOKEN })).rejects.toThrow(/tollgate exited 1: .*first-start-secrets\.txt/);
  expect(fs.readFileSync(target, 'utf8')).toBe('');
});

test('with a terminal on stderr the secrets are printed there and no file is written', async () => {
  const dataDir = path.join(parent, 'data');
  // script(1) gives the server a pseudo-terminal for stdin, stdout and stderr.
  const command = [tollgate, 'serve', '--port', '0', '--data-dir', dataDir, '--demo'].map((a) => `'${a}'`).join(' ');
  const child = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], {
    env: { ...process.env, ...NO_TOKEN, DATABASE_URL: '' }, stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  try {
    for (let i = 0; i < 200 && !output.includes('"event":"listening"'); i += 1) await new Promise((r) => setTimeout(r, 50));
    expect(output).toContain('"event":"listening"');
    expect(output).toMatch(/admin token created[^\n]*\n\s+tgadm_[0-9A-Za-z]+/);
    expect(output).toMatch(/publishable key: pk_[0-9A-Za-z]{38}/);
    expect(output).toMatch(/secret key: +sk_[0-9A-Za-z]{38}/);
    expect(output).not.toContain('one_time_secrets_written');
    expect(fs.existsSync(path.join(dataDir, SECRETS_FILE))).toBe(false);
  } finally {
    // Ctrl-C on the terminal reaches the server (its foreground process), which stops cleanly.
    child.stdin.write('\x03');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
});
