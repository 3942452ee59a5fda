// Runs the walkthroughs in docs/*.md as a reader would, and checks every sample answer.
//
// Conventions (also in docs/development.md, "Docs that run"):
// - Every ```sh block is run with bash, in order, each block on its own with `set -e`. Shell
//   variables carry over from one block to the next, as in a reader's terminal.
// - The ```json or ```text block right after a ```sh block (nothing but blank lines between) is
//   that block's expected output. Both sides are masked (ids, keys, tokens, times; see mask())
//   and compared. In the sample, `…` stands for any text. In a json sample, line breaks and the
//   indentation after them are ignored, so a long answer may be wrapped.
// - A ```sh block with no sample must not print an API error ({"error":{…}}).
// - `<!-- not run -->` (or `<!-- not run: why -->`) on the line before a ```sh block skips it
//   and its sample.
// - `<!-- stderr -->` on the line before a ```text block checks it against what the server
//   printed on stderr (the keys shown on first start).
// - A reader copies their own values in: `http://localhost:8787`, `sk_...`, `pk_...` and
//   `tgadm_...` in a block are replaced by the test server's URL and keys before it runs.
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const BLOCK_TIMEOUT_MS = 10_000;
const ERROR_SHAPE = /\{"error":\{"type"/;

/** Splits markdown into steps: {line, code, skip, expected: {lang, text, line} | null}, and stderr samples. */
function parseWalkthrough(markdown) {
  const lines = markdown.split('\n');
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```([A-Za-z]*)\s*$/.exec(lines[i]);
    if (!open) continue;
    const indent = open[1].length;
    const body = [];
    let j = i + 1;
    while (j < lines.length && !/^\s*```\s*$/.test(lines[j])) body.push(lines[j++].slice(indent));
    if (j >= lines.length) throw new Error(`unclosed code block at line ${i + 1}`);
    let before = i - 1;
    while (before >= 0 && lines[before].trim() === '') before--;
    const marker = before >= 0 ? /^\s*<!--\s*(not run|stderr)\b.*-->\s*$/.exec(lines[before]) : null;
    blocks.push({ lang: open[2], text: body.join('\n'), line: i + 1, start: i, end: j, marker: marker && marker[1], prev: before });
    i = j;
  }
  const steps = [];
  const stderrSamples = [];
  for (let b = 0; b < blocks.length; b++) {
    const block = blocks[b];
    if (block.marker === 'stderr') {
      stderrSamples.push({ text: block.text, line: block.line });
      continue;
    }
    if (block.lang !== 'sh') continue;
    const next = blocks[b + 1];
    const follows = next && (next.lang === 'json' || next.lang === 'text') && next.prev === block.end && !next.marker;
    steps.push({
      line: block.line,
      code: block.text,
      skip: block.marker === 'not run',
      expected: follows ? { lang: next.lang, text: next.text, line: next.line } : null,
    });
    if (follows) b++;
  }
  return { steps, stderrSamples };
}

/** Replaces what differs from run to run (ids, keys, tokens, times) with fixed placeholders. */
function mask(text) {
  return text
    .replace(/\btg_rt_[A-Za-z0-9._-]+/g, 'tg_rt_<token>')
    .replace(/\b(pk|sk|tgk|tgadm)_[A-Za-z0-9]+/g, '$1_<key>')
    .replace(/\b(proj|op|rts|hold|key|req|rtk|evt|whd|chk|cs|sub_sim|sub|cus)_[A-Za-z0-9]+/g, '$1_<id>')
    .replace(/("[A-Za-z]*Ms"\s*:\s*)\d+/g, '$1<ms>')
    .replace(/("hint"\s*:\s*)"[^"]*"/g, '$1"<hint>"');
}

function normalize(text, lang) {
  let out = text.replace(/\r\n/g, '\n');
  if (lang === 'json') return out.replace(/\n\s*/g, '').trim();
  return out
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n')
    .trim();
}

/** Whether `actual` output matches the sample `expected` ({lang, text}); `…` matches any text. */
function compareOutput(actual, expected) {
  const got = mask(normalize(actual, expected.lang));
  const want = mask(normalize(expected.text, expected.lang));
  const pattern = want
    .split('…')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('[\\s\\S]*?');
  return { ok: new RegExp(`^${pattern}$`).test(got), got, want };
}

