// Run: npm start --workspace examples/node-backend   (after `make test` or `make wasm` built the SDK)
import { createHmac, randomBytes } from 'node:crypto';
import { loadCore, TollgateError } from '@tollgate/sdk';

const core = await loadCore();

// 1. A runtime token for one end user, signed with HMAC-SHA256 (the server does this for you).
const key = randomBytes(32);
const sign = (input) => new Uint8Array(createHmac('sha256', key).update(input).digest());
const now = Date.now();
const token = core.runtimeToken.encode(
  {
    keyId: 'rtk_demo',
    sessionId: 'rts_demo',
    projectId: 'proj_acme',
    endUserId: 'user_123',
    operations: ['summarize_ticket'],
    issuedAtMs: now,
    expiresAtMs: now + 15 * 60 * 1000,
  },
  sign,
);
console.log('token:', `${token.slice(0, 24)}…`);

// 2. A browser can read (not trust) the claims; the server verifies them.
const claims = core.runtimeToken.decode(token, { nowMs: Date.now(), operation: 'summarize_ticket' });
console.log('for user:', claims.endUserId, 'until', new Date(claims.expiresAtMs).toISOString());
core.runtimeToken.verify(token, sign, { nowMs: Date.now() });
try {
  core.runtimeToken.decode(token, { operation: 'delete_account' });
} catch (error) {
  if (!(error instanceof TollgateError)) throw error;
  console.log('scope check:', error.code);
}

// 3. A hidden prompt template; user input is inserted verbatim, never re-parsed.
const prompt = 'Ticket:\n{{ticket}}\n\nReturn a concise summary.';
console.log('variables:', core.template.variables(prompt).join(', '));
console.log(core.template.render(prompt, { ticket: 'Printer on fire {{secret}}' }));

// 4. Money is int64: 1000 credits sell for $10, so a $0.0123 call costs 2 credits (rounded up).
const rate = { credits: 1000n, micros: core.money.parseUsd('10') };
const cost = core.money.parseUsd('0.0123');
console.log(`cost: ${core.money.formatUsd(cost)} USD = ${core.money.microsToCredits(cost, rate)} credits`);

// 5. Structured output streams in pieces; the partial value is usable before the end.
const parser = core.structured.partialJson();
try {
  for (const piece of ['{"title": "Printer', ' on fire", "priority": 2, "steps": ["unplug', ' it"]}']) {
    parser.feed(piece);
    console.log('partial:', JSON.stringify(parser.value()));
  }
  console.log('final:', JSON.stringify(parser.finish()));
} finally {
  parser.dispose();
}
