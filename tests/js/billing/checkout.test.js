// Checkout end to end on a real tollgate process: the simulated flow with no Stripe keys at all,
// and Stripe Checkout against the fake Stripe (tests/fixtures/fake-stripe.js), whose events are
// signed with the real stripe library. Fulfilment happens once, whoever tells it.
const Stripe = require('stripe');
const { startServer } = require('../helpers/server');
const { startFakeStripe } = require('../helpers/fake-stripe');
const { ADMIN_TOKEN, call, createProject, meter, expectLedgerSound } = require('../helpers/api');

const CATALOGUE = {
  startingCredits: 100,
  plans: [
    { name: 'pro', monthlyCredits: 1000, priceMicros: 19000000 },
    { name: 'team', monthlyCredits: 5000, priceMicros: 49000000 },
  ],
  creditPacks: [{ id: 'starter', name: 'Starter pack', credits: 500, priceMicros: 5000000 }],
};
const WHSEC = 'whsec_test_0123456789abcdefghijklmnopqrstuvwxyz';

let server;
let fake;
let sim; // a project with no Stripe keys
let live; // a project with the fake Stripe's keys
let liveKey;

beforeAll(async () => {
  fake = await startFakeStripe();
  server = await startServer({ env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN, STRIPE_API_BASE: fake.url } });
  sim = await createProject(server, CATALOGUE);
  live = await createProject(server, CATALOGUE);
  liveKey = `sk_test_${live.id}`;
  const put = await call(server, 'PUT', '/v1/billing/stripe', { key: live.sk, body: { secretKey: liveKey, webhookSecret: WHSEC } });
  expect(put.status).toBe(200);
  expect(put.body.webhookUrl).toBe(`${server.url}/v1/webhooks/stripe/${live.id}`);
  await fake.control('endpoints', { secretKey: liveKey, url: put.body.webhookUrl, secret: WHSEC });
});

// The ledger's invariant, each pool equal to its own entries, after every test.
afterEach(async () => {
  await expectLedgerSound(server, sim.sk);
  await expectLedgerSound(server, live.sk);
});

afterAll(async () => {
  try {
    await expectLedgerSound(server, sim.sk);
    await expectLedgerSound(server, live.sk);
  } finally {
    await server.stop();
    await fake.stop();
  }
});

const account = async (project, user) => (await call(server, 'GET', `/v1/accounts/${user}`, { key: project.sk })).body;
const checkout = (project, body, key = project.sk) => call(server, 'POST', '/v1/checkout', { key, body });

