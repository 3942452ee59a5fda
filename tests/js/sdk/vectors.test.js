// The wasm build runs the same vector files as the native GoogleTest suite (tests/sdk-core/),
// so the two builds of sdk-core are proven to agree.
const fs = require('node:fs');
const path = require('node:path');
const { vectors } = require('../helpers/paths');
const { sdk, hmacSigner } = require('../helpers/sdk');

const load = (name) => JSON.parse(fs.readFileSync(path.join(vectors, name), 'utf8'));
const hex = (s) => Uint8Array.from(Buffer.from(s, 'hex'));

/** Runs fn; returns "ok" or the TollgateError code it threw. */
function outcome(fn) {
  try {
    fn();
    return 'ok';
  } catch (error) {
    if (!(error instanceof sdk.TollgateError)) throw error;
    return error.code;
  }
}

let core;
beforeAll(async () => {
  core = await sdk.loadCore();
});

describe('base64url vectors', () => {
  const doc = load('base64url.json');
  test.each(doc.roundtrip)('round trip $text', ({ hex: bytes, text }) => {
    expect(core.base64url.encode(hex(bytes))).toBe(text);
    expect(Buffer.from(core.base64url.decode(text)).toString('hex')).toBe(bytes);
  });
  test.each(doc.decode_invalid)('rejects $name', ({ text, code }) => {
    expect(outcome(() => core.base64url.decode(text))).toBe(code);
  });
});

describe('money vectors', () => {
  const doc = load('money.json');
  test.each(doc.arithmetic)('$op $a $b', ({ op, a, b, result, error }) => {
    let got;
    const code = outcome(() => {
      got = core.money[op](BigInt(a), BigInt(b));
    });
    expect(code).toBe(error ?? 'ok');
    if (!error) expect(got).toBe(BigInt(result));
  });
  test.each(doc.convert)('$name', ({ to, amount, rate, result, error }) => {
    const fn = to === 'micros' ? core.money.creditsToMicros : core.money.microsToCredits;
    let got;
    const code = outcome(() => {
      got = fn(BigInt(amount), { credits: BigInt(rate.credits), micros: BigInt(rate.micros) });
    });
    expect(code).toBe(error ?? 'ok');
    if (!error) expect(got).toBe(BigInt(result));
  });
  test.each(doc.format_usd)('format $micros', ({ micros, text }) => {
    expect(core.money.formatUsd(BigInt(micros))).toBe(text);
  });
  test.each(doc.parse_usd)('parse "$text"', ({ text, micros, error }) => {
    let got;
    expect(outcome(() => (got = core.money.parseUsd(text)))).toBe(error ?? 'ok');
    if (!error) expect(got).toBe(BigInt(micros));
  });
});

describe('calendar vectors', () => {
  const doc = load('calendar.json');
  test.each(doc.starts)('$name', ({ timeMs, dayStartMs, monthStartMs, nextMonthStartMs, error }) => {
    const ms = Number(timeMs);
    const got = {};
    for (const [name, fn] of Object.entries({ day: core.calendar.dayStartMs, month: core.calendar.monthStartMs, next: core.calendar.nextMonthStartMs })) {
      expect(outcome(() => (got[name] = fn(ms)))).toBe(error ?? 'ok');
    }
    if (!error) expect(got).toEqual({ day: Number(dayStartMs), month: Number(monthStartMs), next: Number(nextMonthStartMs) });
  });
});

describe('hold pricing vectors', () => {
  const doc = load('pricing.json');
  test.each(doc.hold)('$name', ({ inputPerMillion, outputPerMillion, promptBytes, messages, maxTokens, repair, micros, error }) => {
    let got;
    const code = outcome(() => {
      got = core.pricing.holdWorstCase({
        price: { inputPerMillion: BigInt(inputPerMillion), outputPerMillion: BigInt(outputPerMillion) },
        promptBytes: BigInt(promptBytes),
        messages: BigInt(messages),
        maxTokens: BigInt(maxTokens),
        repair,
      });
    });
    expect(code).toBe(error ?? 'ok');
    if (!error) expect(got).toBe(BigInt(micros));
  });
});

