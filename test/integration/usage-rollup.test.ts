// The hourly rollups are exact: every total and group /usage/summary reads from usage_hourly or the
// narrower rollups by endpoint and served_by, end user, and tag (plus the partial hours at a range's
// edges), or from usage_logs alone when no rollup holds the combination, equals the same sums computed
// here from the rows themselves, after inserts, skipped replays, deletes, updates and a truncate.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addExact, multiplyExact } from '../../src/billing/charge.ts';
import { add, formatDecimal, parseDecimal } from '../../src/billing/money.ts';
import { migrate } from '../../src/db/migrate.ts';
import type { UsageLogInsert } from '../../src/db/schema.ts';
import { insertUsageRows } from '../../src/db/usage-insert.ts';
import {
  type GroupBy,
  selectUsageGroups,
  selectUsageTotals,
  type UsageFilters,
} from '../../src/db/usage-repo.ts';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { appendCorrection } from '../helpers/ledger.ts';
import { chargeOfRow, exact, expected, zeroSums } from '../helpers/usage-oracle.ts';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 9, 30, 20, 0, 0); // 20:00 UTC, so the rows cross two UTC days
const KEYS = [null, 'key_alpha', 'key_beta'];
const MODELS = ['openai/gpt-oss-120b:groq', 'meta-llama/Llama-3.3-70B-Instruct', 'zeta'];
const STATUSES = ['ok', 'ok', 'ok', 'upstream_error', 'client_aborted'] as const;
const SERVED_BY = [null, 'groq', 'cerebras', 'groq'];
const USERS = [null, 'alice', 'bob', 'carol@example.com', 'dave'];
/** a duplicate tag in one row counts once */
const TAGS: Array<string[] | null> = [
  null,
  ['prod'],
  ['prod', 'feature:chat'],
  [],
  ['staging', 'staging'],
  ['feature:chat'],
  ['prod'],
];

/** 600 rows over 30 hours, some exactly on an hour, costs with all 18 decimals in play. */
function makeRows(): UsageLogInsert[] {
  const rows: UsageLogInsert[] = [];
  for (let i = 0; i < 600; i++) {
    const at = i % 50 === 0 ? T0 + (i / 50) * HOUR : T0 + ((i * 7_919_113) % (30 * HOUR)) + (i % 997);
    const prompt = 10 + ((i * 37) % 500);
    const completion = (i * 53) % 300;
    rows.push({
      requestId: `req_rollup_${i}`,
      createdAt: new Date(at),
      apiKeyId: KEYS[i % KEYS.length] ?? null,
      provider: 'huggingface',
      model: MODELS[(i >> 1) % MODELS.length] as string,
      endpoint: i % 4 === 1 ? 'responses' : 'chat.completions',
      servedBy: SERVED_BY[i % SERVED_BY.length] ?? null,
      endUser: USERS[(i >> 2) % USERS.length] ?? null,
      tags: TAGS[i % TAGS.length] ?? null,
      stream: i % 2 === 0,
      status: STATUSES[i % STATUSES.length] as string,
      httpStatus: 200,
      promptTokens: prompt,
      completionTokens: completion,
      totalTokens: prompt + completion,
      usageSource: 'upstream',
      inputTokenCost: '0.000001',
      outputTokenCost: '0.000003',
      pricingSource: i % 7 === 0 ? 'builtin' : 'env',
      costInput: '0',
      costOutput: '0',
      costTotal: `0.${String((i * 982_451_653) % 1_000_000_007).padStart(18, '0')}`,
      latencyMs: 10,
      ...chargeOf(i, `0.${String((i * 982_451_653) % 1_000_000_007).padStart(18, '0')}`),
    });
  }
  return rows;
}

/**
 * Issue 25: a third of the rows are account acct_a's at markup 1.25 (a charge with 20 decimals, past
 * money.ts's 18), a fifth acct_b's at 3; the others have no account, half of those written before
 * accounts existed (charge_usd null: charged their cost).
 */
function chargeOf(i: number, cost: string): Partial<UsageLogInsert> {
  if (i % 3 === 0) return { accountId: 'acct_a', markup: '1.25', chargeUsd: multiplyExact(cost, '1.25') };
  if (i % 5 === 0) return { accountId: 'acct_b', markup: '3', chargeUsd: multiplyExact(cost, '3') };
  return i % 2 === 0 ? { markup: '1', chargeUsd: cost } : {};
}

