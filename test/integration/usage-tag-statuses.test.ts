// Closed days summed from their rows (drizzle/0024): no rollup keeps a tag with a status, so a report on
// both reads a closed day's sums per (tag, status), taken from the day's rows when it is closed, and
// the other days from usage_logs. Over rows on six weeks across two months, every such selection is
// exact before and after closing, after a late row and a correction reopen days, and after a month is
// archived (its rows dropped, its sums kept); a day written between the closer's two steps is closed
// without them; and a closed day really is read from its sums.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addExact, multiplyExact } from '../../src/billing/charge.ts';
import { add, formatDecimal, parseDecimal } from '../../src/billing/money.ts';
import { migrate } from '../../src/db/migrate.ts';
import type { UsageLogInsert } from '../../src/db/schema.ts';
import { insertUsageRows } from '../../src/db/usage-insert.ts';
import { selectUsageGroups, selectUsageTotals, type UsageFilters } from '../../src/db/usage-repo.ts';
import { createLogger } from '../../src/logger.ts';
import { archiveMonth } from '../../src/services/ledger/archive.ts';
import { createLedgerPartitions, ensureMonth } from '../../src/services/ledger/partitions.ts';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { appendCorrection, usageRow } from '../helpers/ledger.ts';
import { chargeOfRow, exact, expected } from '../helpers/usage-oracle.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** 12 October 2026, 00:00 UTC: the rows run 40 days, to 21 November */
const START = Date.UTC(2026, 9, 12);
const SPAN_DAYS = 40;
const STATUSES = ['ok', 'ok', 'upstream_error', 'client_aborted'] as const;
const TAGS: Array<string[] | null> = [null, ['a'], ['b'], ['a', 'b'], ['a', 'a'], [], ['c', 'a']];

function makeRows(): UsageLogInsert[] {
  return Array.from({ length: 700 }, (_, i) => {
    const cost = `0.${String((i * 982_451_653) % 1_000_000_007).padStart(18, '0')}`;
    const status = STATUSES[i % STATUSES.length] ?? 'ok';
    return usageRow({
      requestId: `req_tag_status_${i}`,
      createdAt: new Date(START + ((i * 79_191_137) % (SPAN_DAYS * DAY)) + (i % 997)),
      apiKeyId: i % 3 === 0 ? null : 'key_a',
      tags: TAGS[(i >> 2) % TAGS.length] ?? null,
      status,
      httpStatus: status === 'ok' ? 200 : 502,
      promptTokens: 10 + (i % 300),
      completionTokens: i % 70,
      totalTokens: 10 + (i % 300) + (i % 70),
      pricingSource: i % 9 === 0 ? 'builtin' : 'env',
      costTotal: cost,
      ...(i % 4 === 0 ? { markup: '1.25', chargeUsd: multiplyExact(cost, '1.25') } : {}),
    });
  });
}

const at = (day: number, hours = 0, ms = 0) => new Date(START + day * DAY + hours * HOUR + ms);
const dayText = (day: number) => at(day).toISOString();

/** What the closed sums answer: a tag with a status, by either or by day; ragged, open, across months. */
const SELECTIONS: Array<[string, UsageFilters, Array<'status' | 'tag' | 'day'>]> = [
  ['one tag, by status, ragged', { tag: 'a', from: at(1, 5, 1_234), to: at(38, 7, 99) }, ['status', 'day']],
  ['one status, by tag, whole days', { status: 'upstream_error', from: at(3), to: at(30) }, ['tag']],
  ['one tag and status, open', { tag: 'b', status: 'ok' }, ['day']],
  [
    'one tag and status, to an hour from now',
    { tag: 'a', status: 'client_aborted', from: at(2, 6) },
    ['day'],
  ],
  ['a tag few rows have, by status', { tag: 'c', to: at(36, 2) }, ['status']],
];

