// Closed months (drizzle/0023): a report by end user reads a month's closed days as running totals per
// user (the prefix to the range's last day less the prefix to the day before it). Over rows spread on
// three UTC months, with a day without rows in the middle, every selection is exact before the days are
// closed, after, after a late row and a correction unlist days mid-month, after a day's rows are all
// deleted, and once closed again; and a closed month really is read from its running totals.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addExact, multiplyExact } from '../../src/billing/charge.ts';
import { add, formatDecimal, parseDecimal } from '../../src/billing/money.ts';
import { migrate } from '../../src/db/migrate.ts';
import type { UsageLogInsert } from '../../src/db/schema.ts';
import { insertUsageRows } from '../../src/db/usage-insert.ts';
import { selectUsageGroups, selectUsageTotals, type UsageFilters } from '../../src/db/usage-repo.ts';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { appendCorrection } from '../helpers/ledger.ts';
import { chargeOfRow, exact, expected } from '../helpers/usage-oracle.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** 20 September 2026, 00:00 UTC: the rows run 53 days, to 11 November */
const START = Date.UTC(2026, 8, 20);
const SPAN_DAYS = 53;
const EMPTY_DAY = '2026-10-08';
const KEYS = [null, 'key_a', 'key_b'];
const USERS = [null, 'alice', 'bob', 'carol', 'dave'];

function makeRows(): UsageLogInsert[] {
  const rows: UsageLogInsert[] = [];
  for (let i = 0; i < 900; i++) {
    const at = START + ((i * 79_191_137) % (SPAN_DAYS * DAY)) + (i % 997);
    if (new Date(at).toISOString().startsWith(EMPTY_DAY)) continue;
    const cost = `0.${String((i * 982_451_653) % 1_000_000_007).padStart(18, '0')}`;
    rows.push({
      requestId: `req_months_${i}`,
      createdAt: new Date(at),
      apiKeyId: KEYS[i % KEYS.length] ?? null,
      provider: 'huggingface',
      model: 'm',
      endUser: USERS[(i >> 1) % USERS.length] ?? null,
      stream: false,
      status: 'ok',
      httpStatus: 200,
      promptTokens: 10 + (i % 300),
      completionTokens: i % 70,
      totalTokens: 10 + (i % 300) + (i % 70),
      usageSource: 'upstream',
      inputTokenCost: '0.000001',
      outputTokenCost: '0.000003',
      pricingSource: i % 9 === 0 ? 'builtin' : 'env',
      costInput: '0',
      costOutput: '0',
      costTotal: cost,
      latencyMs: 10,
      ...(i % 4 === 0 ? { markup: '1.25', chargeUsd: multiplyExact(cost, '1.25') } : {}),
    });
  }
  return rows;
}

const addCharge = (a: string, b: string) => formatDecimal(add(parseDecimal(a), parseDecimal(b)));

const at = (day: number, hours = 0, ms = 0) => new Date(START + day * DAY + hours * HOUR + ms);

/** Day-aligned, mid-month, across a month's end, ragged, open on either side, one user or key. */
const SELECTIONS: Array<[string, UsageFilters]> = [
  ['everything', {}],
  ["whole days, across the month's end", { from: at(30), to: at(47) }],
  ['ragged, seven weeks', { from: at(1, 5, 1_234), to: at(50, 7, 99) }],
  ['inside one month, the 5th to the 8th', { from: at(15), to: at(19) }],
  ['from only, mid-month', { from: at(27, 13) }],
  ['to only', { to: at(36, 2) }],
  ['ragged, to an hour from now', { from: at(2, 6, 6_000), to: new Date(Date.now() + HOUR + 1_234) }],
  ['one end user, ragged', { user: 'bob', from: at(14, 3), to: at(45, 5) }],
  ['one end user, one key', { user: 'alice', keyId: 'key_a', from: at(13) }],
  ['one key', { keyId: 'key_b', from: at(24), to: at(48) }],
];

