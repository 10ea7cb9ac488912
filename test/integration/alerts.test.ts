// Budget alerts end to end (DESIGN §6b): raised in the transaction that settles the spend, each
// (key, period, threshold) once, POSTed signed to a real receiver, retried while it fails, never again
// after its 2xx; listed by GET /admin/alerts and counted in /metrics.
import { sql } from 'drizzle-orm';
import { HttpResponse, http } from 'msw';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { add, formatDecimal, parseDecimal, times } from '../../src/billing/money.ts';
import { createLogger } from '../../src/logger.ts';
import { estimatePromptTokens } from '../../src/metering/tokens.ts';
import { budgetPeriod } from '../../src/services/admission/limits.ts';
import { BACKENDS } from '../helpers/databases.ts';
import { gatewaySuite, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { type MockUpstream, startMockUpstream } from '../helpers/mock-upstream.ts';
import { dashboardCookie, expectError, json } from '../helpers/requests.ts';
import { startReceiver } from '../helpers/webhook-receiver.ts';

const SECRET = 'whsec_test_0123456789abcdef';
const MAX_TOKENS = 50;
const body = {
  model: 'openai/gpt-oss-120b:groq',
  messages: [{ role: 'user', content: 'hi' }],
  max_tokens: MAX_TOKENS,
};
const PROMPT = await estimatePromptTokens(body);
/** one request's worst case, which the mock upstream reports as its real cost */
const ONE = parseDecimal(
  formatDecimal(add(times(PROMPT, parseDecimal('0.000001')), times(MAX_TOKENS, parseDecimal('0.000003')))),
);
const usage = (completion = MAX_TOKENS) => ({
  usage: { prompt_tokens: PROMPT, completion_tokens: completion, total_tokens: PROMPT + completion },
});
const receiver = await startReceiver();
const ATTEMPTS = 5;

type Alert = {
  id: string;
  key_id: string;
  threshold: number;
  state: string;
  attempts: number;
  spent_usd: string;
};

afterAll(() => receiver.close());
afterEach(async () => {
  receiver.answer = () => 200;
  await receiver.up();
});

async function eventually<T>(
  read: () => Promise<T> | T,
  until: (value: T) => boolean,
  ms = 15_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (until(value)) return value;
    if (Date.now() > end) throw new Error(`never became true; last: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const settle = (ms = 400) => new Promise((r) => setTimeout(r, ms));

describe.each(BACKENDS)('budget alerts on %s', (backend) => {
  let gw: TestGateway;
  let upstream: MockUpstream;
  gatewaySuite(
    {
      backend,
      env: {
        ALERT_WEBHOOK_URL: receiver.url,
        ALERT_WEBHOOK_SECRET: SECRET,
        ALERT_MAX_ATTEMPTS: String(ATTEMPTS),
        ALERT_BACKOFF_BASE_MS: '40',
        ALERT_BACKOFF_MAX_MS: '300',
        ALERT_TIMEOUT_MS: '300',
        ALERT_POLL_MS: '20',
      },
      handlers: [http.post('*/chat/completions', () => HttpResponse.json(usage()))],
    },
    (suite) => ({ gw, upstream } = suite),
  );

  /** a key whose budget is `requests` requests of ONE */
  const createKey = async (requests: number, settings: Record<string, unknown> = {}) =>
    json<{ id: string; key: string }>(
      gw.call('/admin/keys', {
        method: 'POST',
        json: { name: 'prod & co', monthly_budget_usd: formatDecimal(times(requests, ONE)), ...settings },
      }),
    );
  const chat = async (key: string, times = 1) => {
    for (let i = 0; i < times; i++) {
      expect((await gw.call('/v1/chat/completions', { method: 'POST', json: body, key })).status).toBe(200);
    }
  };
  const alertsOf = async (keyId: string) =>
    (await json<{ data: Alert[] }>(gw.call(`/admin/alerts?key_id=${keyId}`))).data.sort(
      (a, b) => a.threshold - b.threshold,
    );
  const delivered = (keyId: string, n: number) =>
    eventually(
      () => alertsOf(keyId),
      (list) => list.length === n && list.every((a) => a.state === 'delivered'),
    );
  const thresholdsSent = (keyId: string) => receiver.about(keyId).map((r) => r.json.threshold);

  it('raises and delivers each threshold once as the spend crosses it, signed, with a readable text', async () => {
    const key = await createKey(10);
    await chat(key.key, 4);
    await settle();
    expect(await alertsOf(key.id)).toEqual([]);
    await chat(key.key, 1);
    await delivered(key.id, 1);
    await chat(key.key, 3);
    await delivered(key.id, 2);
    await chat(key.key, 2);
    await delivered(key.id, 3);
    await settle();
    expect(thresholdsSent(key.id)).toEqual([0.5, 0.8, 1]);

    const [half] = receiver.about(key.id);
    expect(receiver.about(key.id).every((r) => receiver.verify(r, SECRET))).toBe(true);
    expect(half?.path).toBe('/hooks/tollgate');
    expect(half?.headers['content-type']).toBe('application/json');
    expect(half?.headers['idempotency-key']).toBe(half?.json.id);
    expect(half?.json).toEqual({
      type: 'budget.threshold',
      id: expect.stringMatching(/^alr_[0-9a-f]{32}$/),
      key_id: key.id,
      key_name: 'prod & co',
      period_start: new Date().toISOString().slice(0, 8).concat('01'),
      threshold: 0.5,
      spent_usd: formatDecimal(times(5, ONE)),
      budget_usd: formatDecimal(times(10, ONE)),
      text: expect.stringContaining(
        `Tollgate: key 'prod &amp; co' has spent $${formatDecimal(times(5, ONE))} of its $${formatDecimal(times(10, ONE))} monthly budget (50%)`,
      ),
    });
    // the secret signs; it is never sent
    expect(JSON.stringify(receiver.received)).not.toContain(SECRET);
  });

  it('raises every threshold a single request jumps over (40% → past 100%), each delivered once', async () => {
    const key = await createKey(10, { soft_budget: true });
    await chat(key.key, 4);
    upstream.use(http.post('*/chat/completions', () => HttpResponse.json(usage(2000)), { once: true }));
    await chat(key.key, 1);
    const alerts = await delivered(key.id, 3);
    expect(alerts.map((a) => a.threshold)).toEqual([0.5, 0.8, 1]);
    // raised together, in the one transaction that settled the jump
    expect(new Set(alerts.map((a) => a.spent_usd)).size).toBe(1);
    await settle();
    expect(thresholdsSent(key.id)).toEqual([0.5, 0.8, 1]);
  });

  it('never raises a threshold twice: not on a replayed row, nor on a correction, but a correction that crosses one raises it', async () => {
    const key = await createKey(10);
    await chat(key.key, 5);
    await delivered(key.id, 1);
    const spend = () =>
      gw.deps.database.rows<{ spent: string }>(
        sql`select trim_scale(spent_usd)::text as spent from key_spend where api_key_id = ${key.id}`,
      );
    const before = await spend();
    // a spool replay: the same request ids and start times again, skipped by ON CONFLICT (request_id, created_at)
    await gw.deps.database.rows(sql`
      insert into usage_logs (request_id, created_at, api_key_id, provider, model, stream, status, http_status,
        usage_source, input_token_cost, output_token_cost, pricing_source, cost_input, cost_output, cost_total, latency_ms)
      select request_id, created_at, api_key_id, provider, model, stream, status, http_status, usage_source,
        input_token_cost, output_token_cost, pricing_source, cost_input, cost_output, cost_total, latency_ms
      from usage_logs where api_key_id = ${key.id}
      on conflict (request_id, created_at) do nothing`);
    expect(await spend()).toEqual(before);
    // a price correction's delta lands on key_spend: +1 request's worth (60%) crosses nothing new …
    const correct = (delta: string) =>
      gw.deps.database.rows(
        sql`update key_spend set spent_usd = spent_usd + ${delta}::numeric where api_key_id = ${key.id}`,
      );
    await correct(formatDecimal(ONE));
    // … a downward one neither, and back up over 50% again is not a second 50% alert
    await correct(formatDecimal(times(2, ONE)).replace(/^/, '-'));
    await correct(formatDecimal(times(2, ONE)));
    await settle();
    expect((await alertsOf(key.id)).map((a) => a.threshold)).toEqual([0.5]);
    // to 90%: the 80% threshold, raised by the correction alone
    await correct(formatDecimal(times(3, ONE)));
    await delivered(key.id, 2);
    await settle();
    expect(thresholdsSent(key.id)).toEqual([0.5, 0.8]);
  });

  it('delivers late, once, to a receiver that was down and comes back', async () => {
    await receiver.down();
    const key = await createKey(2);
    await chat(key.key, 1);
    const pending = await eventually(
      () => alertsOf(key.id),
      (list) => (list[0]?.attempts ?? 0) >= 2,
    );
    expect(pending[0]).toMatchObject({ state: 'pending', last_error: expect.stringMatching(/ECONNREFUSED/) });
    await receiver.up();
    const [alert] = await delivered(key.id, 1);
    await settle();
    expect(receiver.about(key.id)).toHaveLength(1);
    expect(alert?.attempts).toBeGreaterThanOrEqual(3);
  });

  it('retries after a 500, a redirect and a timeout, and never calls a receiver again after its 2xx', async () => {
    const answers = [500, { redirect: '/elsewhere' }, 'hang', 200] as const;
    receiver.answer = (_request, earlier) => answers[earlier] ?? 200;
    const key = await createKey(2);
    await chat(key.key, 1);
    const [alert] = await delivered(key.id, 1);
    await settle(600);
    const sent = receiver.about(key.id);
    expect(sent.map((r) => r.path)).toEqual(Array(4).fill('/hooks/tollgate'));
    // the same alert every time: the same body and idempotency-key
    expect(new Set(sent.map((r) => r.body)).size).toBe(1);
    expect(new Set(sent.map((r) => r.headers['idempotency-key'])).size).toBe(1);
    expect(alert).toMatchObject({ attempts: 4, state: 'delivered' });
    expect(receiver.received.some((r) => r.path === '/elsewhere')).toBe(false);
  });

  it(`gives up after ALERT_MAX_ATTEMPTS (${ATTEMPTS}) and shows the alert failed, in /admin/alerts and /metrics`, async () => {
    receiver.answer = () => 503;
    const key = await createKey(2);
    await chat(key.key, 1);
    const [alert] = await eventually(
      () => alertsOf(key.id),
      (list) => list[0]?.state === 'failed',
    );
    expect(alert).toMatchObject({ attempts: ATTEMPTS, last_error: 'the receiver answered HTTP 503' });
    await settle();
    expect(receiver.about(key.id)).toHaveLength(ATTEMPTS);
    const metrics = await (await gw.call('/metrics')).text();
    expect(metrics).toMatch(/^tollgate_alerts_total\{state="failed"\} [1-9]/m);
    expect(metrics).toMatch(/^tollgate_alerts_total\{state="retried"\} [1-9]/m);
    expect(metrics).toMatch(/^tollgate_alerts_total\{state="delivered"\} \d/m);
  });

  it('lists alerts newest first with key_id, state, from/to filters and a cursor', async () => {
    const key = await createKey(10, { alert_thresholds: [0.1, 0.2, 0.3] });
    await chat(key.key, 3);
    await delivered(key.id, 3);
    const first = await json<{ data: Alert[]; next_cursor: string }>(
      gw.call(`/admin/alerts?key_id=${key.id}&limit=2`),
    );
    expect(first.data.map((a) => a.threshold)).toEqual([0.3, 0.2]);
    const second = await json<{ data: Alert[]; next_cursor: string | null }>(
      gw.call(`/admin/alerts?key_id=${key.id}&limit=2&cursor=${first.next_cursor}`),
    );
    expect(second).toMatchObject({ data: [{ threshold: 0.1 }], next_cursor: null });
    const none = await json<{ data: Alert[] }>(gw.call(`/admin/alerts?key_id=${key.id}&state=failed`));
    expect(none.data).toEqual([]);
    const future = await json<{ data: Alert[] }>(gw.call(`/admin/alerts?key_id=${key.id}&from=2999-01-01`));
    expect(future.data).toEqual([]);
    const past = await json<{ data: Alert[] }>(
      gw.call(`/admin/alerts?key_id=${key.id}&from=2000-01-01&to=2999-01-01`),
    );
    expect(past.data).toHaveLength(3);
  });

  it("shows each key's period, thresholds, spend bar and alerts with their state on the dashboard", async () => {
    const key = await createKey(10, { budget_period: 'week', alert_thresholds: [0.07, 0.5] });
    await chat(key.key, 1);
    await delivered(key.id, 1);
    const page = await gw.call('/dashboard', {
      key: null,
      headers: { cookie: await dashboardCookie(gw) },
    });
    expect(page.status).toBe(200);
    const html = await page.text();
    const start = html.indexOf(`data-key-id="${key.id}"`);
    const row = html.slice(start, html.indexOf('</tr>', start));
    // the period's start never wraps (class nowrap since the 1280 px layout fix)
    expect(row).toContain(`week <span class="muted nowrap">from ${budgetPeriod(new Date(), 'week')}</span>`);
    expect(row).toContain(`$${formatDecimal(ONE)}`);
    expect(row).toContain('7% 50%');
    expect(row).toMatch(/class="bar spend" style="width:10%"/);
    expect(row).toMatch(/<span class="badge ok"[^>]*>7% delivered/);
  });

  it.each([
    ['state=lost', 'state'],
    ['from=yesterday', 'from'],
    ['from=2026-02-01&to=2026-01-01', 'to'],
    ['limit=0', 'limit'],
    ['cursor=bm90LWEtY3Vyc29y', 'cursor'],
    ['colour=red', 'colour'],
  ])('refuses GET /admin/alerts?%s with a 400 naming %s', async (query, param) => {
    await expectError(await gw.call(`/admin/alerts?${query}`), 400, 'invalid_parameter', param);
  });
});

describe('budget alert delivery logs', () => {
  it('say what failed without the webhook secret or the URL’s path (a Slack token)', async () => {
    const lines: string[] = [];
    const upstream = await startMockUpstream(
      http.post('*/chat/completions', () => HttpResponse.json(usage())),
    );
    const url = receiver.url.replace('/hooks/tollgate', '/services/T000/B000/PATHTOKENxyz');
    const gw = await startTestGateway({
      backend: 'pglite',
      upstreamUrl: upstream.url,
      env: {
        ALERT_WEBHOOK_URL: url,
        ALERT_WEBHOOK_SECRET: SECRET,
        ALERT_BACKOFF_BASE_MS: '20',
        ALERT_POLL_MS: '20',
        LOG_LEVEL: 'debug',
      },
      logger: createLogger({ level: 'debug', destination: { write: (line: string) => lines.push(line) } }),
    });
    try {
      receiver.answer = (_request, earlier) => (earlier === 0 ? 500 : 200);
      const key = await json<{ id: string; key: string }>(
        gw.call('/admin/keys', {
          method: 'POST',
          json: { name: 'logged', monthly_budget_usd: formatDecimal(ONE), alert_thresholds: [1] },
        }),
      );
      await gw.call('/v1/chat/completions', { method: 'POST', json: body, key: key.key });
      await eventually(
        () => receiver.about(key.id).length,
        (n) => n === 2,
      );
      expect(receiver.about(key.id)[0]?.path).toBe('/services/T000/B000/PATHTOKENxyz');
      const log = lines.join('');
      expect(log).toContain('budget alert delivery failed; will retry');
      expect(log).toContain('the receiver answered HTTP 500');
      expect(log).not.toContain(SECRET);
      expect(log).not.toContain('PATHTOKENxyz');
    } finally {
      await gw.close();
      await upstream.close();
    }
  });
});
