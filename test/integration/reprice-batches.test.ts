// Issue 23 item 4: /admin/reprice runs in bounded batches, each its own short transaction. A run over
// many rows in small batches equals the one-shot answer; concurrent runs (one process, or two
// "replicas") each correct a row once; requests between batches are admitted, reserved and recorded;
// a run stopped between batches is finished by running it again, each row corrected exactly once.
import { sql } from 'drizzle-orm';
import { HttpResponse, http } from 'msw';
import { beforeAll, describe, expect, it } from 'vitest';
import { formatDecimal, parseDecimal, subtract } from '../../src/billing/money.ts';
import { createRepricer, type RepriceRequest } from '../../src/services/pricing/reprice.ts';
import { BACKENDS } from '../helpers/databases.ts';
import { fixtureText } from '../helpers/fixtures.ts';
import { gatewaySuite, type TestGateway } from '../helpers/gateway.ts';
import { chatRequest, json, type Row } from '../helpers/requests.ts';

// 1000 prompt tokens (400 cached), 500 completion: 0.025 at the wrong price, 0.0023 at the right one
const body = fixtureText('nonstream/hf-groq-gpt-oss-120b.cached-reasoning.response.json');
/** usage rows in the window: the real one plus copies, some sharing a created_at (keyset ties) */
const ROWS = 41;
const PER_ROW = '-0.0227';
const TOTAL = '-0.9307'; // 41 × -0.0227

