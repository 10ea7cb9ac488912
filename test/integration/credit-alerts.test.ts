// An account's credit alerts end to end (DESIGN §6c): credits.low when the balance first drops below
// low_balance_usd, credits.exhausted when a request is first refused for credit, each once per crossing,
// re-armed by a top-up that lifts the balance back; raised in the outbox, POSTed signed to a real receiver
// exactly once, listed by GET /admin/alerts.
import { HttpResponse, http } from 'msw';
import { afterAll, describe, expect, it } from 'vitest';
import { multiplyExact } from '../../src/billing/charge.ts';
import { add, formatDecimal, parseDecimal, times } from '../../src/billing/money.ts';
import { estimatePromptTokens } from '../../src/metering/tokens.ts';
import { BACKENDS } from '../helpers/databases.ts';
import { gatewaySuite, type TestGateway } from '../helpers/gateway.ts';
import type { MockUpstream } from '../helpers/mock-upstream.ts';
import { type Received, startReceiver } from '../helpers/webhook-receiver.ts';

const SECRET = 'whsec_credits_0123456789abcdef';
const MAX_TOKENS = 50;
const body = {
  model: 'openai/gpt-oss-120b:groq',
  messages: [{ role: 'user', content: 'hi' }],
  max_tokens: MAX_TOKENS,
};
const PROMPT = await estimatePromptTokens(body);
/** one request's worst-case cost, which the mock upstream reports as its real usage (markup 1) */
const ONE = formatDecimal(
  add(times(PROMPT, parseDecimal('0.000001')), times(MAX_TOKENS, parseDecimal('0.000003'))),
);
const usd = (requests: number) => multiplyExact(ONE, String(requests));
const receiver = await startReceiver();
afterAll(() => receiver.close());

type Json = Record<string, unknown>;
type CreditAlert = {
  id: string;
  type: string;
  account_id: string;
  key_id: string | null;
  balance_usd: string;
  threshold_usd: string;
  state: string;
};