describe.each(BACKENDS)('closed tag-status sums on %s', (backend) => {
  let db: TestDatabase;
  let rows: UsageLogInsert[];
  const logger = createLogger({ level: 'silent' });

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    await migrate(db.database);
    // October has a partition of its own, to be archived
    for (const month of [9, 10]) await ensureMonth(db.database, new Date(Date.UTC(2026, month, 1)));
    rows = makeRows();
    for (let i = 0; i < rows.length; i += 50) await insertUsageRows(db.database, rows.slice(i, i + 50));
  });
  afterAll(async () => {
    await db.drop();
  });

  async function expectExact(selections = SELECTIONS) {
    for (const [name, filters, groupings] of selections) {
      const [all] = expected(rows, filters);
      if (!all) throw new Error(`${name}: the selection holds no row`);
      const { group: _, ...sums } = all;
      expect(exact(await selectUsageTotals(db.database, filters)), name).toEqual(exact(sums));
      for (const groupBy of groupings) {
        const { groups } = await selectUsageGroups(db.database, { filters, groupBy, limit: 1000 });
        expect(groups.map(exact), `${name} by ${groupBy}`).toEqual(
          expected(rows, filters, groupBy).map(exact),
        );
      }
    }
  }

  const closeDays = () => createLedgerPartitions({ database: db.database, logger }).closeDays();

  async function takenDays(): Promise<string[]> {
    const days = await db.database.rows<{ day: string }>(
      sql`select to_char(day at time zone 'UTC', 'YYYY-MM-DD') as day from usage_closed_days
          where tag_statuses order by 1`,
    );
    return days.map((d) => d.day);
  }

  it('is exact before and after the days are closed, each closed day with its sums', async () => {
    await expectExact();
    expect(await closeDays()).toBe(SPAN_DAYS);
    const taken = await takenDays();
    expect(taken).toHaveLength(SPAN_DAYS);
    expect(taken[0]).toBe('2026-10-12');
    await expectExact();
  });

  it('reads a closed day from its sums, not from its rows', async () => {
    const tamper = (by: number) =>
      db.database.execute(
        `update usage_closed_tag_statuses set requests = requests + ${by}
         where day = '${dayText(10)}' and tag = 'a' and status = 'ok'`,
        [],
      );
    const filters = { tag: 'a', from: at(3), to: at(30) };
    const truth = expected(rows, filters, 'status');
    await tamper(1000);
    try {
      const { groups } = await selectUsageGroups(db.database, { filters, groupBy: 'status', limit: 1000 });
      const ok = groups.find((g) => g.group === 'ok');
      expect(ok?.requests).toBe((truth.find((g) => g.group === 'ok')?.requests ?? 0n) + 1000n);
    } finally {
      await tamper(-1000);
    }
  });

  it('stays exact when a late row and a correction reopen days, and takes their sums again', async () => {
    const late = { ...(rows[13] as UsageLogInsert), requestId: 'req_tag_status_late', createdAt: at(7, 4) };
    await insertUsageRows(db.database, [late]);
    rows.push(late);
    const victim = rows.find(
      (r) => (r.tags ?? []).includes('a') && (r.createdAt as Date).toISOString() > dayText(20),
    );
    if (!victim) throw new Error('no tagged row after day 20');
    const delta = '0.000000000000000007';
    await appendCorrection(db.database, victim.requestId, delta);
    victim.chargeUsd = addExact(chargeOfRow(victim), multiplyExact(delta, victim.markup ?? '1'));
    victim.costTotal = formatDecimal(add(parseDecimal(victim.costTotal), parseDecimal(delta)));
    expect(await takenDays()).toHaveLength(SPAN_DAYS - 2);
    await expectExact();
    expect(await closeDays()).toBe(2);
    expect(await takenDays()).toHaveLength(SPAN_DAYS);
    await expectExact();
  });

  it('closes a day written between its two steps without its sums, and takes them the next time', async () => {
    const day = dayText(15);
    await db.database.execute(`delete from usage_closed_days where day = '${day}'`, []);
    const [begun] = await db.database.rows<{ token: string }>(
      sql`select tollgate_begin_close_usage_day(${day}::timestamptz)::text as token`,
    );
    const late = {
      ...(rows[20] as UsageLogInsert),
      requestId: 'req_tag_status_between',
      createdAt: at(15, 9),
    };
    await insertUsageRows(db.database, [late]);
    rows.push(late);
    await db.database.execute(`select tollgate_close_usage_day('${day}', ${begun?.token})`, []);
    expect(await takenDays()).not.toContain(day.slice(0, 10));
    await expectExact();

    // another run's first step replaces the token: the first run's sums are not taken either
    await db.database.execute(`delete from usage_closed_days where day = '${day}'`, []);
    const [first] = await db.database.rows<{ token: string }>(
      sql`select tollgate_begin_close_usage_day(${day}::timestamptz)::text as token`,
    );
    await db.database.execute(`select tollgate_begin_close_usage_day('${day}')`, []);
    await db.database.execute(`select tollgate_close_usage_day('${day}', ${first?.token})`, []);
    expect(await takenDays()).not.toContain(day.slice(0, 10));

    await db.database.execute(`delete from usage_closed_days where day = '${day}'`, []);
    expect(await closeDays()).toBe(1);
    expect(await takenDays()).toContain(day.slice(0, 10));
    await expectExact();
  });

  it("keeps an archived month's sums, and closes its days again without them once its rows are gone", async () => {
    const archiveDir = mkdtempSync(join(tmpdir(), 'tollgate-archive-'));
    await archiveMonth({
      database: db.database,
      archiveDir,
      month: new Date(START),
      now: () => new Date(Date.UTC(2026, 11, 7)),
    });
    // October's rows are gone from usage_logs; its closed days still answer, from their sums (a range
    // with a partial October day at an edge would read that day's rows, which are gone)
    const whole = [
      'one status, by tag, whole days',
      'one tag and status, open',
      'a tag few rows have, by status',
    ];
    await expectExact(SELECTIONS.filter(([name]) => whole.includes(name)));

    // a write to an archived day (here: its rollup, by hand) reopens it; its rows are gone, so it is
    // closed again without tag-status sums (they would sum nothing), never with wrong ones
    await db.database.execute(
      `update usage_daily_tags set requests = requests where day = '${dayText(5)}' and tag = 'a'`,
      [],
    );
    expect(await closeDays()).toBe(1);
    expect(await takenDays()).not.toContain(dayText(5).slice(0, 10));
    expect(await takenDays()).toHaveLength(SPAN_DAYS - 1);
  });
});