// Waits until `check` passes (webhook deliveries are asynchronous).
async function eventually(check, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

describe('the simulated checkout (no Stripe keys)', () => {
  test('a pack: the page, Pay, the redirect, and the credits once', async () => {
    const started = await checkout(sim, { userId: 'ada', product: 'starter', successUrl: 'https://app.example.com/thanks?s={CHECKOUT_SESSION_ID}' });
    expect(started.status).toBe(200);
    expect(started.body).toMatchObject({ mode: 'payment', simulated: true, status: 'open', fulfilled: false, credits: 500 });
    expect(started.body.url).toBe(`${server.url}/checkout/simulate/${started.body.id}`);
    const page = await fetch(started.body.url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toMatch(/simulated checkout/i);
    expect(html).toContain('5.00 USD');
    expect(html).toContain('500 credits');

    const paid = await fetch(`${started.body.url}/pay`, { method: 'POST', redirect: 'manual' });
    expect(paid.status).toBe(303);
    expect(paid.headers.get('location')).toBe(`https://app.example.com/thanks?s=${started.body.id}`);
    const again = await fetch(`${started.body.url}/pay`, { method: 'POST', redirect: 'manual' });
    expect(again.status).toBe(303);

    const status = await call(server, 'GET', `/v1/checkout/${started.body.id}`, { key: sim.pk });
    expect(status.body).toMatchObject({ status: 'complete', fulfilled: true });
    expect(status.body.account).toMatchObject({ balance: 600, purchased: 600, allowance: 0, plan: 'free' });
  });

  test('a plan: the allowance, the plan and a subscription; a second plan checkout is the portal', async () => {
    const started = await checkout(sim, { userId: 'bob', product: 'pro' });
    expect(started.body.mode).toBe('subscription');
    await fetch(`${started.body.url}/pay`, { method: 'POST', redirect: 'manual' });
    const bob = await account(sim, 'bob');
    expect(bob).toMatchObject({ plan: 'pro', allowance: 1000, purchased: 100, balance: 1100 });
    expect(bob.subscription).toMatchObject({ plan: 'pro', status: 'active', cancelAtPeriodEnd: false });
    // The allowance is spent first.
    expect((await meter(server, sim.sk, { userId: 'bob', event: 'gen', cost: 30 })).status).toBe(200);
    expect(await account(sim, 'bob')).toMatchObject({ allowance: 970, purchased: 100 });
    const second = await checkout(sim, { userId: 'bob', product: 'team' });
    expect(second.status).toBe(200);
    expect(second.body.mode).toBe('portal');
    expect(second.body.url).toContain('/checkout/simulate/portal');
    const stats = (await call(server, 'GET', '/v1/accounts?limit=100', { key: sim.sk })).body.stats;
    expect(stats.paid).toBe(1);
    expect(stats.mrr).toEqual([{ currency: 'usd', micros: 19000000 }]);
    // 700 purchased credits (ada 600, bob 100) at the packs' 5.00 USD for 500.
    expect(stats.creditsOutstandingValue).toEqual([{ currency: 'usd', micros: 7000000 }]);
    const analytics = await call(server, 'GET', `/v1/analytics?from_ms=${Date.now() - 60000}`, { key: sim.sk });
    expect(analytics.body.revenue).toEqual([
      { product: 'pro', currency: 'usd', payments: 1, micros: 19000000 },
      { product: 'starter', currency: 'usd', payments: 1, micros: 5000000 },
    ]);
  });

  test('bad input names the field and writes nothing', async () => {
    const unknown = await checkout(sim, { userId: 'ada', product: 'gold' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.param).toBe('product');
    const notUrl = await checkout(sim, { userId: 'ada', product: 'starter', successUrl: 'javascript:alert(1)' });
    expect(notUrl.status).toBe(400);
    expect(notUrl.body.error.param).toBe('successUrl');
    // From a browser's publishable key, a checkout only returns to an allowed origin.
    const elsewhere = await checkout(sim, { userId: 'ada', product: 'starter', successUrl: 'https://evil.example/x' }, sim.pk);
    expect(elsewhere.status).toBe(403);
    expect(elsewhere.body.error.param).toBe('successUrl');
    const missing = await call(server, 'GET', '/v1/checkout/chk_nope', { key: sim.sk });
    expect(missing.status).toBe(404);
    expect((await fetch(`${server.url}/checkout/simulate/chk_nope`)).status).toBe(404);
    expect((await account(sim, 'ada')).balance).toBe(600);
  });
});

describe('Stripe Checkout', () => {
  test('a pack bought end to end: the session Tollgate asked for, the event, the credits', async () => {
    const started = await checkout(live, { userId: 'cy', product: 'starter' });
    expect(started.status).toBe(200);
    expect(started.body.id).toMatch(/^cs_/);
    expect(started.body.simulated).toBe(false);
    const sent = (await fake.requests()).filter((r) => r.path === '/v1/checkout/sessions' && r.method === 'POST').pop();
    expect(sent.headers['stripe-version']).toBe('2026-11-18.endive');
    expect(sent.headers['idempotency-key']).toBeTruthy();
    expect(sent.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(sent.params).toMatchObject({
      mode: 'payment',
      client_reference_id: 'cy',
      // Bracket notation, line_items[0][price_data][unit_amount]=500, as the fake parses it.
      line_items: { 0: { price_data: { currency: 'usd', unit_amount: '500', product_data: { name: 'starter' } }, quantity: '1' } },
      metadata: { tollgate_project: live.id, tollgate_user: 'cy', tollgate_product: 'starter' },
      payment_intent_data: { metadata: { tollgate_project: live.id, tollgate_user: 'cy' } },
    });
    expect(sent.params.success_url).toContain('{CHECKOUT_SESSION_ID}');
    expect(sent.params.customer).toMatch(/^cus_/);
    // One customer per end user, created once.
    await checkout(live, { userId: 'cy', product: 'starter' });
    const customers = (await fake.requests()).filter((r) => r.path === '/v1/customers' && r.method === 'POST');
    expect(customers).toHaveLength(1);

    const done = await fake.control(`checkout/${started.body.id}/complete`, {});
    expect(done.events.map((e) => e.type)).toEqual(['checkout.session.completed']);
    expect(done.events[0].delivered.status).toBe(200);
    await eventually(async () => expect(await account(live, 'cy')).toMatchObject({ purchased: 600, balance: 600 }));
    const status = await call(server, 'GET', `/v1/checkout/${started.body.id}`, { key: live.pk });
    expect(status.body).toMatchObject({ status: 'complete', fulfilled: true });
  });

  test('one event delivered five times at once grants once', async () => {
    const started = await checkout(live, { userId: 'dee', product: 'starter' });
    const { events } = await fake.control(`checkout/${started.body.id}/complete`, { deliver: false });
    const [event] = events;
    const deliveries = await Promise.all(
      Array.from({ length: 5 }, () =>
        call(server, 'POST', `/v1/webhooks/stripe/${live.id}`, {
          raw: event.payload,
          headers: { 'content-type': 'application/json', 'stripe-signature': event.header },
        })),
    );
    expect(deliveries.map((d) => d.status)).toEqual([200, 200, 200, 200, 200]);
    expect((await account(live, 'dee')).purchased).toBe(600);
  });

  test('the webhook and the success-page poll racing each other grant once', async () => {
    const started = await checkout(live, { userId: 'eve', product: 'starter' });
    const { events } = await fake.control(`checkout/${started.body.id}/complete`, { deliver: false });
    const [event] = events;
    const results = await Promise.all([
      call(server, 'GET', `/v1/checkout/${started.body.id}`, { key: live.pk }),
      call(server, 'POST', `/v1/webhooks/stripe/${live.id}`, {
        raw: event.payload,
        headers: { 'content-type': 'application/json', 'stripe-signature': event.header },
      }),
      call(server, 'GET', `/v1/checkout/${started.body.id}`, { key: live.sk }),
    ]);
    expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    expect((await account(live, 'eve')).purchased).toBe(600);
  });

  test('a subscription: start, two renewals that reset the allowance, a failed payment, cancel at period end, deleted', async () => {
    const started = await checkout(live, { userId: 'fay', product: 'pro' });
    expect(started.body.mode).toBe('subscription');
    const sent = (await fake.requests()).filter((r) => r.path === '/v1/checkout/sessions').pop();
    expect(sent.params.line_items[0].price_data.recurring).toEqual({ interval: 'month' });
    expect(sent.params.subscription_data.metadata).toMatchObject({ tollgate_user: 'fay', tollgate_plan: 'pro' });
    const done = await fake.control(`checkout/${started.body.id}/complete`, {});
    const subscriptionId = done.ids.subscription || done.object.subscription;
    await eventually(async () => expect(await account(live, 'fay')).toMatchObject({ plan: 'pro', allowance: 1000 }));
    expect((await meter(server, live.sk, { userId: 'fay', event: 'gen', cost: 300 })).status).toBe(200);
    expect((await account(live, 'fay')).allowance).toBe(700);

    for (let renewal = 0; renewal < 2; renewal++) {
      await fake.control(`subscriptions/${subscriptionId}/renew`, {});
      await eventually(async () => expect((await account(live, 'fay')).allowance).toBe(1000));
      await meter(server, live.sk, { userId: 'fay', event: 'gen', cost: 100 });
    }
    expect(await account(live, 'fay')).toMatchObject({ allowance: 900, purchased: 100 });

    await fake.control(`subscriptions/${subscriptionId}/fail_payment`, {});
    await eventually(async () => expect((await account(live, 'fay')).subscription.status).toBe('past_due'));
    // A past-due user keeps the plan and what is left of the allowance; nothing new is granted.
    expect(await account(live, 'fay')).toMatchObject({ plan: 'pro', allowance: 900 });

    await fake.control(`subscriptions/${subscriptionId}/update`, { cancel_at_period_end: true });
    await eventually(async () => expect((await account(live, 'fay')).subscription.cancelAtPeriodEnd).toBe(true));

    await fake.control(`subscriptions/${subscriptionId}/delete`, {});
    await eventually(async () => expect(await account(live, 'fay')).toMatchObject({ plan: 'free', allowance: 0, purchased: 100 }));
    expect((await account(live, 'fay')).subscription.status).toBe('canceled');
  });

  test('a plan change through the portal', async () => {
    const started = await checkout(live, { userId: 'gus', product: 'pro' });
    const done = await fake.control(`checkout/${started.body.id}/complete`, {});
    const subscriptionId = done.ids.subscription || done.object.subscription;
    await eventually(async () => expect((await account(live, 'gus')).plan).toBe('pro'));
    const portal = await call(server, 'POST', '/v1/billing/portal', { key: live.sk, body: { userId: 'gus', returnUrl: 'https://app.example.com/billing' } });
    expect(portal.status).toBe(200);
    expect(portal.body.url).toContain('/p/session/');
    await fake.control(`subscriptions/${subscriptionId}/update`, {
      price: { unit_amount: 4900, currency: 'usd', interval: 'month', metadata: { tollgate_plan: 'team' } },
    });
    await eventually(async () => expect((await account(live, 'gus')).plan).toBe('team'));
    await fake.control(`subscriptions/${subscriptionId}/renew`, {});
    await eventually(async () => expect((await account(live, 'gus')).allowance).toBe(5000));
  });

  test('refund and dispute clawbacks, one larger than the balance left', async () => {
    const started = await checkout(live, { userId: 'hal', product: 'starter' });
    const done = await fake.control(`checkout/${started.body.id}/complete`, {});
    await eventually(async () => expect((await account(live, 'hal')).purchased).toBe(600));
    const session = await fake.object(started.body.id);
    const intent = await fake.object(session.payment_intent);
    const charge = intent.latest_charge;
    expect(done.events[0].delivered.status).toBe(200);
    // A partial refund of 2.00 of 5.00 takes back 200 of the 500 credits.
    const refund = await fake.control(`charges/${charge}/refund`, { amount: 200 });
    expect(refund.events[0].delivered.status).toBe(200);
    await eventually(async () => expect((await account(live, 'hal')).purchased).toBe(400));
    // Spend most of it, then a dispute takes back the rest of the pack: only what is left.
    expect((await meter(server, live.sk, { userId: 'hal', event: 'gen', cost: 350 })).status).toBe(200);
    const dispute = await fake.control(`charges/${charge}/dispute`, {});
    expect(dispute.events[0].delivered.body).toMatch(/took back 50 credits; 250 credits short/);
    expect(await account(live, 'hal')).toMatchObject({ purchased: 0, balance: 0 });
    const events = await call(server, 'GET', '/v1/billing/events?limit=5', { key: live.sk });
    expect(events.body.data[0]).toMatchObject({ type: 'charge.dispute.created' });
  });

  test('events out of order end in the right state', async () => {
    const started = await checkout(live, { userId: 'ivy', product: 'pro' });
    const done = await fake.control(`checkout/${started.body.id}/complete`, {});
    const subscriptionId = done.ids.subscription || done.object.subscription;
    await eventually(async () => expect((await account(live, 'ivy')).plan).toBe('pro'));
    const a = await fake.control(`subscriptions/${subscriptionId}/update`, { cancel_at_period_end: true, deliver: false });
    const b = await fake.control(`subscriptions/${subscriptionId}/delete`, { deliver: false });
    const deliver = (e) => call(server, 'POST', `/v1/webhooks/stripe/${live.id}`, {
      raw: e.payload,
      headers: { 'content-type': 'application/json', 'stripe-signature': e.header },
    });
    for (const e of [...b.events, ...a.events]) expect((await deliver(e)).status).toBe(200); // newest first
    expect(await account(live, 'ivy')).toMatchObject({ plan: 'free', allowance: 0 });
    expect((await account(live, 'ivy')).subscription.status).toBe('canceled');
  });

  test('an invoice in the pre-2025 shape renews the allowance too', async () => {
    const started = await checkout(live, { userId: 'jo', product: 'pro' });
    const done = await fake.control(`checkout/${started.body.id}/complete`, {});
    const subscriptionId = done.ids.subscription || done.object.subscription;
    await eventually(async () => expect((await account(live, 'jo')).allowance).toBe(1000));
    await meter(server, live.sk, { userId: 'jo', event: 'gen', cost: 10 });
    const renewed = await fake.control(`subscriptions/${subscriptionId}/renew`, { shape: 'legacy' });
    const invoice = JSON.parse(renewed.events.find((e) => e.type === 'invoice.paid').payload).data.object;
    expect(invoice.parent).toBeUndefined();
    expect(invoice.subscription).toBe(subscriptionId);
    await eventually(async () => expect((await account(live, 'jo')).allowance).toBe(1000));
  });
});

describe('the webhook signature', () => {
  const payload = JSON.stringify({ id: 'evt_sig_1', object: 'event', type: 'test.unknown', created: 1, data: { object: {} } });
  const post = (headers, body = payload) => call(server, 'POST', `/v1/webhooks/stripe/${live.id}`, {
    raw: body,
    headers: { 'content-type': 'application/json', ...headers },
  });
  const sign = (opts) => Stripe.webhooks.generateTestHeaderString({ payload, secret: WHSEC, ...opts });
  const now = () => Math.floor(Date.now() / 1000);

  test('only the valid ones are accepted', async () => {
    expect((await post({}, payload)).status).toBe(400); // no header
    expect((await post({ 'stripe-signature': sign() }, payload.replace('test.unknown', 'test.other'))).status).toBe(400); // tampered
    expect((await post({ 'stripe-signature': sign({ secret: 'whsec_wrong' }) })).status).toBe(400);
    expect((await post({ 'stripe-signature': sign({ timestamp: now() - 301 }) })).status).toBe(400);
    expect((await post({ 'stripe-signature': sign({ timestamp: now() + 301 }) })).status).toBe(400);
    const refused = await call(server, 'GET', '/v1/billing/events?limit=100', { key: live.sk });
    expect(refused.body.data.map((e) => e.id)).not.toContain('evt_sig_1'); // nothing written
    // Two v1 signatures, one of them valid.
    const t = now();
    const valid = sign({ timestamp: t }).split(',').find((p) => p.startsWith('v1='));
    const two = await post({ 'stripe-signature': `t=${t},v1=${'0'.repeat(64)},${valid}` });
    expect(two.status).toBe(200);
    expect(two.body.outcome).toMatch(/^ignored/); // an unknown event: 200, and nothing done
    const plain = await post({ 'stripe-signature': sign() });
    expect(plain.status).toBe(200);
    expect(plain.body.duplicate).toBe(true);
  });

  test('a project without Stripe keys refuses every delivery', async () => {
    const res = await call(server, 'POST', `/v1/webhooks/stripe/${sim.id}`, {
      raw: payload,
      headers: { 'content-type': 'application/json', 'stripe-signature': sign() },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.param).toBe('Stripe-Signature');
  });
});

describe('--demo with Stripe keys in the environment', () => {
  test('STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET become the demo project keys, shown only as hints', async () => {
    const demo = await startServer({
      args: ['--demo'],
      env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN, STRIPE_API_BASE: fake.url, STRIPE_SECRET_KEY: 'sk_test_demo_0123456789', STRIPE_WEBHOOK_SECRET: WHSEC },
    });
    try {
      const res = await call(demo, 'GET', '/v1/billing/stripe', {});
      // Keyless calls act as the demo's publishable key; the keys' route needs the secret key.
      expect(res.status).toBe(401);
      const started = await call(demo, 'POST', '/v1/checkout', { body: { userId: 'ada', product: 'starter' } });
      expect(started.status).toBe(200);
      expect(started.body.id).toMatch(/^cs_/); // Stripe, not simulated
      expect(started.body.simulated).toBe(false);
      expect(demo.logs.map((l) => JSON.stringify(l)).join('\n')).not.toContain('sk_test_demo_0123456789');
    } finally {
      await demo.stop();
    }
  });
});
