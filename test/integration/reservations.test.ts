// Budget reservations end to end: one owner per reservation (finish, the row's trigger, the reaper),
// worst cases that cannot be undercut, and refusals that say why and consume nothing.
import { sql } from 'drizzle-orm';
import { HttpResponse, http } from 'msw';
import { describe, expect, it } from 'vitest';
import { add, formatDecimal, parseDecimal, subtract, times } from '../../src/billing/money.ts';
import { estimatePromptTokens } from '../../src/metering/tokens.ts';
import type { Principal } from '../../src/services/admission/keys.ts';
import { BACKENDS } from '../helpers/databases.ts';
import { gatewaySuite, type TestGateway } from '../helpers/gateway.ts';
import type { MockUpstream } from '../helpers/mock-upstream.ts';

const MODEL = 'openai/gpt-oss-120b:groq';
const MAX_TOKENS = 50;
const body = { model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: MAX_TOKENS };
const PROMPT = await estimatePromptTokens(body);
const usd = (prompt: number, completion: number) =>
  add(times(prompt, parseDecimal('0.000001')), times(completion, parseDecimal('0.000003')));
/** one request's worst case, which the default upstream reports as its real usage */
const ONE = formatDecimal(usd(PROMPT, MAX_TOKENS));

type KeyView = { id: string; key: string; in_flight_reserved_usd: string; month_to_date_spend_usd: string };
type ErrorBody = { error: { message: string; code: string; type: string; param: string | null } };