describe.each(BACKENDS)('closed months on %s', (backend) => {
  let db: TestDatabase;
  let rows: UsageLogInsert[];

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    await migrate(db.database);
    rows = makeRows();
    for (let i = 0; i < rows.length; i += 50) await insertUsageRows(db.database, rows.slice(i, i + 50));
  });
  afterAll(async () => {
    await db.drop();
  });

  /**
   * Every selection's totals and groups equal the oracle's; with `monthsOnly`, only the reports the
   * months' totals serve (by end user, or one end user's totals; no key, which they do not keep).
   */
  async function expectExact({ monthsOnly = false } = {}) {
    for (const [name, filters] of SELECTIONS) {
      if (monthsOnly && filters.keyId !== undefined) continue;
      const [all] = expected(rows, filters);
      expect(all?.requests ?? 0n, name).toBeGreaterThan(0n);
      if (!all) throw new Error(`${name}: the selection holds no row`);
      const { group: _, ...sums } = all;
      if (!monthsOnly || filters.user !== undefined)
        expect(exact(await selectUsageTotals(db.database, filters)), name).toEqual(exact(sums));
      for (const groupBy of monthsOnly ? (['user'] as const) : (['user', 'key'] as const)) {
        const { groups } = await selectUsageGroups(db.database, { filters, groupBy, limit: 1000 });
        expect(groups.map(exact), `${name} by ${groupBy}`).toEqual(
          expected(rows, filters, groupBy).map(exact),
        );
      }
    }
  }

  const closeDays = () =>
    db.database.execute('select tollgate_close_usage_day(d) from tollgate_unclosed_usage_days() as d', []);

  async function prefixes(): Promise<string[]> {
    const months = await db.database.rows<{ month: string }>(
      sql`select distinct to_char(month at time zone 'UTC', 'YYYY-MM-DD') || '+' || days as month
          from usage_closed_user_months order by 1`,
    );
    return months.map((m) => m.month);
  }

  it('is exact before and after the days are closed, the day without rows closed too', async () => {
    await expectExact();
    await closeDays();
    const listed = await db.database.rows<{ n: string }>(
      sql`select count(*)::text as n from usage_closed_days where day = ${`${EMPTY_DAY}T00:00:00Z`}::timestamptz`,
    );
    expect(listed[0]?.n).toBe('1');
    // September is not closed from its first day (the ledger starts on the 20th); November runs to the 11th
    const months = await prefixes();
    expect(months.filter((m) => m.startsWith('2026-09'))).toEqual([]);
    expect(months).toContain('2026-10-01+31');
    expect(months).toContain('2026-11-01+11');
    expect(months).not.toContain('2026-11-01+12');
    // October is whole, so its ends are summed too; September and November are not
    const ends = await db.database.rows<{ month: string; n: string }>(
      sql`select to_char(month at time zone 'UTC', 'YYYY-MM') as month, count(distinct after)::text as n
          from usage_closed_user_month_ends group by 1 order by 1`,
    );
    expect(ends).toEqual([{ month: '2026-10', n: '30' }]);
    await expectExact();
  });

  it('reads a closed month from its running totals, not from its days', async () => {
    // a change to a day's rollup rows that no report may see while the day is closed (the triggers
    // that unlist a day are on the other rollups: this one is written beside them)
    const tamper = (by: number) =>
      db.database.execute(
        `update usage_daily_users set requests = requests + ${by} where day = '2026-10-14T00:00:00Z'`,
        [],
      );
    await tamper(1000);
    try {
      await expectExact({ monthsOnly: true });
    } finally {
      await tamper(-1000);
    }
  });

  it("reads a range from mid-month to a whole month's end from the month's ends", async () => {
    // October's total, which that range no longer reads, changed behind the closer's back
    const tamper = (by: number) =>
      db.database.execute(
        `update usage_closed_user_months set requests = requests + ${by}
         where month = '2026-10-01T00:00:00Z' and days = 31`,
        [],
      );
    const filters = SELECTIONS.find(([name]) => name === "whole days, across the month's end")?.[1] ?? {};
    await tamper(1000);
    try {
      const { groups } = await selectUsageGroups(db.database, { filters, groupBy: 'user', limit: 1000 });
      expect(groups.map(exact)).toEqual(expected(rows, filters, 'user').map(exact));
    } finally {
      await tamper(-1000);
    }
  });

  it('stays exact when a late row and a correction unlist days mid-month, and when closed again', async () => {
    const late = { ...(rows[11] as UsageLogInsert), requestId: 'req_months_late', createdAt: at(24, 4) };
    await insertUsageRows(db.database, [late]);
    rows.push(late);
    const victim = rows.find((r) => (r.createdAt as Date).toISOString().startsWith('2026-10-20'));
    if (!victim) throw new Error('no row on the 20th');
    const delta = '0.000000000000000007';
    await appendCorrection(db.database, victim.requestId, delta);
    victim.chargeUsd = addExact(chargeOfRow(victim), multiplyExact(delta, victim.markup ?? '1'));
    victim.costTotal = addCharge(victim.costTotal, delta);
    await expectExact();
    await closeDays();
    await expectExact();
  });

  it('stays exact when every row of a closed day is deleted', async () => {
    await db.database.execute(
      `delete from usage_logs where created_at >= '2026-10-15T00:00:00Z' and created_at < '2026-10-16T00:00:00Z'`,
      [],
    );
    rows = rows.filter((r) => !(r.createdAt as Date).toISOString().startsWith('2026-10-15'));
    await expectExact();
    await closeDays();
    await expectExact();
  });
});
