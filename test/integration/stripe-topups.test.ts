// POST /webhooks/stripe (DESIGN §6c): a signed checkout.session.completed credits its account once per
// event id; a tampered signature is 400 and credits nothing; an event naming no account is 200 and audited.
import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/databases.ts';
import { gatewaySuite, type TestGateway } from '../helpers/gateway.ts';

const SECRET = 'whsec_test_tollgate_0123456789';
type Json = Record<string, unknown>;

describe.each(BACKENDS)('Stripe top-ups on %s', (backend) => {
  let gw: TestGateway;
  gatewaySuite({ backend, env: { STRIPE_WEBHOOK_SECRET: SECRET } }, (suite) => ({ gw } = suite));

  const event = (id: string, accountId: string | null, cents = 2500) =>
    JSON.stringify({
      id,
      object: 'event',
      type: 'checkout.session.completed',
      data: {
        object: {
          id: `cs_${id}`,
          object: 'checkout.session',
          amount_total: cents,
          currency: 'usd',
          metadata: accountId === null ? {} : { tollgate_account_id: accountId },
        },
      },
    });
  const deliver = (
    payload: string,
    signature = Stripe.webhooks.generateTestHeaderString({ payload, secret: SECRET }),
  ) =>
    gw.call('/webhooks/stripe', {
      method: 'POST',
      key: null,
      body: payload,
      headers: { 'stripe-signature': signature, 'content-type': 'application/json' },
    });
  const account = async () => {
    const res = await gw.call('/admin/accounts', { method: 'POST', json: { name: 'stripe-customer' } });
    return ((await res.json()) as { id: string }).id;
  };
  const balance = async (id: string) =>
    ((await (await gw.call(`/admin/accounts/${id}`)).json()) as Json).balance_usd;

  it('credits a checkout.session.completed once, however often Stripe delivers it', async () => {
    const id = await account();
    const payload = event('evt_paid_1', id, 2599);
    const first = await deliver(payload);
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({ handled: 'credited', account_id: id, amount_usd: '25.99' });
    const again = await deliver(payload);
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ handled: 'replayed' });
    expect(await balance(id)).toBe('25.99');
    const credits = ((await (await gw.call(`/admin/accounts/${id}/credits`)).json()) as { data: Json[] })
      .data;
    expect(credits).toMatchObject([
      { kind: 'topup', amount_usd: '25.99', idempotency_key: 'evt_paid_1', actor: 'stripe' },
    ]);
  });

  it('refuses a tampered signature or payload with 400 and credits nothing', async () => {
    const id = await account();
    const payload = event('evt_tampered', id);
    const wrongSecret = Stripe.webhooks.generateTestHeaderString({ payload, secret: 'whsec_someone_else' });
    const bad = await deliver(payload, wrongSecret);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: Json }).error).toMatchObject({ code: 'invalid_signature' });
    const signed = Stripe.webhooks.generateTestHeaderString({ payload, secret: SECRET });
    expect((await deliver(event('evt_tampered', id, 999_999), signed)).status).toBe(400);
    expect((await deliver(payload, '')).status).toBe(400);
    expect(await balance(id)).toBe('0');
  });

  it('answers 200 to an event that names no account, and keeps it in the audit log', async () => {
    const res = await deliver(event('evt_orphan', 'acct_missing'));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ handled: 'ignored' });
    const audit = ((await (await gw.call('/admin/audit')).json()) as { data: Json[] }).data;
    expect(audit.find((a) => a.target === 'evt_orphan')).toMatchObject({
      action: 'stripe.unmatched',
      actor: 'stripe',
    });
  });
});
