import { sql } from 'drizzle-orm';
import { HttpResponse, http } from 'msw';
import { describe, expect, it } from 'vitest';
import { add, formatDecimal, parseDecimal, times } from '../../src/billing/money.ts';
import { estimatePromptTokens } from '../../src/metering/tokens.ts';
import { BACKENDS } from '../helpers/databases.ts';
import { fixtureJson } from '../helpers/fixtures.ts';
import { gatewaySuite, type TestGateway } from '../helpers/gateway.ts';
import type { MockUpstream } from '../helpers/mock-upstream.ts';

const MAX_TOKENS = 50;
const body = {
  model: 'openai/gpt-oss-120b:groq',
  messages: [{ role: 'user', content: 'hi' }],
  max_tokens: MAX_TOKENS,
};
const PROMPT = await estimatePromptTokens(body);
/** one request's worst case, which the mock upstream then reports as its real usage */
const ONE = formatDecimal(
  add(times(PROMPT, parseDecimal('0.000001')), times(MAX_TOKENS, parseDecimal('0.000003'))),
);

type KeyView = {
  id: string;
  key: string;
  month_to_date_spend_usd?: string;
  remaining_budget_usd?: string | null;
};

/** Waits out the last seconds of a minute, so a test's requests share one rate window. */
async function awayFromMinuteEdge() {
  const intoMinute = Date.now() % 60_000;
  if (intoMinute > 55_000) await new Promise((r) => setTimeout(r, 60_000 - intoMinute + 50));
}