const at = (hours: number, ms = 0) => new Date(T0 + hours * HOUR + ms);

/** Ranges on hour boundaries, between them, inside one hour, open on either side, and filtered. */
const SELECTIONS: Array<[string, UsageFilters]> = [
  ['everything', {}],
  ['whole hours', { from: at(3), to: at(17) }],
  ['ragged edges', { from: at(2, 1_234_567), to: at(19, 2_345_678) }],
  ['inside one hour', { from: at(5, 60_000), to: at(5, 3_000_000) }],
  ['across one boundary', { from: at(8, 3_000_000), to: at(9, 500_000) }],
  ['from only', { from: at(11, 17) }],
  ['to only', { to: at(23, 999_999) }],
  // an end past now: the last day is read whole, less the hours after `to` (none has a row yet)
  ['ragged, to an hour from now', { from: at(6, 6_000), to: new Date(Date.now() + HOUR + 1_234) }],
  ['master key, ragged', { keyId: 'master', from: at(1, 1), to: at(29, -1) }],
  ['one key, one model', { keyId: 'key_beta', model: MODELS[1] as string }],
  ['one status, ragged', { status: 'upstream_error', from: at(4, 42) }],
  ['a key with no rows', { keyId: 'key_none' }],
  // the routes rollup
  ['one endpoint, ragged', { endpoint: 'responses', from: at(2, 7), to: at(20, 99) }],
  ['served by one provider, one model', { servedBy: 'groq', model: MODELS[0] as string }],
  // the end users' rollup
  ['one end user, ragged', { user: 'bob', from: at(3, 5), to: at(27, 5) }],
  ['one end user, one key', { user: 'alice', keyId: 'key_alpha' }],
  // the tags' rollup
  ['one tag, ragged', { tag: 'prod', from: at(1, 1_000), to: at(28, 1_000) }],
  ['one tag, master key', { tag: 'feature:chat', keyId: 'master' }],
  // no rollup holds these: usage_logs alone
  ['end user and tag', { user: 'carol@example.com', tag: 'prod' }],
  ['tag and status, ragged', { tag: 'staging', status: 'ok', from: at(4, 4) }],
  ['end user and served_by', { user: 'dave', servedBy: 'cerebras', to: at(25, 1) }],
  // no rollup holds the account (issue 25): usage_logs alone
  ['one account, ragged', { accountId: 'acct_a', from: at(2, 1_234_567), to: at(19, 2_345_678) }],
  ['one account, one model', { accountId: 'acct_b', model: MODELS[0] as string }],
];
const GROUP_BYS: GroupBy[] = [
  'day',
  'hour',
  'model',
  'key',
  'status',
  'endpoint',
  'served_by',
  'user',
  'tag',
  'account',
];

