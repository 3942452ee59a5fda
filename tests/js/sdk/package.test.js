// @tollgate/sdk as a package: ESM and CJS entry points, one file each with the wasm inside,
// typed errors generated from the C++ enum, and bad input rejected by field.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { root, sdkDist } = require('../helpers/paths');
const { sdk, hmacSigner } = require('../helpers/sdk');

let core;
beforeAll(async () => {
  core = await sdk.loadCore();
});

test('error codes are generated from the C++ enum and match the wasm build', () => {
  expect(core.errorCodeNames()).toEqual([...sdk.ERROR_CODES]);
  const header = fs.readFileSync(path.join(root, 'sdk-core/include/tollgate/core/error.h'), 'utf8');
  for (const code of sdk.ERROR_CODES) {
    expect(header).toContain(`"${code}"`);
    expect(sdk.ERROR_CODE_DOCS[code].length).toBeGreaterThan(10);
  }
});

test('loadCore returns one shared instance', async () => {
  expect(await sdk.loadCore()).toBe(core);
});

test('ESM entry point works from plain Node', () => {
  const script = `
    import { loadCore, TollgateError } from '@tollgate/sdk';
    const core = await loadCore();
    let code = '';
    try { core.money.parseUsd('1e3'); } catch (e) { code = e instanceof TollgateError ? e.code : 'untyped'; }
    console.log(JSON.stringify({ usd: core.money.formatUsd(1500000n), code }));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root });
  expect(JSON.parse(out.toString())).toEqual({ usd: '1.50', code: 'invalid_argument' });
});

test('each build is a single file with the wasm embedded', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'sdk-wasm/package.json'), 'utf8'));
  expect(pkg.exports['.']).toEqual({
    types: './dist/index.d.ts',
    import: './dist/index.mjs',
    require: './dist/index.cjs',
  });
  for (const file of ['index.mjs', 'index.cjs']) {
    const text = fs.readFileSync(path.join(sdkDist, file), 'utf8');
    expect(text).not.toMatch(/\brequire\(["'](fs|path)["']\)/); // no Node-only code for browsers
    expect(text).not.toMatch(/new Function\(|\beval\(/); // strict CSP friendly
  }
  expect(fs.readdirSync(sdkDist).filter((f) => f.endsWith('.wasm'))).toEqual([]);
  // Loading must not reach for the network or the file system to find the wasm.
  const script = `
    globalThis.fetch = () => { throw new Error('fetch called'); };
    const { loadCore } = await import('@tollgate/sdk');
    const core = await loadCore();
    console.log(core.base64url.encode('hi'));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root });
  expect(out.toString().trim()).toBe('aGk');
});