async function eventually<T>(read: () => Promise<T>, until: (value: T) => boolean, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (until(value)) return value;
    if (Date.now() > end) throw new Error(`never became true; last: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
/** time for a duplicate POST to show up, if the deliverer were to send one */
const settle = () => new Promise((r) => setTimeout(r, 400));

describe.each(BACKENDS)('credit alerts on %s', (backend) => {
  let gw: TestGateway;
  gatewaySuite(
    {
      backend,
      env: {
        BUDGET_DEFAULT_MAX_TOKENS: String(MAX_TOKENS),
        DATABASE_TIMEOUT_MS: '30000',
        ALERT_WEBHOOK_URL: receiver.url,
        ALERT_WEBHOOK_SECRET: SECRET,
        ALERT_POLL_MS: '20',
        ALERT_BACKOFF_BASE_MS: '40',
      },
      handlers: [
        http.post('*/chat/completions', () =>
          HttpResponse.json({
            model: 'openai/gpt-oss-120b',
            usage: {
              prompt_tokens: PROMPT,
              completion_tokens: MAX_TOKENS,
              total_tokens: PROMPT + MAX_TOKENS,
            },
          }),
        ),
      ],
    },
    (suite: { gw: TestGateway; upstream: MockUpstream }) => {
      gw = suite.gw;
    },
  );

  const post = async (path: string, json: unknown) => {
    const res = await gw.call(path, { method: 'POST', json });
    return { status: res.status, body: (await res.json()) as Json };
  };
  const chat = (key: string) => gw.call('/v1/chat/completions', { method: 'POST', json: body, key });
  const chats = async (key: string, n: number, status = 200) => {
    for (let i = 0; i < n; i++) expect((await chat(key)).status).toBe(status);
  };
  let invoice = 0;
  const topUp = async (accountId: string, amount: string) =>
    expect(
      (
        await post(`/admin/accounts/${accountId}/credits`, {
          amount_usd: amount,
          idempotency_key: `i-${++invoice}`,
        })
      ).status,
    ).toBe(201);

  async function account(fields: Json) {
    const plan = await post('/admin/plans', { name: 'payg' });
    const made = await post('/admin/accounts', { name: 'Acme & Co', plan_id: plan.body.id, ...fields });
    expect(made.status).toBe(201);
    const key = await post('/admin/keys', { name: 'acme-prod', account_id: made.body.id });
    return { id: made.body.id as string, key: key.body as { id: string; key: string } };
  }
  const alertsOf = async (accountId: string) =>
    ((await (await gw.call(`/admin/alerts?account_id=${accountId}`)).json()) as { data: CreditAlert[] }).data
      .slice()
      .reverse();
  const delivered = (accountId: string, n: number) =>
    eventually(
      () => alertsOf(accountId),
      (list) => list.length === n && list.every((a) => a.state === 'delivered'),
    );
  const sent = (accountId: string): (Received['json'] & Json)[] =>
    receiver.received.map((r) => r.json as Received['json'] & Json).filter((j) => j.account_id === accountId);

  it('raises credits.low once when the balance drops below the threshold, again only after a top-up lifts it back', async () => {
    const acct = await account({ low_balance_usd: usd(5) });
    await topUp(acct.id, usd(8));
    // 8 → 5: not below the threshold yet
    await chats(acct.key.key, 3);
    await settle();
    expect(await alertsOf(acct.id)).toEqual([]);
    // 5 → 4 crosses; 4 → 2 are more requests below it, not new crossings
    await chats(acct.key.key, 3);
    const [low] = await delivered(acct.id, 1);
    expect(low).toMatchObject({ type: 'credits.low', account_id: acct.id, key_id: null });
    expect(low?.balance_usd).toBe(usd(4));
    expect(low?.threshold_usd).toBe(usd(5));
    // a top-up that leaves the balance below the threshold does not re-arm it
    await topUp(acct.id, usd(1));
    await chats(acct.key.key, 1);
    await settle();
    expect(await alertsOf(acct.id)).toHaveLength(1);
    // one that lifts it to 12 does: the next fall below 5 is a second crossing
    await topUp(acct.id, usd(10));
    await chats(acct.key.key, 7);
    await settle();
    expect(await alertsOf(acct.id)).toHaveLength(1);
    await chats(acct.key.key, 1);
    const both = await delivered(acct.id, 2);
    expect(both.map((a) => [a.type, a.balance_usd])).toEqual([
      ['credits.low', usd(4)],
      ['credits.low', usd(4)],
    ]);
    await settle();

    // delivered signed, each exactly once, with the payload's exact money and a readable text
    const posts = receiver.received.filter((r) => (r.json as unknown as Json).account_id === acct.id);
    expect(posts).toHaveLength(2);
    expect(new Set(posts.map((r) => r.json.id))).toEqual(new Set(both.map((a) => a.id)));
    expect(posts.every((r) => receiver.verify(r, SECRET))).toBe(true);
    expect(posts[0]?.headers['idempotency-key']).toBe(posts[0]?.json.id);
    expect(sent(acct.id)[0]).toEqual({
      type: 'credits.low',
      id: both[0]?.id,
      account_id: acct.id,
      account_name: 'Acme & Co',
      key_id: null,
      balance_usd: usd(4),
      threshold_usd: usd(5),
      text: `Tollgate: account 'Acme &amp; Co' has a balance of $${usd(4)}, below its low-balance threshold of $${usd(5)}. Top it up to keep its keys running.`,
    });
    expect(JSON.stringify(receiver.received)).not.toContain(SECRET);
  });

  it('raises credits.exhausted once for many refusals (402), again after a top-up re-arms it', async () => {
    const acct = await account({});
    await topUp(acct.id, usd(2));
    await chats(acct.key.key, 2);
    // the balance is 0: every request now is refused, at once and one after another
    const refused = await Promise.all(Array.from({ length: 10 }, () => chat(acct.key.key)));
    expect(refused.map((r) => r.status)).toEqual(Array(10).fill(402));
    await chats(acct.key.key, 5, 402);
    const [exhausted] = await delivered(acct.id, 1);
    expect(exhausted).toMatchObject({
      type: 'credits.exhausted',
      account_id: acct.id,
      key_id: acct.key.id,
      balance_usd: '0',
      threshold_usd: '0',
    });
    await settle();
    expect(await alertsOf(acct.id)).toHaveLength(1);

    // a top-up lifts the balance: served again, and the next refusal is a new crossing
    await topUp(acct.id, usd(1));
    await chats(acct.key.key, 1);
    await chats(acct.key.key, 3, 402);
    const both = await delivered(acct.id, 2);
    expect(both.map((a) => a.type)).toEqual(['credits.exhausted', 'credits.exhausted']);
    await settle();
    const posts = sent(acct.id);
    expect(posts).toHaveLength(2);
    expect(posts[0]).toMatchObject({
      type: 'credits.exhausted',
      account_name: 'Acme & Co',
      key_id: acct.key.id,
      balance_usd: '0',
      threshold_usd: '0',
      text: "Tollgate: account 'Acme &amp; Co' is out of credit: a request was refused at a balance of $0.00 (credit limit $0.00). Its keys are refused (402) until it is topped up.",
    });
    expect(
      receiver.received
        .filter((r) => (r.json as unknown as Json).account_id === acct.id)
        .every((r) => receiver.verify(r, SECRET)),
    ).toBe(true);
  });

  it('raises nothing for an account without a low threshold that keeps its credit', async () => {
    const acct = await account({});
    await topUp(acct.id, usd(3));
    await chats(acct.key.key, 3);
    await settle();
    expect(await alertsOf(acct.id)).toEqual([]);
  });
});