describe('runtime token vectors', () => {
  const doc = load('token.json');
  const sign = hmacSigner(doc.key_hex);
  test.each(doc.encode)('encode $name', ({ claims, token }) => {
    expect(core.runtimeToken.encode(claims, sign)).toBe(token);
    expect(core.runtimeToken.decode(token)).toEqual(claims);
  });
  test.each(doc.encode_invalid)('encode rejects $name', ({ claims, error, param }) => {
    // The vectors name C++ fields (snake_case); the JS API reports the same field in camelCase.
    const camel = param.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
    let thrown;
    try {
      core.runtimeToken.encode(claims, sign);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(sdk.TollgateError);
    expect(thrown.code).toBe(error);
    expect([param, camel]).toContain(thrown.param);
  });
  test.each(doc.decode_invalid)('decode rejects $name', ({ token, error }) => {
    expect(outcome(() => core.runtimeToken.decode(token))).toBe(error);
  });
  test.each(doc.verify)('verify: $name', ({ token, now_ms: nowMs, error }) => {
    expect(outcome(() => core.runtimeToken.verify(token, sign, { nowMs }))).toBe(error ?? 'ok');
  });
  test.each(doc.scope)('scope: $name', ({ token, operation, error }) => {
    expect(outcome(() => core.runtimeToken.decode(token, { operation }))).toBe(error ?? 'ok');
  });
});

describe('template vectors', () => {
  const doc = load('template.json');
  test.each(doc.render)('$name', ({ template, vars, variables, output, error, param }) => {
    let got;
    let thrown;
    try {
      if (variables) expect(core.template.variables(template)).toEqual(variables);
      got = core.template.render(template, vars);
    } catch (e) {
      thrown = e;
    }
    if (error) {
      expect(thrown).toBeInstanceOf(sdk.TollgateError);
      expect(thrown.code).toBe(error);
      if (param) expect(thrown.param).toBe(param);
    } else {
      expect(thrown).toBeUndefined();
      expect(got).toBe(output);
    }
  });
  test.each(doc.parse_invalid)('parse rejects $name', ({ template, error }) => {
    expect(outcome(() => core.template.variables(template))).toBe(error);
  });
  test.each(doc.escape)('escape $text', ({ text, escaped }) => {
    expect(core.template.escape(text)).toBe(escaped);
    expect(core.template.render(`${escaped}{{tail}}`, { tail: '!' })).toBe(`${text}!`);
  });
});

describe('regex vectors', () => {
  const doc = load('regex.json');
  test.each(doc.search)('/$pattern/u', ({ pattern, tests }) => {
    const got = tests.map(({ subject }) => core.structured.matchesPattern(pattern, subject));
    expect(got).toEqual(tests.map(({ matched }) => matched));
  });
  test.each(doc.refused)('refuses $name', ({ pattern, code }) => {
    expect(outcome(() => core.structured.matchesPattern(pattern, ''))).toBe(code);
  });
  test('arguments that are not strings are refused by name', () => {
    let thrown;
    try {
      core.structured.matchesPattern('a', 42);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(sdk.TollgateError);
    expect([thrown.code, thrown.param]).toEqual(['invalid_argument', 'text']);
  });
});

describe('partial JSON vectors', () => {
  const doc = load('partial_json.json');
  /** Feeds the pieces to a fresh parser and finishes it: { value } or { code }. */
  const parse = (pieces) => {
    const parser = core.structured.partialJson();
    try {
      for (const piece of pieces) parser.feed(piece);
      return { value: parser.finish() };
    } catch (error) {
      if (!(error instanceof sdk.TollgateError)) throw error;
      return { code: error.code };
    } finally {
      parser.dispose();
    }
  };

  // Normalized through JSON text: the core reads "-0" as the integer 0, where JSON.parse gives -0.
  const normalized = (value) => JSON.parse(JSON.stringify(value));
  const asNormal = (result) => (result.code ? result : { value: normalized(result.value) });
  test.each(doc.valid)('$name: whole and split at every byte offset', ({ text }) => {
    const bytes = Buffer.from(text, 'utf8');
    const expected = { value: normalized(JSON.parse(text)) };
    expect(asNormal(parse([text]))).toEqual(expected);
    for (let cut = 0; cut <= bytes.length; cut += 1) {
      expect(asNormal(parse([bytes.subarray(0, cut), bytes.subarray(cut)]))).toEqual(expected);
    }
  });

  test.each(doc.invalid)('$name: refused however it is split', ({ text }) => {
    const bytes = Buffer.from(text, 'utf8');
    for (let cut = 0; cut <= bytes.length; cut += 1) {
      expect(parse([bytes.subarray(0, cut), bytes.subarray(cut)])).toEqual({ code: 'json_syntax' });
    }
  });

  test.each(doc.partial)('$name', ({ text, value }) => {
    const parser = core.structured.partialJson();
    try {
      parser.feed(text);
      expect(parser.value()).toEqual(value);
      expect(parser.complete).toBe(false);
      expect(outcome(() => parser.finish())).toBe('json_syntax');
    } finally {
      parser.dispose();
    }
  });

  test('a character split across byte chunks appears only when whole', () => {
    const parser = core.structured.partialJson();
    try {
      const euro = Buffer.from('€', 'utf8');
      parser.feed('["a');
      parser.feed(euro.subarray(0, 2));
      expect(parser.value()).toEqual(['a']);
      parser.feed(euro.subarray(2));
      expect(parser.value()).toEqual(['a€']);
      parser.feed('"]');
      expect(parser.complete).toBe(true);
    } finally {
      parser.dispose();
    }
  });

  test('bad arguments and a disposed parser are refused', () => {
    const parser = core.structured.partialJson();
    expect(outcome(() => parser.feed(42))).toBe('invalid_argument');
    parser.dispose();
    parser.dispose();
    expect(outcome(() => parser.feed('1'))).toBe('invalid_argument');
  });
});

describe('event stream vectors', () => {
  const doc = load('sse.json');
  const parse = (pieces) => {
    const stream = core.stream.sse();
    try {
      return pieces.flatMap((piece) => stream.feed(piece));
    } finally {
      stream.dispose();
    }
  };

  test.each(doc.events)('$name: whole, split at every byte offset, byte by byte', ({ stream, events }) => {
    const bytes = Buffer.from(stream, 'utf8');
    expect(parse([stream])).toEqual(events);
    for (let cut = 0; cut <= bytes.length; cut += 1) {
      expect(parse([bytes.subarray(0, cut), bytes.subarray(cut)])).toEqual(events);
    }
    expect(parse([...bytes].map((b) => Uint8Array.of(b)))).toEqual(events);
  });

  test.each(doc.retry)('$name', ({ stream, retryMs }) => {
    const parser = core.stream.sse();
    try {
      parser.feed(stream);
      expect(parser.retryMs).toBe(retryMs);
    } finally {
      parser.dispose();
    }
  });

  test('pending, bad chunks and a disposed parser', () => {
    const parser = core.stream.sse();
    expect(parser.feed('data: a\n')).toEqual([]);
    expect(parser.pending).toBe(true);
    expect(parser.feed('\n')).toEqual([{ type: 'message', data: 'a', id: '' }]);
    expect(parser.pending).toBe(false);
    expect(outcome(() => parser.feed(null))).toBe('invalid_argument');
    parser.dispose();
    expect(outcome(() => parser.feed('data: b\n\n'))).toBe('invalid_argument');
  });
});