describe.each(BACKENDS)('budget reservations on %s', (backend) => {
  let upstream: MockUpstream;
  let gw: TestGateway;

  gatewaySuite(
    {
      backend,
      // the floor held while other requests are in flight equals this suite's usual bound
      env: { BUDGET_DEFAULT_MAX_TOKENS: String(MAX_TOKENS) },
      handlers: [
        http.post('*/chat/completions', () =>
          HttpResponse.json({ usage: { prompt_tokens: PROMPT, completion_tokens: MAX_TOKENS } }),
        ),
      ],
    },
    (suite) => ({ gw, upstream } = suite),
  );

  const createKey = async (settings: Record<string, unknown>) =>
    (await (
      await gw.call('/admin/keys', { method: 'POST', json: { name: 'reserving', ...settings } })
    ).json()) as KeyView;
  const listed = async (id: string) =>
    ((await (await gw.call('/admin/keys')).json()) as { data: KeyView[] }).data.find((k) => k.id === id);
  const chat = (key: string, json: unknown = body) =>
    gw.call('/v1/chat/completions', { method: 'POST', json, key });
  const principal = async (key: string) =>
    (await gw.deps.keys.authenticate(key)) as Extract<Principal, { kind: 'client' }>;
  const admitDirectly = async (key: KeyView, requestId: string) =>
    gw.deps.limits.admit({
      requestId,
      keyId: key.id,
      limits: (await principal(key.key)).limits,
      body,
      at: new Date(),
    });

  it('reaps a reservation whose owner never finishes, and only once it is stale', async () => {
    const key = await createKey({ monthly_budget_usd: ONE });
    // admitted, then the handler "crashes": nobody calls finish()
    const orphan = await admitDirectly(key, `req_orphan_${backend}`);
    expect(orphan.reservedUsd).toBe(ONE);
    expect((await listed(key.id))?.in_flight_reserved_usd).toBe(ONE);
    expect((await chat(key.key)).status).toBe(429);

    expect(await gw.deps.limits.reap()).toBe(0);
    await gw.deps.database.rows(
      sql`update budget_reservations set created_at = now() - interval '2 hours' where api_key_id = ${key.id}`,
    );
    expect(await gw.deps.limits.reap()).toBe(1);
    expect(await gw.deps.limits.reap()).toBe(0);
    expect((await listed(key.id))?.in_flight_reserved_usd).toBe('0');
    expect((await chat(key.key)).status).toBe(200);
  });

  it('does not leak the reservation of an upstream 200 whose JSON body is null', async () => {
    upstream.use(http.post('*/chat/completions', () => HttpResponse.json(null)));
    const key = await createKey({ monthly_budget_usd: ONE });
    expect((await chat(key.key)).status).toBeGreaterThanOrEqual(500);
    expect((await listed(key.id))?.in_flight_reserved_usd).toBe('0');
    upstream.reset();
    expect((await chat(key.key)).status).toBe(200);
  });

  it('finish() is idempotent and never frees another request’s reservation', async () => {
    const key = await createKey({ monthly_budget_usd: formatDecimal(times(10, parseDecimal(ONE))) });
    const first = await admitDirectly(key, `req_first_${backend}`);
    const second = await admitDirectly(key, `req_second_${backend}`);
    await first.finish({ metered: false });
    await first.finish({ metered: false });
    await first.release();
    expect((await listed(key.id))?.in_flight_reserved_usd).toBe(second.reservedUsd);
    await second.finish({ metered: false });
    expect((await listed(key.id))?.in_flight_reserved_usd).toBe('0');
  });

  it('settles a metered request once: releasing after its row frees nothing more', async () => {
    const key = await createKey({ monthly_budget_usd: formatDecimal(times(10, parseDecimal(ONE))) });
    const other = await admitDirectly(key, `req_other_${backend}`);
    const res = await chat(key.key);
    expect(res.status).toBe(200);
    const requestId = res.headers.get('x-request-id') ?? '';
    // a late release of the settled request (a pipeline that called it anyway) deletes no reservation
    const rows = await gw.deps.database.rows<{ n: number }>(
      sql`select count(*)::int as n from budget_reservations where id = ${requestId}`,
    );
    expect(rows[0]?.n).toBe(0);
    expect((await listed(key.id))?.in_flight_reserved_usd).toBe(other.reservedUsd);
    await other.finish({ metered: false });
  });

  it('keeps the spend of 50 concurrent max_tokens: 1 requests within one overshoot of the budget', async () => {
    // the upstream ignores max_tokens: 1 and generates up to the floor the gateway assumes (MAX_TOKENS)
    const completion = MAX_TOKENS;
    const budget = times(10, parseDecimal(ONE));
    const key = await createKey({ monthly_budget_usd: formatDecimal(budget) });
    const replies = await Promise.all(
      Array.from({ length: 50 }, () => chat(key.key, { ...body, max_tokens: 1 })),
    );
    const refused = replies.filter((r) => r.status === 429);
    expect(refused.length).toBeGreaterThan(0);
    expect(((await (refused[0] as Response).json()) as ErrorBody).error.code).toBe('budget_exceeded');
    const [spent] = await gw.deps.database.rows<{ total: string }>(
      sql`select coalesce(sum(cost_total), 0)::text as total from usage_logs where api_key_id = ${key.id}`,
    );
    const overshoot = subtract(usd(PROMPT, completion), usd(PROMPT, 1));
    expect(parseDecimal(spent?.total ?? '0') <= add(budget, overshoot)).toBe(true);
    expect((await listed(key.id))?.in_flight_reserved_usd).toBe('0');
  });

  it('reserves n completions: n=5 does not fit where one would', async () => {
    const key = await createKey({ monthly_budget_usd: formatDecimal(times(2, parseDecimal(ONE))) });
    const res = await chat(key.key, { ...body, n: 5 });
    expect(res.status).toBe(429);
    expect(upstream.requests).toHaveLength(0);
  });

  it('refuses a worst case beyond the budget with the real spend and in-flight figures and x-should-retry: false', async () => {
    const key = await createKey({ monthly_budget_usd: formatDecimal(times(3, parseDecimal(ONE))) });
    expect((await chat(key.key)).status).toBe(200);
    const held = await admitDirectly(key, `req_held_${backend}`);
    const res = await chat(key.key, { ...body, max_tokens: 100 * MAX_TOKENS });
    expect(res.status).toBe(429);
    expect(res.headers.get('x-should-retry')).toBe('false');
    const { error } = (await res.json()) as ErrorBody;
    expect(error).toMatchObject({ code: 'budget_exceeded', type: 'insufficient_quota' });
    expect(error.message).toContain(`spent $${ONE}, in flight $${held.reservedUsd}`);
    expect(error.message).not.toContain('?');
    // refused by what is in flight, not by its own size: the same header and figures
    const crowded = await chat(key.key, { ...body, max_tokens: 2 * MAX_TOKENS });
    expect(crowded.status).toBe(429);
    expect(crowded.headers.get('x-should-retry')).toBe('false');
    expect(((await crowded.json()) as ErrorBody).error.message).toContain(`spent $${ONE}, in flight $${ONE}`);
    await held.finish({ metered: false });
  });

  it('takes no rate slot for a request the budget refuses or a malformed bound', async () => {
    const key = await createKey({
      monthly_budget_usd: formatDecimal(times(2, parseDecimal(ONE))),
      rpm_limit: 2,
    });
    for (let i = 0; i < 3; i++) {
      expect((await chat(key.key, { ...body, max_tokens: 100 * MAX_TOKENS })).status).toBe(429);
      const malformed = await chat(key.key, { ...body, max_tokens: '50' });
      expect(malformed.status).toBe(400);
      expect(((await malformed.json()) as ErrorBody).error.param).toBe('max_tokens');
    }
    const first = await chat(key.key);
    expect(first.status).toBe(200);
    expect(first.headers.get('x-ratelimit-remaining-requests')).toBe('1');
    expect((await chat(key.key)).status).toBe(200);
  });
});
