/** What a runtime-session token (`tg_rt_…`) asserts. Times are Unix milliseconds. */
export interface RuntimeClaims {
  /** The id of the signing key, so the server can rotate keys. */
  keyId: string;
  sessionId: string;
  projectId: string;
  endUserId: string;
  /** Operation slugs the token may invoke. */
  operations: string[];
  issuedAtMs: number;
  expiresAtMs: number;
}