describe.each(BACKENDS)('the hourly rollup on %s', (backend) => {
  let db: TestDatabase;
  let rows: UsageLogInsert[];

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    await migrate(db.database);
    // the accounts the rows name (their charges move these balances)
    await db.database.execute(`insert into accounts (id, name) values ('acct_a', 'A'), ('acct_b', 'B')`, []);
  });
  afterAll(async () => {
    await db.drop();
  });

  /** Exact as the rollups hold it, then again once every past day is closed (drizzle/0022). */
  async function expectExact() {
    await expectExactNow();
    await closeDays();
    await expectExactNow();
  }

  /** Sums every day not closed yet; resolves to the days now closed. */
  async function closeDays(): Promise<string[]> {
    await db.database.execute(
      'select tollgate_close_usage_day(d) from tollgate_unclosed_usage_days() as d',
      [],
    );
    return closedDays();
  }

  async function closedDays(): Promise<string[]> {
    const days = await db.database.rows<{ day: string }>(
      sql`select to_char(day at time zone 'UTC', 'YYYY-MM-DD') as day from usage_closed_days order by 1`,
    );
    return days.map((d) => d.day);
  }

  async function expectExactNow() {
    for (const [name, filters] of SELECTIONS) {
      const [all] = expected(rows, filters);
      // the selections mean something: each one but the empty key picks some of the rows
      if (rows.length > 0 && filters.keyId !== 'key_none')
        expect(all?.requests ?? 0n, name).toBeGreaterThan(0n);
      const totals = await selectUsageTotals(db.database, filters);
      const { group: _, ...sums } = all ?? { group: '', ...exact(zeroSums()) };
      expect(exact(totals)).toEqual(exact(sums));
      for (const groupBy of GROUP_BYS) {
        // every group on one page (the query is paged since issue 23)
        const { groups } = await selectUsageGroups(db.database, { filters, groupBy, limit: 100_000 });
        expect(groups.map(exact)).toEqual(expected(rows, filters, groupBy).map(exact));
      }
    }
    // and the rollup table itself holds no empty group
    for (const table of ['usage_hourly', 'usage_hourly_routes', 'usage_hourly_users', 'usage_hourly_tags']) {
      const empty = await db.database.rows<{ n: string }>(
        sql`select count(*)::text as n from ${sql.identifier(table)} where requests <= 0`,
      );
      expect(empty[0]?.n, table).toBe('0');
    }
  }

  it('sums inserted rows exactly, and a replayed row is not counted twice', async () => {
    rows = makeRows();
    for (let i = 0; i < rows.length; i += 64) await insertUsageRows(db.database, rows.slice(i, i + 64));
    // a spool replay of rows already in the ledger: skipped by request_id, and by the rollup
    await insertUsageRows(db.database, rows.slice(100, 140));
    await expectExact();
  });

  it('closes the past days, and a write to a closed day unlists it until the next run sums it again', async () => {
    // the rows span three UTC days, all long past: closed by the last expectExact
    expect(await closedDays()).toEqual(['2026-10-30', '2026-10-31', '2026-11-01']);
    // a replayed request of the 31st that was never recorded (a late row)
    const late = { ...(rows[7] as UsageLogInsert), requestId: 'req_rollup_late', createdAt: at(10, 5) };
    await insertUsageRows(db.database, [late]);
    rows.push(late);
    expect(await closedDays()).toEqual(['2026-10-30', '2026-11-01']);
    await expectExactNow();
    // a correction of a row of the 30th (as /admin/reprice appends one): its cost and charge move
    const first = rows[0] as UsageLogInsert;
    const delta = '0.000000000000000007';
    await appendCorrection(db.database, first.requestId, delta);
    first.chargeUsd = addExact(chargeOfRow(first), multiplyExact(delta, first.markup ?? '1'));
    first.costTotal = formatDecimal(add(parseDecimal(first.costTotal), parseDecimal(delta)));
    expect(first.createdAt).toEqual(new Date(T0));
    expect(await closedDays()).toEqual(['2026-11-01']);
    await expectExact();
    expect(await closedDays()).toEqual(['2026-10-30', '2026-10-31', '2026-11-01']);
  });

  it('stays exact when rows are deleted or changed', async () => {
    await db.database.execute(`delete from usage_logs where request_id like 'req_rollup_1%'`, []);
    rows = rows.filter((r) => !r.requestId.startsWith('req_rollup_1'));
    await db.database.execute(
      `update usage_logs set cost_total = cost_total + 0.000000000000000001, model = 'zeta',
         tags = array['prod', 'late'], end_user = 'alice', served_by = 'cerebras'
       where request_id in ('req_rollup_2', 'req_rollup_305')`,
      [],
    );
    for (const row of rows) {
      if (row.requestId === 'req_rollup_2' || row.requestId === 'req_rollup_305') {
        row.costTotal = formatDecimal(add(parseDecimal(row.costTotal), parseDecimal('0.000000000000000001')));
        row.model = 'zeta';
        row.tags = ['prod', 'late'];
        row.endUser = 'alice';
        row.servedBy = 'cerebras';
      }
    }
    await expectExact();
  });

  it('is emptied by a truncate', async () => {
    await db.database.execute('truncate usage_logs', []);
    rows = [];
    await expectExact();
    for (const table of ['usage_hourly', 'usage_hourly_routes', 'usage_hourly_users', 'usage_hourly_tags']) {
      const left = await db.database.rows<{ n: string }>(
        sql`select count(*)::text as n from ${sql.identifier(table)}`,
      );
      expect(left[0]?.n, table).toBe('0');
    }
  });
});
