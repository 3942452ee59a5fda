// Types of the Emscripten glue that scripts/build.mjs copies to src/generated/tollgate-core-glue.js.
import type { RawResult } from './errors';
import type { RuntimeClaims } from './claims';
import type { SseEvent } from './index';

export type RawSigner = (signingInput: string) => Uint8Array | null;

/** An embind handle: must be delete()d. */
export interface RawPartialJsonParser {
  feed(bytes: Uint8Array): RawResult<undefined>;
  value(): string;
  complete(): boolean;
  finish(): RawResult<string>;
  delete(): void;
}

export interface RawSseParser {
  feed(bytes: Uint8Array): RawResult<SseEvent[]>;
  retryMs(): number | null;
  pending(): boolean;
  delete(): void;
}

export interface RawCore {
  SseParser: new () => RawSseParser;
  PartialJsonParser: new () => RawPartialJsonParser;
  errorCodeNames(): string[];
  base64urlEncode(bytes: Uint8Array): string;
  base64urlDecode(text: string): RawResult<Uint8Array>;
  amountOp(op: 'add' | 'sub' | 'mul', a: string, b: string): RawResult<string>;
  convert(to: 'micros' | 'credits', amount: string, rateCredits: string, rateMicros: string): RawResult<string>;
  formatUsd(micros: string): RawResult<string>;
  calendarStart(which: 'day' | 'month' | 'next_month', ms: number): RawResult<number>;
  holdWorstCase(inputPerMillion: string, outputPerMillion: string, promptBytes: string, messages: string,
    maxTokens: string, repair: boolean): RawResult<string>;
  parseUsd(text: string): RawResult<string>;
  parseInt64(text: string): RawResult<string>;
  tokenEncode(claims: unknown, sign: RawSigner): RawResult<string>;
  tokenDecode(token: string): RawResult<RuntimeClaims>;
  tokenVerify(token: string, sign: RawSigner, nowMs: number): RawResult<RuntimeClaims>;
  tokenCheck(claims: unknown, nowMs: number | undefined, operation: string | undefined): RawResult<undefined>;
  templateParse(source: string): RawResult<{ variables: string[] }>;
  templateRender(source: string, variables: unknown): RawResult<string>;
  templateEscape(text: string): string;
  patternMatches(pattern: string, text: string): RawResult<boolean>;
}

export type CreateCore = (options: { wasmBinary: Uint8Array }) => Promise<RawCore>;