describe.each(BACKENDS)('budgets and rate limits on %s', (backend) => {
  let upstream: MockUpstream;
  let gw: TestGateway;

  const reply = fixtureJson<Record<string, unknown>>('nonstream/hf-groq-gpt-oss-120b.response.json');
  gatewaySuite(
    {
      backend,
      // while other requests are in flight a reservation holds at least this many completion tokens
      env: { BUDGET_DEFAULT_MAX_TOKENS: String(MAX_TOKENS) },
      handlers: [
        http.post('*/chat/completions', () =>
          HttpResponse.json({
            ...reply,
            usage: {
              prompt_tokens: PROMPT,
              completion_tokens: MAX_TOKENS,
              total_tokens: PROMPT + MAX_TOKENS,
            },
          }),
        ),
      ],
    },
    (suite) => ({ gw, upstream } = suite),
  );

  const createKey = async (settings: Record<string, unknown>) =>
    (await (
      await gw.call('/admin/keys', { method: 'POST', json: { name: 'limited', ...settings } })
    ).json()) as KeyView;
  const chat = (key: string, json: unknown = body) =>
    gw.call('/v1/chat/completions', { method: 'POST', json, key });

  it('admits at most what the budget covers out of 50 concurrent requests, and never spends past it', async () => {
    const budget = formatDecimal(times(10, parseDecimal(ONE)));
    const key = await createKey({ monthly_budget_usd: budget });
    const replies = await Promise.all(Array.from({ length: 50 }, () => chat(key.key)));
    const admitted = replies.filter((r) => r.status === 200);
    const refused = replies.filter((r) => r.status === 429);
    expect(admitted).toHaveLength(10);
    expect(refused).toHaveLength(40);
    const error = (await refused[0]!.json()) as { error: { code: string; type: string } };
    expect(error.error).toMatchObject({ code: 'budget_exceeded', type: 'insufficient_quota' });
    // nothing refused went upstream
    expect(upstream.requests).toHaveLength(10);

    const [spent] = await gw.deps.database.rows<{ n: number; total: string }>(
      sql`select count(*)::int as n, sum(cost_total)::text as total from usage_logs where api_key_id = ${key.id}`,
    );
    expect(spent?.n).toBe(10);
    expect(formatDecimal(parseDecimal(spent?.total ?? '0'))).toBe(budget);
    const listed = ((await (await gw.call('/admin/keys')).json()) as { data: KeyView[] }).data.find(
      (k) => k.id === key.id,
    );
    expect(listed).toMatchObject({
      month_to_date_spend_usd: budget,
      remaining_budget_usd: '0',
      in_flight_reserved_usd: '0',
    });
  });

  it('settles the reservation to the real cost, so unused worst case is spendable again', async () => {
    // budget for exactly 2 worst cases; the upstream reports far less, so a third request fits
    upstream.use(
      http.post('*/chat/completions', () =>
        HttpResponse.json({ usage: { prompt_tokens: 1, completion_tokens: 1 } }),
      ),
    );
    const key = await createKey({ monthly_budget_usd: formatDecimal(times(2, parseDecimal(ONE))) });
    for (let i = 0; i < 3; i++) expect((await chat(key.key)).status).toBe(200);
    const listed = ((await (await gw.call('/admin/keys')).json()) as { data: KeyView[] }).data.find(
      (k) => k.id === key.id,
    );
    expect(listed?.month_to_date_spend_usd).toBe('0.000012');
  });

  it('releases the reservation of a failed request', async () => {
    upstream.use(
      http.post('*/chat/completions', () =>
        HttpResponse.json({ error: { message: 'boom' } }, { status: 500 }),
      ),
    );
    const key = await createKey({ monthly_budget_usd: ONE });
    expect((await chat(key.key)).status).toBe(502);
    upstream.reset();
    expect((await chat(key.key)).status).toBe(200);
  });

  it('refuses the request past the per-minute request limit with retry-after and x-ratelimit headers', async () => {
    await awayFromMinuteEdge();
    const key = await createKey({ rpm_limit: 3 });
    for (let i = 0; i < 3; i++) {
      const ok = await chat(key.key);
      expect(ok.status).toBe(200);
      expect(ok.headers.get('x-ratelimit-limit-requests')).toBe('3');
      expect(ok.headers.get('x-ratelimit-remaining-requests')).toBe(String(2 - i));
    }
    const refused = await chat(key.key);
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('rate_limit_exceeded');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refused.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(refused.headers.get('x-ratelimit-reset-requests')).toMatch(/^\d+s$/);
    expect(upstream.requests).toHaveLength(3);
  });

  it('counts estimated prompt plus max_tokens against the tokens-per-minute limit', async () => {
    await awayFromMinuteEdge();
    const key = await createKey({ tpm_limit: 2 * (PROMPT + MAX_TOKENS) });
    expect((await chat(key.key)).status).toBe(200);
    const second = await chat(key.key);
    expect(second.status).toBe(200);
    expect(second.headers.get('x-ratelimit-remaining-tokens')).toBe('0');
    expect((await chat(key.key)).status).toBe(429);
    const huge = await chat(key.key, { ...body, max_tokens: 10 * (PROMPT + MAX_TOKENS) });
    expect(huge.status).toBe(429);
    expect(((await huge.json()) as { error: { message: string } }).error.message).toMatch(/larger/);
  });

  it('applies a PATCHed limit to the next request, and audits who changed what', async () => {
    await awayFromMinuteEdge();
    const key = await createKey({});
    expect((await chat(key.key)).status).toBe(200);
    const patched = await gw.call(`/admin/keys/${key.id}`, { method: 'PATCH', json: { rpm_limit: 1 } });
    expect(patched.status).toBe(200);
    expect((await chat(key.key)).status).toBe(200);
    expect((await chat(key.key)).status).toBe(429);
    const audit = (await (await gw.call('/admin/audit')).json()) as {
      data: Array<{ action: string; target: string; actor: string }>;
    };
    expect(audit.data.slice(0, 2)).toMatchObject([
      { action: 'key.update', target: key.id, actor: 'master' },
      { action: 'key.create', target: key.id, actor: 'master' },
    ]);
  });

  it('rejects bad limit values naming the field', async () => {
    const res = await gw.call('/admin/keys', { method: 'POST', json: { name: 'x', rpm_limit: -1 } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { param: string } }).error.param).toBe('rpm_limit');
    const money = await gw.call('/admin/keys', {
      method: 'POST',
      json: { name: 'x', monthly_budget_usd: 10 },
    });
    expect(((await money.json()) as { error: { param: string } }).error.param).toBe('monthly_budget_usd');
  });
});
