// The data dir is private: created 0700, the SQLite database with its -wal and -shm files and
// master.key 0600; what an earlier start, a restore or an operator left wider is tightened and
// logged; a shared directory is only reported.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { tollgate } = require('../helpers/paths');
const { startServer, tempDir } = require('../helpers/server');
const { ADMIN_TOKEN, call, createProject } = require('../helpers/api');

const FILES = ['tollgate.db', 'tollgate.db-wal', 'tollgate.db-shm', 'master.key'];
const modeOf = (file) => fs.statSync(file).mode & 0o7777;
const modesIn = (dir) => Object.fromEntries(fs.readdirSync(dir).map((name) => [name, modeOf(path.join(dir, name))]));
const allPrivate = (names) => Object.fromEntries(names.map((name) => [name, 0o600]));
const modeEvents = (server) => server.logs.filter((line) => line.event.startsWith('data_file_mode'));

let parent;
beforeEach(() => {
  parent = tempDir();
});
afterEach(() => {
  fs.rmSync(parent, { recursive: true, force: true });
});

test('a first start makes the data dir 0700 and every file in it 0600', async () => {
  const dataDir = path.join(parent, 'nested', 'data');
  const server = await startServer({ dataDir, env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN } });
  try {
    await createProject(server); // a write, so the WAL and its index exist
    expect(modeOf(dataDir)).toBe(0o700);
    expect(Object.keys(modesIn(dataDir)).sort()).toEqual([...FILES].sort());
    expect(modesIn(dataDir)).toEqual(allPrivate(FILES));
    expect(modeEvents(server)).toEqual([]);
  } finally {
    await server.stop();
  }
});

test('a restart tightens files and a directory left wider, logs each, and keeps the data', async () => {
  const dataDir = path.join(parent, 'data');
  const env = { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN };
  const first = await startServer({ dataDir, env });
  const project = await createProject(first);
  await first.stop();
  // As a restore from a backup or an older version might leave them.
  fs.chmodSync(dataDir, 0o755);
  const left = fs.readdirSync(dataDir);
  for (const name of left) fs.chmodSync(path.join(dataDir, name), 0o644);
  expect(left).toEqual(expect.arrayContaining(['tollgate.db', 'master.key']));

  const second = await startServer({ dataDir, env });
  try {
    const current = await call(second, 'GET', '/v1/projects/current', { key: project.sk });
    expect(current.status).toBe(200);
    expect(modeOf(dataDir)).toBe(0o700);
    const now = fs.readdirSync(dataDir);
    expect(now).toEqual(expect.arrayContaining(FILES));
    expect(modesIn(dataDir)).toEqual(allPrivate(now));
    const logged = modeEvents(second).map(({ event, path: file, mode, new_mode: to }) => [event, file, mode, to]);
    expect(logged).toEqual(expect.arrayContaining([
      ['data_file_mode_tightened', dataDir, '0755', '0700'],
      ...left.map((name) => ['data_file_mode_tightened', path.join(dataDir, name), '0644', '0600']),
    ]));
    expect(logged).toHaveLength(left.length + 1);
  } finally {
    await second.stop();
  }
});

test('a shared (sticky) data dir is reported, not changed; the files in it are still 0600', async () => {
  const dataDir = path.join(parent, 'shared');
  fs.mkdirSync(dataDir);
  fs.chmodSync(dataDir, 0o1777);
  const server = await startServer({ dataDir, env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN } });
  try {
    await createProject(server);
    expect(modeOf(dataDir)).toBe(0o1777);
    expect(modesIn(dataDir)).toEqual(allPrivate(FILES));
    const [report, ...others] = modeEvents(server);
    expect(others).toEqual([]);
    expect(report).toMatchObject({ level: 'warn', event: 'data_file_mode_too_wide', path: dataDir, mode: '1777' });
    expect(report.reason).toMatch(/shared/);
  } finally {
    await server.stop();
  }
});

test('`tollgate projects create` on a new data dir makes it private too', () => {
  const dataDir = path.join(parent, 'cli');
  const run = spawnSync(tollgate, ['projects', 'create', '--name', 'cli', '--json', '--data-dir', dataDir], {
    env: { ...process.env, DATABASE_URL: '' }, encoding: 'utf8', timeout: 10_000,
  });
  expect(run.status).toBe(0);
  expect(JSON.parse(run.stdout).secretKey).toMatch(/^sk_/);
  expect(modeOf(dataDir)).toBe(0o700);
  expect(modeOf(path.join(dataDir, 'tollgate.db'))).toBe(0o600);
});
