/**
 * @tollgate/sdk: Tollgate's C++ core compiled to WebAssembly. The same code runs inside the
 * tollgate server, so tokens, money and templates give identical answers in both places.
 *
 * ```ts
 * import { loadCore } from '@tollgate/sdk';
 * const core = await loadCore();
 * core.money.formatUsd(1_500_000n); // "1.50"
 * ```
 */
import { TollgateError, unwrap, type RawResult } from './errors';
import type { RuntimeClaims } from './claims';
import type { CreateCore, RawCore, RawPartialJsonParser, RawSigner, RawSseParser } from './glue';
import createTollgateCore from './generated/tollgate-core-glue.js';
import { WASM_BASE64 } from './generated/wasm-binary';

export type { RuntimeClaims } from './claims';
export { TollgateError } from './errors';
export { ERROR_CODES, ERROR_CODE_DOCS, type ErrorCode } from './generated/error-codes';

/** Computes the raw signature (e.g. HMAC-SHA256) of a token's signing input. Server-side only. */
export type Signer = (signingInput: string) => Uint8Array;

/** `credits` credits are worth `micros` USD micros. Both positive. */
export interface Rate {
  credits: bigint;
  micros: bigint;
}

/** The inputs of `pricing.holdWorstCase`. */
export interface HoldBound {
  price: { inputPerMillion: bigint; outputPerMillion: bigint };
  promptBytes: bigint;
  messages: bigint;
  maxTokens: bigint;
  repair: boolean;
}

export interface TollgateCore {
  base64url: {
    /** Unpadded base64url of bytes, or of a string's UTF-8 bytes. */
    encode(input: Uint8Array | string): string;
    /** Decodes canonical unpadded base64url; throws `base64_invalid` otherwise. */
    decode(text: string): Uint8Array;
  };
  /** int64 money. Amounts are bigint; every operation throws `overflow` rather than wrap. */
  money: {
    add(a: bigint, b: bigint): bigint;
    sub(a: bigint, b: bigint): bigint;
    mul(a: bigint, factor: bigint): bigint;
    /** Credits to USD micros, rounding up. */
    creditsToMicros(credits: bigint, rate: Rate): bigint;
    /** USD micros to credits, rounding up, so a charge is never under-counted. */
    microsToCredits(micros: bigint, rate: Rate): bigint;
    /** 1_500_000n -> "1.50". */
    formatUsd(micros: bigint): string;
    /** "1.50" -> 1_500_000n, exactly; at most six decimals. */
    parseUsd(text: string): bigint;
  };
  /**
   * The UTC calendar of the ledger's periods: days and months start at 00:00 UTC. Times are Unix
   * ms (numbers) from 1970 to the end of 9999; `invalid_argument` otherwise.
   */
  calendar: {
    dayStartMs(ms: number): number;
    monthStartMs(ms: number): number;
    /** When a monthly period holding `ms` resets. */
    nextMonthStartMs(ms: number): number;
  };
  pricing: {
    /**
     * What a feature call may cost at most, in USD micros: what the server's hold reserves for
     * it. `price` is the dearer of every model that may answer; `repair` when a response format
     * may need one repair call.
     */
    holdWorstCase(bound: HoldBound): bigint;
  };
  runtimeToken: {
    /** Signs claims into a `tg_rt_…` token. Needs the signing key: server-side only. */
    encode(claims: RuntimeClaims, sign: Signer): string;
    /**
     * Reads a token's claims WITHOUT verifying its signature, e.g. to show a browser user when
     * their session ends. Pass `nowMs` to also check expiry and `operation` to check scope.
     * The server verifies every token it receives; never trust these claims for access control.
     */
    decode(token: string, check?: { nowMs?: number; operation?: string }): RuntimeClaims;
    /** Verifies the signature in constant time, then the expiry at `nowMs`. */
    verify(token: string, sign: Signer, options: { nowMs: number }): RuntimeClaims;
  };
  template: {
    /** The distinct `{{variables}}` of a template, in order of first use. */
    variables(source: string): string[];
    /** Renders a template; throws `template_variable_missing` naming the first missing one. */
    render(source: string, variables: Record<string, string>): string;
    /** Escapes text so that, placed in a template, it renders back to itself. */
    escape(text: string): string;
  };
  structured: {
    /**
     * Starts an incremental parser for JSON that arrives in pieces, e.g. a streamed structured
     * output. The same C++ parser runs in the tollgate server.
     *
     * ```ts
     * const parser = core.structured.partialJson();
     * try {
     *   for await (const chunk of stream) { parser.feed(chunk); render(parser.value()); }
     *   return parser.finish();
     * } finally { parser.dispose(); }
     * ```
     */
    partialJson(): PartialJson;
    /**
     * Whether `text` contains a match of `pattern`, exactly as the tollgate server checks a JSON
     * Schema `pattern`: ECMAScript syntax read with the `u` flag, in time linear in the text.
     * Throws `invalid_argument` for a pattern the server refuses (backreferences, lookaround,
     * `\p{...}`, invalid syntax) and `payload_too_large` for one over 1,024 bytes or whose
     * counted repetition expands past 4,096 instructions.
     *
     * ```ts
     * core.structured.matchesPattern('^[a-z]+-[0-9]{2}$', 'abc-12'); // true
     * ```
     */
    matchesPattern(pattern: string, text: string): boolean;
  };
  stream: {
    /** Starts a text/event-stream parser, the one the tollgate server uses. Call dispose(). */
    sse(): SseStream;
  };
  /** The error code names the wasm core was built with (equal to ERROR_CODES). */
  errorCodeNames(): string[];
}