test('.d.ts types compile for a consumer and catch misuse', () => {
  const tsc = require.resolve('typescript/bin/tsc');
  const dir = fs.mkdtempSync(path.join(root, 'build', 'types-'));
  try {
    const write = (body) => fs.writeFileSync(path.join(dir, 'use.ts'), body);
    // Returns tsc's diagnostics ('' when the file type-checks).
    const check = () => {
      try {
        execFileSync(process.execPath, [tsc, '--noEmit', '--strict', '--target', 'es2020', '--moduleResolution', 'node',
          '--module', 'commonjs', '--skipLibCheck', path.join(dir, 'use.ts')], { cwd: root, stdio: 'pipe' });
        return '';
      } catch (error) {
        return error.stdout.toString() || 'tsc failed';
      }
    };
    write(`import { loadCore, TollgateError, type ErrorCode } from '@tollgate/sdk';
      async function main(): Promise<string> {
        const core = await loadCore();
        const code: ErrorCode = 'token_expired';
        const e = new TollgateError(code, 'x');
        return core.money.formatUsd(core.money.add(1n, 2n)) + e.code;
      }
      void main;`);
    expect(check()).toBe('');
    write(`import { loadCore, type ErrorCode } from '@tollgate/sdk';
      const wrong: ErrorCode = 'no_such_code';
      loadCore().then((core) => core.money.add(1, 2));`);
    const errors = check();
    expect(errors).toMatch(/"no_such_code"' is not assignable/);
    expect(errors).toMatch(/'number' is not assignable to parameter of type 'bigint'/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

describe('bad input is a TollgateError naming the field', () => {
  const sign = hmacSigner('00');
  const claims = {
    keyId: 'k', sessionId: 's', projectId: 'p', endUserId: 'u', operations: ['op'], issuedAtMs: 1, expiresAtMs: 2,
  };
  const cases = [
    ['money.add with a number', () => core.money.add(1, 2n), 'invalid_argument', 'a'],
    ['formatUsd with a string', () => core.money.formatUsd('5'), 'invalid_argument', 'micros'],
    ['rate missing', () => core.money.microsToCredits(1n), 'invalid_argument', 'rate'],
    ['rate of numbers', () => core.money.microsToCredits(1n, { credits: 1, micros: 1n }), 'invalid_argument', 'rate.credits'],
    ['claims with a float time', () => core.runtimeToken.encode({ ...claims, issuedAtMs: 1.5 }, sign), 'invalid_argument', 'issuedAtMs'],
    ['claims with numeric operations', () => core.runtimeToken.encode({ ...claims, operations: [1] }, sign), 'invalid_argument', 'operations'],
    ['claims not an object', () => core.runtimeToken.encode(null, sign), 'invalid_argument', 'claims'],
    ['signer not a function', () => core.runtimeToken.encode(claims, 'key'), 'invalid_argument', 'sign'],
    ['signer returns a string', () => core.runtimeToken.encode(claims, () => 'mac'), 'internal', 'signer'],
    ['verify without nowMs', () => core.runtimeToken.verify('tg_rt_a.b', sign, {}), 'invalid_argument', 'nowMs'],
    ['template variable not a string', () => core.template.render('{{n}}', { n: 5 }), 'invalid_argument', 'n'],
    ['template variables not an object', () => core.template.render('{{n}}', null), 'invalid_argument', 'variables'],
  ];
  test.each(cases)('%s', (_name, fn, code, param) => {
    let thrown;
    try {
      fn();
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(sdk.TollgateError);
    expect(thrown).toBeInstanceOf(Error);
    expect(thrown.code).toBe(code);
    expect(thrown.param).toBe(param);
  });

  test('an exception from the signer reaches the caller unchanged', () => {
    const boom = new Error('HSM offline');
    expect(() => core.runtimeToken.encode(claims, () => { throw boom; })).toThrow(boom);
    // The core is still healthy afterwards.
    expect(core.money.formatUsd(1n)).toBe('0.000001');
  });
});

test('template variables come from own properties only', () => {
  expect(() => core.template.render('{{constructor}}', {})).toThrow(
    expect.objectContaining({ code: 'template_variable_missing', param: 'constructor' }),
  );
  const inherited = Object.create({ name: 'from prototype' });
  expect(() => core.template.render('{{name}}', inherited)).toThrow(
    expect.objectContaining({ code: 'template_variable_missing', param: 'name' }),
  );
});

test('a browser-side decode never needs the key, and verify catches a forged token', () => {
  const sign = hmacSigner('aa'.repeat(32));
  const now = 1_800_000_000_000;
  const token = core.runtimeToken.encode(
    { keyId: 'k1', sessionId: 's1', projectId: 'proj_1', endUserId: 'u', operations: ['chat'], issuedAtMs: now, expiresAtMs: now + 60_000 },
    sign,
  );
  expect(core.runtimeToken.decode(token, { nowMs: now + 1, operation: 'chat' }).endUserId).toBe('u');
  expect(() => core.runtimeToken.decode(token, { nowMs: now + 60_000 })).toThrow(/expired/);
  const forged = core.runtimeToken.encode(
    { keyId: 'k1', sessionId: 's1', projectId: 'proj_1', endUserId: 'admin', operations: ['chat'], issuedAtMs: now, expiresAtMs: now + 60_000 },
    hmacSigner('bb'.repeat(32)),
  );
  expect(() => core.runtimeToken.verify(forged, sign, { nowMs: now })).toThrow(
    expect.objectContaining({ code: 'token_signature_invalid' }),
  );
});

test('the packed package holds its README and no declaration larger than 32 KB', () => {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json'], { cwd: path.join(root, 'sdk-wasm') });
  const [{ files }] = JSON.parse(out.toString());
  const names = files.map((f) => f.path);
  expect(names).toContain('README.md');
  expect(names).toContain('dist/index.d.ts');
  const declarations = files.filter((f) => f.path.endsWith('.d.ts'));
  expect(declarations.length).toBeGreaterThan(1);
  for (const file of declarations) expect({ path: file.path, small: file.size <= 32 * 1024 }).toEqual({ path: file.path, small: true });
  // The README's example is what the package does.
  const readme = fs.readFileSync(path.join(root, 'sdk-wasm', 'README.md'), 'utf8');
  expect(readme).toContain("core.money.formatUsd(1_500_000n);        // \"1.50\"");
  expect(core.money.formatUsd(1_500_000n)).toBe('1.50');
});

test("docs/sdk.md's periods-and-holds example prints what its comments say", () => {
  const doc = fs.readFileSync(path.join(root, 'docs', 'sdk.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## Periods and holds'), doc.indexOf('## Prompt templates'));
  const code = /```js\n([\s\S]*?)```/.exec(section)[1];
  // Each statement ends in `; // value`: it must evaluate to that value (a const only binds).
  const pieces = [...code.matchAll(/([\s\S]*?);[ \t]*\/\/ *([^\n]*)\n/g)].map((m) => [m[1].trim(), m[2]]);
  expect(pieces.length).toBe(4);
  let scope = '';
  pieces.forEach(([body, comment]) => {
    const expected = comment.split(/\s+/)[0];
    if (body.startsWith('const ')) {
      scope += `${body};\n`;
      return;
    }
    const value = new Function('core', `${scope}return (${body});`)(core);
    const shown = typeof value === 'bigint' ? `${value}n` : JSON.stringify(value);
    expect(shown).toBe(expected);
  });
});
