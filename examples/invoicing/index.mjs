// Bills a month of gateway usage through Stripe: one InvoiceItem per end user and model, added
// to each user's next invoice. Safe to run again: Tollgate sends each item under an
// Idempotency-Key made from the project, user, model and month, so a second run bills nothing
// more (within Stripe's 24 hours for those keys).
//
//   TOLLGATE_URL=http://localhost:8787 TOLLGATE_SECRET_KEY=sk_... node index.mjs [YYYY-MM]
//
// The month defaults to the last full one (UTC). MARKUP_BASIS_POINTS sets what users pay for
// the provider's cost: 10000 (the default) is at cost, 15000 is cost plus half.
const base = process.env.TOLLGATE_URL ?? 'http://localhost:8787';
const secretKey = process.env.TOLLGATE_SECRET_KEY;
if (!secretKey) {
  console.error('set TOLLGATE_SECRET_KEY to the project\'s secret key (sk_…)');
  process.exit(2);
}

// [start, end) of a UTC month, in Unix ms.
function monthWindow(month) {
  const now = new Date();
  const [year, index] = month
    ? month.split('-').map(Number).map((n, i) => (i === 1 ? n - 1 : n))
    : [now.getUTCFullYear(), now.getUTCMonth() - 1];
  return { from_ms: Date.UTC(year, index, 1), to_ms: Date.UTC(year, index + 1, 1) };
}

const window = monthWindow(process.argv[2]);
const markup = Number(process.env.MARKUP_BASIS_POINTS ?? 10_000);
const res = await fetch(`${base}/v1/usage/invoice-items`, {
  method: 'POST',
  headers: { authorization: `Bearer ${secretKey}`, 'content-type': 'application/json' },
  body: JSON.stringify({ ...window, markupBasisPoints: markup }),
});
const body = await res.json();
if (!res.ok) {
  console.error(`tollgate answered ${res.status}: ${body.error?.message}`);
  process.exit(1);
}
const month = new Date(window.from_ms).toISOString().slice(0, 7);
console.log(`${month}: ${body.data.length} invoice items${body.created ? '' : ' (Stripe is not configured: nothing was created)'}`);
let cents = 0;
for (const item of body.data) {
  cents += item.amount;
  const dollars = (item.amount / 100).toFixed(2);
  console.log(`  ${item.userId}  ${item.model}  ${item.requests} requests  $${dollars}  ${item.stripeInvoiceItemId ?? '-'}`);
}
console.log(`total: $${(cents / 100).toFixed(2)}`);