/**
 * Parses JSON fed in pieces (split anywhere, even inside a character) and shows the value so far:
 * complete members and elements, strings as far as they arrived, open objects and arrays with
 * what they hold. Keys whose value has not started, and numbers or literals that have not ended,
 * are left out until they are whole. Strict RFC 8259; throws `json_syntax` naming the byte offset.
 * Holds wasm memory: call dispose() (finish() does not free it).
 */
export interface PartialJson {
  /** Feeds the next piece: text (sent as UTF-8) or raw bytes. */
  feed(chunk: string | Uint8Array): void;
  /** The value so far (null before anything arrived). Costs O(size of the value) per call. */
  value(): unknown;
  /** True once a whole top-level value has arrived. */
  readonly complete: boolean;
  /** Ends the stream and returns the whole value; throws `json_syntax` if it is unfinished. */
  finish(): unknown;
  /** Frees the parser's wasm memory. Safe to call more than once. */
  dispose(): void;
}

/** One server-sent event. `id` is the last `id` the stream sent, or "". */
export interface SseEvent {
  type: string;
  data: string;
  id: string;
}

/**
 * Parses a text/event-stream as the WHATWG spec reads it: pieces may split anywhere (even a
 * CRLF or a character); a blank line ends each event. Holds wasm memory: call dispose().
 */
export interface SseStream {
  /** Feeds the next piece (text is sent as UTF-8) and returns the events it completed. */
  feed(chunk: string | Uint8Array): SseEvent[];
  /** The reconnection time the stream last asked for with `retry`, or null. */
  readonly retryMs: number | null;
  /** True while an event has started that no blank line has ended yet. */
  readonly pending: boolean;
  /** Frees the parser's wasm memory. Safe to call more than once. */
  dispose(): void;
}

function handleGuard<T extends { delete(): void }>(handle: T, what: string) {
  let live: T | null = handle;
  return {
    get(): T {
      if (!live) throw new TollgateError('invalid_argument', `this ${what} was disposed`, 'parser');
      return live;
    },
    dispose() {
      live?.delete();
      live = null;
    },
  };
}

function toBytes(chunk: unknown): Uint8Array {
  if (typeof chunk === 'string') return new TextEncoder().encode(chunk);
  if (chunk instanceof Uint8Array) return chunk;
  throw new TollgateError('invalid_argument', 'chunk must be a string or a Uint8Array', 'chunk');
}

function sse(raw: RawCore): SseStream {
  const handle = handleGuard<RawSseParser>(new raw.SseParser(), 'event stream parser');
  return {
    feed: (chunk) => unwrap(handle.get().feed(toBytes(chunk))),
    get retryMs() {
      return handle.get().retryMs();
    },
    get pending() {
      return handle.get().pending();
    },
    dispose: () => handle.dispose(),
  };
}

function partialJson(raw: RawCore): PartialJson {
  const handle = handleGuard<RawPartialJsonParser>(new raw.PartialJsonParser(), 'parser');
  return {
    feed: (chunk) => unwrap(handle.get().feed(toBytes(chunk))),
    value: () => JSON.parse(handle.get().value()),
    get complete() {
      return handle.get().complete();
    },
    finish: () => JSON.parse(unwrap(handle.get().finish())),
    dispose: () => handle.dispose(),
  };
}

function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function checkString(value: unknown, param: string): string {
  if (typeof value !== 'string') throw new TollgateError('invalid_argument', `${param} must be a string`, param);
  return value;
}

function checkBigint(value: unknown, param: string): string {
  if (typeof value !== 'bigint') throw new TollgateError('invalid_argument', `${param} must be a bigint`, param);
  return value.toString();
}

/**
 * Wraps a user signer so it never throws inside wasm (a JS exception unwinding through C++ frames
 * would skip their destructors); the first error is rethrown once the call has returned.
 */
