import { ERROR_CODES, type ErrorCode } from './generated/error-codes';

/** Every failure from @tollgate/sdk. `code` is one of the C++ core's ErrorCode wire names. */
export class TollgateError extends Error {
  readonly code: ErrorCode;
  /** The input field the error concerns, or null. */
  readonly param: string | null;

  constructor(code: ErrorCode, message: string, param: string | null = null) {
    super(message);
    this.name = 'TollgateError';
    this.code = code;
    this.param = param;
  }
}

/** What every raw wasm entry point returns. */
export type RawResult<T> =
  | { ok: true; value: T }
  | { ok: false; error: { code: string; message: string; param: string | null } };

/** Returns the value of a raw result or throws it as a TollgateError. */
export function unwrap<T>(result: RawResult<T>): T {
  if (result.ok) return result.value;
  const { code, message, param } = result.error;
  const known = (ERROR_CODES as readonly string[]).includes(code) ? (code as ErrorCode) : 'internal';
  throw new TollgateError(known, message, param);
}