/** Whether the server's stderr contains the sample (masked, `…` as above), as whole lines. */
function compareStderr(stderr, sample) {
  const result = compareOutput(stderr, { lang: 'text', text: `…${sample}…` });
  return { ok: result.ok, got: mask(normalize(stderr, 'text')), want: mask(sample) };
}

/** The reader's substitutions: their server's URL and the keys it printed. */
function substitute(code, values) {
  let out = code.split('http://localhost:8787').join(values.url);
  for (const [placeholder, value] of Object.entries(values.keys)) out = out.split(placeholder).join(value);
  return out;
}

/** Runs one block in `workDir` with bash, restoring and saving shell variables in `stateFile`. */
function runBlock(code, { workDir, stateFile, env }) {
  const script = [
    `[ -f ${JSON.stringify(stateFile)} ] && . ${JSON.stringify(stateFile)}`,
    `cd ${JSON.stringify(workDir)}`,
    'set -e -a', // -a: every variable a block sets is exported, so the state file keeps it.
    code,
    `export -p > ${JSON.stringify(stateFile)}`,
  ].join('\n');
  return new Promise((resolve) => {
    execFile('bash', ['-c', script], { env, timeout: BLOCK_TIMEOUT_MS, maxBuffer: 4 << 20 }, (error, stdout, stderr) =>
      resolve({ code: error ? (error.code ?? error.signal) : 0, stdout, stderr }),
    );
  });
}

/** Parses keys printed on stderr by a first `--demo` start. */
function demoKeys(stderr) {
  const find = (re) => {
    const m = re.exec(stderr);
    if (!m) throw new Error(`no ${re} in the server's stderr: ${stderr}`);
    return m[1];
  };
  return {
    'pk_...': find(/publishable key:\s+(pk_[A-Za-z0-9]+)/),
    'sk_...': find(/secret key:\s+(sk_[A-Za-z0-9]+)/),
    'tgadm_...': find(/^\s+(tgadm_[A-Za-z0-9]+)$/m),
  };
}

/**
 * Runs the steps of one walkthrough in order; throws at the first failure, naming the doc's line.
 * Returns {ran, checked}: how many blocks ran and how many samples were compared.
 */
async function runWalkthrough(docName, parsed, { url, keys, workDir, serverStderr = '', env = process.env }) {
  const stateFile = path.join(workDir, '.walkthrough-state.sh');
  fs.rmSync(stateFile, { force: true });
  const shellEnv = { ...env, NO_PROXY: '*', no_proxy: '*' };
  for (const name of ['TG', 'SK', 'PK', 'ADMIN', 'TOKEN', 'http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY']) delete shellEnv[name];
  let ran = 0;
  let checked = 0;
  for (const sample of parsed.stderrSamples) {
    const result = compareStderr(serverStderr, sample.text);
    if (!result.ok) throw new Error(`${docName}:${sample.line}: the server's stderr does not show this sample.\n--- sample (masked)\n${result.want}\n--- stderr (masked)\n${result.got}`);
    checked++;
  }
  for (const step of parsed.steps) {
    if (step.skip) continue;
    const out = await runBlock(substitute(step.code, { url, keys }), { workDir, stateFile, env: shellEnv });
    ran++;
    const where = `${docName}:${step.line}`;
    if (out.code !== 0) throw new Error(`${where}: the block failed (${out.code}).\n--- stdout\n${out.stdout}\n--- stderr\n${out.stderr}`);
    if (step.expected) {
      const result = compareOutput(out.stdout, step.expected);
      if (!result.ok) throw new Error(`${where}: the output differs from the sample at line ${step.expected.line}.\n--- sample (masked)\n${result.want}\n--- output (masked)\n${result.got}`);
      checked++;
    } else if (ERROR_SHAPE.test(out.stdout)) {
      throw new Error(`${where}: the block has no sample, and printed an API error:\n${out.stdout}`);
    }
  }
  return { ran, checked };
}

module.exports = { parseWalkthrough, mask, compareOutput, compareStderr, substitute, runBlock, demoKeys, runWalkthrough };