function guardSigner(sign: Signer): { raw: RawSigner; rethrow(): void } {
  if (typeof sign !== 'function') throw new TollgateError('invalid_argument', 'sign must be a function', 'sign');
  let failure: unknown;
  let failed = false;
  return {
    raw: (input) => {
      try {
        return sign(input);
      } catch (error) {
        if (!failed) failure = error;
        failed = true;
        return null;
      }
    },
    rethrow: () => {
      if (failed) throw failure;
    },
  };
}

function bind(raw: RawCore): TollgateCore {
  const amount = (op: 'add' | 'sub' | 'mul', a: bigint, b: bigint) =>
    BigInt(unwrap(raw.amountOp(op, checkBigint(a, 'a'), checkBigint(b, 'b'))));
  const convert = (to: 'micros' | 'credits', value: bigint, rate: Rate) => {
    if (rate === null || typeof rate !== 'object') {
      throw new TollgateError('invalid_argument', 'rate must be {credits, micros}', 'rate');
    }
    const credits = checkBigint(rate.credits, 'rate.credits');
    const micros = checkBigint(rate.micros, 'rate.micros');
    return BigInt(unwrap(raw.convert(to, checkBigint(value, 'amount'), credits, micros)));
  };
  const withSigner = <T>(sign: Signer, call: (raw: RawSigner) => RawResult<T>): T => {
    const guard = guardSigner(sign);
    const result = call(guard.raw);
    guard.rethrow(); // the signer's own exception wins over the error it caused in the core
    return unwrap(result);
  };

  return {
    base64url: {
      encode: (input) =>
        raw.base64urlEncode(typeof input === 'string' ? new TextEncoder().encode(input) : input),
      decode: (text) => unwrap(raw.base64urlDecode(text)),
    },
    money: {
      add: (a, b) => amount('add', a, b),
      sub: (a, b) => amount('sub', a, b),
      mul: (a, factor) => amount('mul', a, factor),
      creditsToMicros: (credits, rate) => convert('micros', credits, rate),
      microsToCredits: (micros, rate) => convert('credits', micros, rate),
      formatUsd: (micros) => unwrap(raw.formatUsd(checkBigint(micros, 'micros'))),
      parseUsd: (text) => BigInt(unwrap(raw.parseUsd(String(text)))),
    },
    calendar: {
      dayStartMs: (ms) => unwrap(raw.calendarStart('day', ms)),
      monthStartMs: (ms) => unwrap(raw.calendarStart('month', ms)),
      nextMonthStartMs: (ms) => unwrap(raw.calendarStart('next_month', ms)),
    },
    pricing: {
      holdWorstCase: (bound) =>
        BigInt(unwrap(raw.holdWorstCase(
          checkBigint(bound?.price?.inputPerMillion, 'inputPerMillion'),
          checkBigint(bound?.price?.outputPerMillion, 'outputPerMillion'),
          checkBigint(bound?.promptBytes, 'promptBytes'),
          checkBigint(bound?.messages, 'messages'),
          checkBigint(bound?.maxTokens, 'maxTokens'),
          bound?.repair === true,
        ))),
    },
    runtimeToken: {
      encode: (claims, sign) => withSigner(sign, (rawSign) => raw.tokenEncode(claims, rawSign)),
      decode: (token, check = {}) => {
        const claims = unwrap(raw.tokenDecode(String(token)));
        if (check.nowMs !== undefined || check.operation !== undefined) {
          unwrap(raw.tokenCheck(claims, check.nowMs, check.operation));
        }
        return claims;
      },
      verify: (token, sign, options) =>
        withSigner(sign, (rawSign) => raw.tokenVerify(String(token), rawSign, options?.nowMs as number)),
    },
    template: {
      variables: (source) => unwrap(raw.templateParse(String(source))).variables,
      render: (source, variables) => unwrap(raw.templateRender(String(source), variables)),
      escape: (text) => raw.templateEscape(String(text)),
    },
    structured: {
      partialJson: () => partialJson(raw),
      matchesPattern: (pattern, text) =>
        unwrap(raw.patternMatches(checkString(pattern, 'pattern'), checkString(text, 'text'))),
    },
    stream: {
      sse: () => sse(raw),
    },
    errorCodeNames: () => raw.errorCodeNames(),
  };
}

let loading: Promise<TollgateCore> | undefined;

/** Instantiates the wasm core once and returns the shared instance. */
export function loadCore(): Promise<TollgateCore> {
  loading ??= (createTollgateCore as CreateCore)({ wasmBinary: decodeBase64(WASM_BASE64) }).then(bind);
  return loading;
}
