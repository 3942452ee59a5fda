// Docs that run: each walkthrough in docs/ is followed top to bottom, as a newcomer who has just
// run `make run` would, against its own fresh `tollgate serve --demo`. Every command block runs,
// and every sample answer is compared with what the server really said. The conventions are in
// tests/js/helpers/walkthrough.js and docs/development.md ("Docs that run").
const fs = require('node:fs');
const path = require('node:path');
const { startServer, tempDir, firstStartSecrets } = require('../helpers/server');
const { root, tollgate } = require('../helpers/paths');
const {
  parseWalkthrough,
  mask,
  compareOutput,
  compareStderr,
  runWalkthrough,
  demoKeys,
} = require('../helpers/walkthrough');

const DOCS = ['metering.md', 'features.md', 'keys.md', 'plans.md', 'billing.md', 'gateway.md'];

/**
 * What a reader's terminal shows on a first `--demo` start. In a terminal the server prints the
 * one-time secrets on stderr; the test's server has no terminal, so it wrote them, with the same
 * titles and lines, to the data dir's secrets file (server/log/one_time_secrets.h) before it
 * logged "listening". The file's entries are turned back into what the terminal would show.
 */
function terminalView(server) {
  const { text } = firstStartSecrets(server);
  if (!/secret key:\s+sk_\S+\n/.test(text)) throw new Error(`no demo keys in the secrets file: ${text}`);
  return text
    .replace(/ \(shown once, store it now\), written [^\n]*:$/gm, ' (shown once, store it now):')
    .replace(/^# Copy it somewhere safe, then delete this file\.\n\n?/gm, '');
}

/**
 * A reader's checkout: `build/bin/tollgate` (the binary under test) and `./data`, the data dir
 * of a server started as `make run` starts it.
 */
async function startReaderServer() {
  const workDir = tempDir('tollgate-docs-');
  fs.mkdirSync(path.join(workDir, 'build', 'bin'), { recursive: true });
  fs.symlinkSync(tollgate, path.join(workDir, 'build', 'bin', 'tollgate'));
  const server = await startServer({ args: ['--demo', '--allow-private-upstreams'], dataDir: path.join(workDir, 'data') });
  const stderr = terminalView(server);
  return {
    server,
    workDir,
    stderr,
    keys: demoKeys(stderr),
    async stop() {
      await server.stop();
      fs.rmSync(workDir, { recursive: true, force: true });
    },
  };
}

describe('the comparison of outputs with samples', () => {
  const answer = '{"userId":"alice","balance":570,"createdAtMs":1796229984961,"entryId":"le_3"}';

  test('a right sample matches, with times masked and a wrapped json sample', () => {
    const sample = '{"userId":"alice","balance":570,\n "createdAtMs":1795447125841,"entryId":"le_3"}';
    expect(compareOutput(answer, { lang: 'json', text: sample }).ok).toBe(true);
  });

  test('a wrong balance fails', () => {
    const wrong = '{"userId":"alice","balance":565,"createdAtMs":1795447125841,"entryId":"le_3"}';
    expect(compareOutput(answer, { lang: 'json', text: wrong }).ok).toBe(false);
  });

  test('ids that do not vary (ledger entries) are compared', () => {
    const wrong = '{"userId":"alice","balance":570,"createdAtMs":1,"entryId":"le_4"}';
    expect(compareOutput(answer, { lang: 'json', text: wrong }).ok).toBe(false);
  });

  test('… stands for any text, and only there', () => {
    expect(compareOutput(answer, { lang: 'json', text: '{"userId":"alice",…,"entryId":"le_3"}' }).ok).toBe(true);
    expect(compareOutput(answer, { lang: 'json', text: '{"userId":"bob",…}' }).ok).toBe(false);
    expect(compareOutput(answer, { lang: 'json', text: '{"userId":"alice"}' }).ok).toBe(false);
  });

  test('mask replaces keys, tokens, random ids and times, and nothing else', () => {
    const text = '{"id":"proj_NfRI020lReUyBCRPJxqq","secretKey":"sk_Bf42f6ltWUv1wunOi4eE22vk3hB7dB0m1euOZD",' +
      '"token":"tg_rt_eyJ2.abc-d","req":"req_c5c24931cfeaa515","expiresAtMs":1795450711311,"entryId":"le_3","cost":5}';
    expect(mask(text)).toBe('{"id":"proj_<id>","secretKey":"sk_<key>","token":"tg_rt_<token>","req":"req_<id>",' +
      '"expiresAtMs":<ms>,"entryId":"le_3","cost":5}');
  });

  test('text samples compare line by line, and CRLF headers match LF samples', () => {
    const out = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nx-request-id: req_1a2b\r\n\r\n{"allowed":true}';
    expect(compareOutput(out, { lang: 'text', text: 'HTTP/1.1 200 OK\n…\n\n{"allowed":true}' }).ok).toBe(true);
    expect(compareOutput(out, { lang: 'text', text: 'HTTP/1.1 402 Payment Required\n…' }).ok).toBe(false);
  });

  test('a stderr sample must appear in what the server printed', () => {
    const stderr = 'tollgate: demo project proj_abc created\n  secret key:      sk_Zz9\n';
    expect(compareStderr(stderr, 'tollgate: demo project proj_NfRI created').ok).toBe(true);
    expect(compareStderr(stderr, 'tollgate: demo project proj_NfRI deleted').ok).toBe(false);
  });
});

describe('the walkthrough runner', () => {
  const markdown = [
    'Set a value, then print it:',
    '```sh',
    'N=41',
    '```',
    '<!-- not run -->',
    '```sh',
    'exit 1',
    '```',
    '```sh',
    'echo "{\\"n\\":$((N + 1))}"',
    '```',
    '',
    '```json',
    '{"n":42}',
    '```',
  ].join('\n');
  let workDir;
  beforeAll(() => (workDir = tempDir('tollgate-docs-unit-')));
  afterAll(() => fs.rmSync(workDir, { recursive: true, force: true }));
  const run = (md) => runWalkthrough('unit.md', parseWalkthrough(md), { url: 'http://127.0.0.1:1', keys: {}, workDir });

  test('parses blocks, markers and samples', () => {
    const { steps } = parseWalkthrough(markdown);
    expect(steps.map((s) => [s.skip, s.expected && s.expected.text])).toEqual([[false, null], [true, null], [false, '{"n":42}']]);
  });

  test('runs blocks in order, keeps variables, skips "not run" blocks', async () => {
    await expect(run(markdown)).resolves.toEqual({ ran: 2, checked: 1 });
  });

  test('a deliberately wrong sample fails, naming its line', async () => {
    await expect(run(markdown.replace('{"n":42}', '{"n":43}'))).rejects.toThrow(/unit\.md:9: the output differs from the sample at line 13/);
  });

  test('a failing command fails its block', async () => {
    await expect(run('```sh\nfalse\necho never\n```\n')).rejects.toThrow(/unit\.md:1: the block failed/);
  });

  test('a block without a sample must not print an API error', async () => {
    const md = '```sh\necho \'{"error":{"type":"invalid_request_error","code":"bad"}}\'\n```\n';
    await expect(run(md)).rejects.toThrow(/printed an API error/);
  });
});

// Samples that count by UTC day (analytics' series) would split in two if a page's run crossed
// midnight; a run takes well under a second, so one starting this close to midnight waits it out.
const MIDNIGHT_MARGIN_MS = 15_000;
async function awayFromUtcMidnight() {
  const now = Date.now();
  const toMidnight = 86_400_000 - (now % 86_400_000);
  if (toMidnight < MIDNIGHT_MARGIN_MS) await new Promise((resolve) => setTimeout(resolve, toMidnight + 1_000));
}

describe.each(DOCS)('docs/%s, followed from the top on a fresh demo server', (doc) => {
  let reader;
  beforeAll(async () => (reader = await startReaderServer()));
  afterAll(async () => reader && reader.stop());

  test('every block runs and every sample answer matches', async () => {
    const parsed = parseWalkthrough(fs.readFileSync(path.join(root, 'docs', doc), 'utf8'));
    await awayFromUtcMidnight();
    const result = await runWalkthrough(`docs/${doc}`, parsed, {
      url: reader.server.url,
      keys: reader.keys,
      workDir: reader.workDir,
      serverStderr: reader.stderr,
      // The reader has installed the clients a page uses (`npm install openai`); here they are
      // the repository's own, which the page's scripts require.
      env: { ...process.env, NODE_PATH: path.join(root, 'node_modules') },
    });
    // A walkthrough that stopped being parsed would pass with nothing checked.
    expect(result.ran).toBeGreaterThanOrEqual(3);
    expect(result.checked).toBeGreaterThanOrEqual(3);
  }, 40_000);
});
