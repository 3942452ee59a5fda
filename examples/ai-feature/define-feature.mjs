// Step 1, once, by the project owner: define the feature on the server. The prompt stays there.
// Run: TOLLGATE_SECRET_KEY=sk_... node define-feature.mjs   (TOLLGATE_URL defaults to make run's)
const url = process.env.TOLLGATE_URL || 'http://localhost:8787';
const secretKey = process.env.TOLLGATE_SECRET_KEY;
if (!secretKey) {
  console.error('set TOLLGATE_SECRET_KEY to your project\'s secret key (sk_...)');
  process.exit(2);
}

const feature = {
  slug: 'triage_ticket',
  title: 'Triage a support ticket',
  // The keyless demo model; with a provider key stored, e.g. 'openai/gpt-4o-mini'.
  model: process.env.MODEL || 'demo/echo',
  systemPrompt: 'You are the support lead of Acme. Summarize the ticket in one sentence and rate its priority.',
  userTemplate: 'Customer plan: {{plan}}\nTicket:\n{{ticket}}',
  maxTokens: 300,
  responseFormat: {
    type: 'object',
    properties: { summary: { type: 'string' }, priority: { enum: ['low', 'high'] } },
    required: ['summary', 'priority'],
  },
  perUserDailyLimit: 20,
  price: { type: 'fixed', credits: 2 },
};

const headers = { authorization: `Bearer ${secretKey}`, 'content-type': 'application/json' };
let res = await fetch(`${url}/v1/operations`, { method: 'POST', headers, body: JSON.stringify(feature) });
if (res.status === 409) {
  // Already defined: update it in place (the slug cannot change).
  const { slug, ...changes } = feature;
  res = await fetch(`${url}/v1/operations/${slug}`, { method: 'PATCH', headers, body: JSON.stringify(changes) });
}
const body = await res.json();
if (!res.ok) {
  console.error('refused:', JSON.stringify(body.error));
  process.exit(1);
}
console.log(JSON.stringify({ defined: body.slug, model: body.model, variables: body.variables }));