describe.each(BACKENDS)('reprice in batches on %s', (backend) => {
  let gw: TestGateway;
  gatewaySuite(
    {
      backend,
      env: { REPRICE_BATCH_ROWS: '6' },
      handlers: [
        http.post(
          '*/chat/completions',
          () => new HttpResponse(body, { headers: { 'content-type': 'application/json' } }),
        ),
      ],
    },
    (suite) => ({ gw } = suite),
  );
  const rows = (query: string) => gw.deps.database.rows<Row>(sql.raw(query));
  let budgeted: { id: string; key: string };

  /** A model of its own with ROWS rows billed at the wrong price, then the right price backdated. */
  async function mispriced(model: string): Promise<Omit<RepriceRequest, 'dryRun' | 'actor'>> {
    const wrongFrom = new Date(Date.now() - 60_000).toISOString();
    const put = (input: string, cached?: string) =>
      gw.call('/admin/pricing', {
        method: 'PUT',
        json: {
          model_name: model,
          input_token_cost: input,
          ...(cached ? { cached_input_token_cost: cached } : {}),
          output_token_cost: input === '0.00001' ? '0.00003' : '0.000003',
          effective_from: wrongFrom,
        },
      });
    await put('0.00001');
    const res = await gw.call('/v1/chat/completions', {
      method: 'POST',
      json: { ...chatRequest, model },
      key: budgeted.key,
    });
    expect(res.headers.get('x-usage-cost-usd')).toBe('0.025');
    const template = res.headers.get('x-request-id') as string;
    // copies of the row: the triggers roll them up as they would real ones; every third pair shares a time
    const columns = (
      await rows(
        `select column_name from information_schema.columns where table_name = 'usage_logs'
         and column_name not in ('id', 'request_id', 'created_at') and is_generated = 'NEVER'`,
      )
    ).map((r) => `"${r.column_name as string}"`);
    await gw.deps.database.db.execute(
      sql.raw(`insert into usage_logs (request_id, created_at, ${columns.join(', ')})
        select '${model}-' || g, t.created_at + (g / 3) * interval '1 microsecond', ${columns.map((c) => `t.${c}`).join(', ')}
        from usage_logs t, generate_series(1, ${ROWS - 1}) g where t.request_id = '${template}'`),
    );
    await put('0.000001', '0.0000005');
    return { from: new Date(wrongFrom), to: new Date(Date.now() + 60_000), model };
  }

  const repricer = (batchRows: number, afterBatch?: (n: number) => Promise<void> | void) =>
    createRepricer({ database: gw.deps.database, pricing: gw.deps.pricing, batchRows, afterBatch });

  async function expectEachRowCorrectedOnce(model: string) {
    const perRow = await rows(
      `select u.request_id, count(c.id)::int as n, coalesce(sum(c.delta_usd), 0)::text as delta
       from usage_logs u left join usage_corrections c on c.request_id = u.request_id
       where u.model = '${model}' group by u.request_id`,
    );
    expect(perRow).toHaveLength(ROWS);
    for (const r of perRow) expect(r).toMatchObject({ n: 1, delta: PER_ROW });
  }

  beforeAll(async () => {
    budgeted = await json(
      gw.call('/admin/keys', { method: 'POST', json: { name: 'batches', monthly_budget_usd: '1000' } }),
    );
  });

  it('many batches answer what one batch answers, to the last digit, and every sum follows', async () => {
    const window = await mispriced('acme/batched:groq');
    const oneShot = await repricer(10_000)({ ...window, dryRun: true, actor: 'master' });
    expect(oneShot).toMatchObject({ rows_examined: ROWS, rows_corrected: ROWS, delta_usd: TOTAL });
    // batches of 6: the route, with a date-time window
    const spendBefore = await rows(
      `select sum(spent_usd)::text as s from key_spend where api_key_id = '${budgeted.id}'`,
    );
    const done = await json<Row>(
      gw.call('/admin/reprice', {
        method: 'POST',
        json: { from: window.from.toISOString(), to: window.to.toISOString(), model: window.model },
      }),
    );
    expect(done).toMatchObject({ rows_examined: ROWS, rows_corrected: ROWS, delta_usd: oneShot.delta_usd });
    await expectEachRowCorrectedOnce(window.model as string);
    const spendAfter = await rows(
      `select sum(spent_usd)::text as s from key_spend where api_key_id = '${budgeted.id}'`,
    );
    const moved = subtract(parseDecimal(String(spendAfter[0]?.s)), parseDecimal(String(spendBefore[0]?.s)));
    expect(formatDecimal(moved)).toBe(TOTAL);
    expect(await repricer(10_000)({ ...window, dryRun: true, actor: 'master' })).toMatchObject({
      rows_corrected: 0,
      delta_usd: '0',
    });
  });

  it('concurrent runs take turns, in one process and across two: each row is corrected once', async () => {
    const window = await mispriced('acme/concurrent:groq');
    const route = () =>
      gw.call('/admin/reprice', {
        method: 'POST',
        json: { from: window.from.toISOString(), to: window.to.toISOString(), model: window.model },
      });
    // two requests to one gateway, and a second "replica" (a repricer with its own queue) at once
    const [a, b, other] = await Promise.all([
      route(),
      route(),
      repricer(4)({ ...window, dryRun: false, actor: 'master' }),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    const answers = [await json<Row>(a), await json<Row>(b), other as unknown as Row];
    expect(answers.reduce((n, r) => n + (r.rows_corrected as number), 0)).toBe(ROWS);
    await expectEachRowCorrectedOnce(window.model as string);
  });

  it('requests between batches are admitted, reserve their budget and are recorded', async () => {
    const window = await mispriced('acme/metering:groq');
    const during: string[] = [];
    const result = await repricer(6, async (n) => {
      if (n > 2) return;
      // a budgeted request while the run is half-way: it must not wait for the run to end
      const res = await gw.call('/v1/chat/completions', {
        method: 'POST',
        json: { ...chatRequest, model: 'acme/elsewhere:groq' },
        key: budgeted.key,
      });
      expect(res.status).toBe(200);
      during.push(res.headers.get('x-request-id') as string);
    })({ ...window, dryRun: false, actor: 'master' });
    expect(result).toMatchObject({ rows_corrected: ROWS, delta_usd: TOTAL });
    expect(during).toHaveLength(2);
    for (const id of during) {
      expect(await gw.usageRow(id)).toMatchObject({ api_key_id: budgeted.id, status: 'ok' });
      // the reservation was taken and released by the row (none left behind)
      expect(await rows(`select * from budget_reservations where id = '${id}'`)).toEqual([]);
    }
  });

  it('a run stopped between batches is finished by the next run: each row corrected exactly once', async () => {
    const window = await mispriced('acme/interrupted:groq');
    const crash = new Error('killed between batches');
    await expect(
      repricer(6, (n) => {
        if (n === 3) throw crash;
      })({ ...window, dryRun: false, actor: 'master' }),
    ).rejects.toBe(crash);
    const partial = await rows(
      `select count(*)::int as n from usage_corrections c join usage_logs u using (request_id) where u.model = '${window.model}'`,
    );
    expect(partial[0]?.n).toBe(18); // three committed batches of 6
    const rest = await repricer(6)({ ...window, dryRun: false, actor: 'master' });
    expect(rest).toMatchObject({ rows_examined: ROWS, rows_corrected: ROWS - 18 });
    await expectEachRowCorrectedOnce(window.model as string);
  });

  it('takes a date as its midnight UTC', async () => {
    const res = await gw.call('/admin/reprice', {
      method: 'POST',
      json: { from: '2026-11-01', to: '2026-11-02', dry_run: true },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      from: '2026-11-01T00:00:00.000Z',
      to: '2026-11-02T00:00:00.000Z',
      rows_examined: 0,
    });
  });
});
