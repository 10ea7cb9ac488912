// Budget periods (DESIGN §6b): day, ISO week and calendar month, each reset exactly at its boundary on a
// clock the test controls; requests in flight over a boundary settle in the period that admitted them.
import { sql } from 'drizzle-orm';
import { HttpResponse, http } from 'msw';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { add, formatDecimal, parseDecimal, times } from '../../src/billing/money.ts';
import { estimatePromptTokens } from '../../src/metering/tokens.ts';
import { type BudgetPeriod, budgetPeriod } from '../../src/services/admission/limits.ts';
import { BACKENDS } from '../helpers/databases.ts';
import { gatewaySuite, type TestGateway } from '../helpers/gateway.ts';
import type { MockUpstream } from '../helpers/mock-upstream.ts';
import { expectError, json } from '../helpers/requests.ts';

const MAX_TOKENS = 50;
const body = {
  model: 'openai/gpt-oss-120b:groq',
  messages: [{ role: 'user', content: 'hi' }],
  max_tokens: MAX_TOKENS,
};
const PROMPT = await estimatePromptTokens(body);
/** one request's worst case, which the mock upstream then reports as its real cost */
const ONE = formatDecimal(
  add(times(PROMPT, parseDecimal('0.000001')), times(MAX_TOKENS, parseDecimal('0.000003'))),
);
const usage = {
  usage: { prompt_tokens: PROMPT, completion_tokens: MAX_TOKENS, total_tokens: PROMPT + MAX_TOKENS },
};

type Key = {
  id: string;
  key: string;
  budget_period: string;
  alert_thresholds: number[];
  soft_budget: boolean;
  period_start?: string;
  period_spend_usd?: string;
  remaining_budget_usd?: string | null;
  in_flight_reserved_usd?: string;
};

/** The last millisecond of a period and the first of the next, for each kind. */
const BOUNDARIES: [BudgetPeriod, string, string, string][] = [
  // [period, last instant, first instant of the next, the next period's start]
  ['day', '2026-12-01T23:59:59.999Z', '2026-12-02T00:00:00.000Z', '2026-12-02'],
  // Sunday → Monday (ISO week)
  ['week', '2026-12-06T23:59:59.999Z', '2026-12-07T00:00:00.000Z', '2026-12-07'],
  ['month', '2026-12-31T23:59:59.999Z', '2027-01-01T00:00:00.000Z', '2027-01-01'],
];

afterEach(() => {
  vi.useRealTimers();
});

/** Freezes the gateway's clock (Date only: timers and the database keep real time). */
function clockAt(instant: string) {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(new Date(instant));
}

