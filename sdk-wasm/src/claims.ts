/** What a runtime-session token (`tg_rt_…`) asserts. Times are Unix milliseconds. */
export interface RuntimeClaims {
  sessionId: string;
  projectId: string;
  endUserId: string;
  /** Operation slugs the token may invoke. */
  operations: string[];
  issuedAtMs: number;
  expiresAtMs: number;
}