describe.each(BACKENDS)('budget periods on %s', (backend) => {
  let gw: TestGateway;
  let upstream: MockUpstream;
  gatewaySuite(
    { backend, handlers: [http.post('*/chat/completions', () => HttpResponse.json(usage))] },
    (suite) => ({ gw, upstream } = suite),
  );

  const createKey = (settings: Record<string, unknown>) =>
    json<Key>(gw.call('/admin/keys', { method: 'POST', json: { name: 'periodic', ...settings } }));
  const chat = (key: string) => gw.call('/v1/chat/completions', { method: 'POST', json: body, key });
  const listed = async (id: string) =>
    (await json<{ data: Key[] }>(gw.call('/admin/keys'))).data.find((k) => k.id === id);
  const spendRows = (id: string) =>
    gw.deps.database.rows<{ period: string; spent_usd: string; reserved_usd: string }>(
      sql`select period::text, trim_scale(spent_usd)::text as spent_usd, trim_scale(reserved_usd)::text as reserved_usd from key_spend where api_key_id = ${id} order by period`,
    );

  it.each(BOUNDARIES)(
    'resets a %s budget exactly at its boundary, a request in flight over it settling in the period that admitted it',
    async (period, last, first, nextStart) => {
      const key = await createKey({ monthly_budget_usd: ONE, budget_period: period });
      let arrived!: () => void;
      const upstreamHasIt = new Promise<void>((resolve) => {
        arrived = resolve;
      });
      let finish!: () => void;
      const gate = new Promise<void>((resolve) => {
        finish = resolve;
      });
      upstream.use(
        http.post(
          '*/chat/completions',
          async () => {
            arrived();
            await gate;
            return HttpResponse.json(usage);
          },
          { once: true },
        ),
      );

      clockAt(last);
      const inFlight = chat(key.key);
      await upstreamHasIt;
      // the in-flight reservation holds the whole budget of this period
      expect((await chat(key.key)).status).toBe(429);

      clockAt(first);
      expect((await chat(key.key)).status).toBe(200);
      finish();
      const late = await inFlight;
      expect(late.status).toBe(200);
      const row = await gw.usageRow(late.headers.get('x-request-id'));
      expect(new Date(String(row?.created_at)).toISOString()).toBe(last);

      const previousStart = budgetPeriod(new Date(last), period);
      expect(await spendRows(key.id)).toEqual([
        { period: previousStart, spent_usd: ONE, reserved_usd: '0' },
        { period: nextStart, spent_usd: ONE, reserved_usd: '0' },
      ]);
      expect(await listed(key.id)).toMatchObject({
        budget_period: period,
        period_start: nextStart,
        period_spend_usd: ONE,
        remaining_budget_usd: '0',
        in_flight_reserved_usd: '0',
      });
      // each period raises its own alerts: 0.5, 0.8 and 1.0 once in each
      const alerts = await gw.deps.database.rows<{ period_start: string; threshold: string }>(
        sql`select period_start::text, trim_scale(threshold)::text as threshold from budget_alerts
            where api_key_id = ${key.id} order by period_start, threshold`,
      );
      expect(alerts).toEqual(
        [previousStart, nextStart].flatMap((start) =>
          ['0.5', '0.8', '1'].map((threshold) => ({ period_start: start, threshold })),
        ),
      );
      // the new period is as full as the old one was: the next request is refused
      expect((await chat(key.key)).status).toBe(429);
    },
  );

  it('never refuses a soft budget, and keeps tracking the spend past it', async () => {
    const key = await createKey({ monthly_budget_usd: ONE, soft_budget: true });
    for (let i = 0; i < 4; i++) expect((await chat(key.key)).status).toBe(200);
    expect(await listed(key.id)).toMatchObject({
      soft_budget: true,
      period_spend_usd: formatDecimal(times(4, parseDecimal(ONE))),
      remaining_budget_usd: '0',
    });
    // the same key made hard refuses at once
    await gw.call(`/admin/keys/${key.id}`, { method: 'PATCH', json: { soft_budget: false } });
    expect((await chat(key.key)).status).toBe(429);
  });

  it('defaults to a hard monthly budget alerting at 50%, 80% and 100%', async () => {
    const key = await createKey({ monthly_budget_usd: '10' });
    expect(key).toMatchObject({
      budget_period: 'month',
      alert_thresholds: [0.5, 0.8, 1],
      soft_budget: false,
    });
    // no thresholds: a budget without alerts
    expect(await createKey({ monthly_budget_usd: '10', alert_thresholds: [] })).toMatchObject({
      alert_thresholds: [],
    });
  });

  it('takes budget settings on PATCH and records every change of them in the audit log', async () => {
    const key = await createKey({ monthly_budget_usd: '10' });
    const patched = await json<Key>(
      gw.call(`/admin/keys/${key.id}`, {
        method: 'PATCH',
        json: { budget_period: 'week', alert_thresholds: [0.9, 0.25, 0.9], soft_budget: true },
      }),
    );
    expect(patched).toMatchObject({
      budget_period: 'week',
      alert_thresholds: [0.25, 0.9],
      soft_budget: true,
    });
    const audit = await json<{
      data: { action: string; target: string; details: Record<string, unknown> }[];
    }>(gw.call('/admin/audit'));
    expect(audit.data[0]).toMatchObject({
      action: 'key.update',
      target: key.id,
      details: {
        changed: {
          budget_period: { from: 'month', to: 'week' },
          alert_thresholds: { from: [0.5, 0.8, 1], to: [0.25, 0.9] },
          soft_budget: { from: false, to: true },
        },
      },
    });
  });

  it.each([
    [{ budget_period: 'year' }, 'budget_period'],
    [{ alert_thresholds: [0.5, 1.5] }, 'alert_thresholds.1'],
    [{ alert_thresholds: [0] }, 'alert_thresholds.0'],
    [{ alert_thresholds: [-0.5] }, 'alert_thresholds.0'],
    [{ alert_thresholds: ['0.5'] }, 'alert_thresholds.0'],
    [{ alert_thresholds: [0.123456] }, 'alert_thresholds.0'],
    [{ alert_thresholds: Array.from({ length: 11 }, (_, i) => (i + 1) / 11) }, 'alert_thresholds'],
    [{ alert_thresholds: 0.5 }, 'alert_thresholds'],
    [{ soft_budget: 'yes' }, 'soft_budget'],
  ])('refuses %j with a 400 naming %s', async (settings, param) => {
    await expectError(
      await gw.call('/admin/keys', { method: 'POST', json: { name: 'bad', ...settings } }),
      400,
      'invalid_parameter',
      param,
    );
    const key = await createKey({});
    await expectError(
      await gw.call(`/admin/keys/${key.id}`, { method: 'PATCH', json: settings }),
      400,
      'invalid_parameter',
      param,
    );
  });

  it('computes the same period start in SQL (the spend trigger) as in admission, around every boundary', async () => {
    const instants = BOUNDARIES.flatMap(([, last, first]) => [last, first]).concat([
      '2026-12-31T12:00:00Z', // a Thursday: its ISO week began on Monday 2026-12-28, in the old year
      '2027-01-03T23:59:59.999Z',
      '2028-02-29T00:00:00Z',
      '2026-03-01T00:30:00+01:00', // still February in UTC
    ]);
    for (const period of ['day', 'week', 'month'] as const) {
      for (const instant of instants) {
        const [row] = await gw.deps.database.rows<{ start: string }>(
          sql`select tollgate_period_start(${period}, ${instant}::timestamptz)::text as start`,
        );
        expect({ period, instant, start: row?.start }).toEqual({
          period,
          instant,
          start: budgetPeriod(new Date(instant), period),
        });
      }
    }
  });
});
