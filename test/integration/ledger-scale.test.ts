// Issue 26: the ledger partitioned by month (drizzle/0015), partitions made ahead, the daily rollups,
// and archive → drop → restore. Every step is checked against totals taken before it: nothing lost,
// nothing counted twice.

import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import { afterEach, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/client.ts';
import { migrate, migrationsFolder } from '../../src/db/migrate.ts';
import { type UsageLogInsert, usageLogs } from '../../src/db/schema.ts';
import { insertUsageRows } from '../../src/db/usage-insert.ts';
import { selectUsageGroups, selectUsageTotals } from '../../src/db/usage-repo.ts';
import { createLogger } from '../../src/logger.ts';
import { archiveMonth, restoreArchive } from '../../src/services/ledger/archive.ts';
import { createLedgerPartitions, ensureMonth } from '../../src/services/ledger/partitions.ts';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { appendCorrection, usageRow } from '../helpers/ledger.ts';

const HOUR = 3_600_000;
const logger = createLogger({ level: 'silent' });

/** n rows from `start`, one every `stepMs`, varied keys, models, users, tags and costs. */
function spread(prefix: string, start: number, n: number, stepMs: number): UsageLogInsert[] {
  return Array.from({ length: n }, (_, i) =>
    usageRow({
      requestId: `${prefix}_${i}`,
      createdAt: new Date(start + i * stepMs + (i % 7) * 1_013),
      apiKeyId: i % 3 === 0 ? null : `key_${i % 3}`,
      model: ['m-a', 'm-b', 'm-c'][i % 3] as string,
      endUser: i % 4 === 0 ? null : `user_${i % 5}`,
      tags: i % 2 === 0 ? ['prod'] : ['beta', 'x'],
      servedBy: i % 2 === 0 ? 'groq' : null,
      status: i % 11 === 0 ? 'upstream_error' : 'ok',
      promptTokens: 10 + i,
      completionTokens: i % 50,
      totalTokens: 10 + i + (i % 50),
      costTotal: `0.${String((i * 982_451_653) % 1_000_000_007).padStart(18, '0')}`,
    }),
  );
}

async function scalar(database: Database, query: ReturnType<typeof sql>): Promise<string> {
  const [row] = await database.rows<{ v: string | null }>(query);
  return String(row?.v ?? '');
}

/** Every rollup's sums (hourly and daily) and key_spend, as text: equal text, equal sums. */
async function sums(database: Database): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const table of ['usage_hourly', 'usage_hourly_routes', 'usage_hourly_users', 'usage_hourly_tags']) {
    out[table] = await scalar(
      database,
      sql`select concat_ws('/', sum(requests), sum(total_tokens), sum(cost_usd), count(*)) as v from ${sql.identifier(table)}`,
    );
  }
  out.key_spend = await scalar(
    database,
    sql`select concat_ws('/', sum(spent_usd), count(*)) as v from key_spend`,
  );
  return out;
}

/** The daily tables hold exactly the hourly tables' sums per UTC day and group. */
async function dailyMismatches(database: Database): Promise<number> {
  let bad = 0;
  for (const [hourly, daily, dims] of [
    ['usage_hourly', 'usage_daily', 'api_key_id, model, status'],
    ['usage_hourly_routes', 'usage_daily_routes', 'endpoint, served_by, model, status'],
    ['usage_hourly_users', 'usage_daily_users', 'end_user, api_key_id'],
    ['usage_hourly_tags', 'usage_daily_tags', 'tag, api_key_id, model'],
  ] as const) {
    bad += Number(
      await scalar(
        database,
        sql.raw(`select count(*) as v from (
          (select date_trunc('day', hour at time zone 'UTC') at time zone 'UTC' as day, ${dims}, sum(requests) r,
                  sum(total_tokens) t, sum(cost_usd) c, sum(unpriced_requests) u from ${hourly} group by 1, ${dims}
           except select day, ${dims}, requests, total_tokens, cost_usd, unpriced_requests from ${daily})
          union all
          (select day, ${dims}, requests, total_tokens, cost_usd, unpriced_requests from ${daily}
           except select date_trunc('day', hour at time zone 'UTC') at time zone 'UTC', ${dims}, sum(requests),
                  sum(total_tokens), sum(cost_usd), sum(unpriced_requests) from ${hourly} group by 1, ${dims})) d`),
      ),
    );
  }
  return bad;
}

/** drizzle/ up to (not including) 0015: today's unpartitioned ledger. */
function migrationsBefore0015(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-migrations-'));
  cpSync(migrationsFolder(), dir, { recursive: true });
  const journalPath = join(dir, 'meta', '_journal.json');
  const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: Array<{ tag: string }> };
  journal.entries = journal.entries.filter((entry) => entry.tag < '0015');
  writeFileSync(journalPath, JSON.stringify(journal));
  return dir;
}

async function migrateTo(database: Database, folder: string): Promise<void> {
  const { client } = database;
  if (client.kind === 'pglite') await migratePglite(drizzlePglite(client.pg), { migrationsFolder: folder });
  else await migratePostgres(drizzlePostgres(client.sql), { migrationsFolder: folder });
}

/** Every column of every row of a month, as text, in id order. */
const rowsText = (database: Database, from: Date, to: Date) =>
  scalar(
    database,
    sql`select string_agg(to_jsonb(u)::text, E'\n' order by id) as v from usage_logs u
        where created_at >= ${from.toISOString()}::timestamptz and created_at < ${to.toISOString()}::timestamptz`,
  );

describe.each(BACKENDS)('the ledger at scale on %s', (backend) => {
  let db: TestDatabase | undefined;
  afterEach(async () => {
    await db?.drop();
    db = undefined;
  });

  it('migrates an unpartitioned ledger into monthly partitions keeping every row, correction and total', async () => {
    db = await createTestDatabase(backend);
    const { database } = db;
    await migrateTo(database, migrationsBefore0015());
    const rows = spread('req_old', Date.UTC(2026, 8, 20), 240, 7 * HOUR); // ~70 days: three months
    // today's recorder statement names the new unique key: the old ledger gets its rows through drizzle
    await database.db.insert(usageLogs).values(rows);
    await appendCorrection(database, 'req_old_5', '0.000000000000000007');
    await appendCorrection(database, 'req_old_200', '-0.25');
    const before = await sums(database);
    const ledgerBefore = await rowsText(database, new Date(0), new Date(Date.UTC(2100, 0)));
    const maxId = await scalar(database, sql`select max(id) as v from usage_logs`);

    await migrate(database);

    expect(
      await scalar(database, sql`select relkind::text as v from pg_class where relname = 'usage_logs'`),
    ).toBe('p');
    for (const month of ['y2026m09', 'y2026m10', 'y2026m11'])
      expect(await scalar(database, sql`select to_regclass(${`usage_logs_${month}`})::text as v`)).toBe(
        `usage_logs_${month}`,
      );
    expect(await rowsText(database, new Date(0), new Date(Date.UTC(2100, 0)))).toBe(ledgerBefore);
    expect(await sums(database)).toEqual(before);
    expect(await dailyMismatches(database)).toBe(0);
    // the triggers followed: a new row is counted once, its id after the copied ones
    await insertUsageRows(database, [
      usageRow({ requestId: 'req_new', createdAt: new Date(Date.UTC(2026, 10, 2)) }),
    ]);
    expect(
      Number(await scalar(database, sql`select id as v from usage_logs where request_id = 'req_new'`)),
    ).toBeGreaterThan(Number(maxId));
    expect(await scalar(database, sql`select sum(requests)::text as v from usage_hourly`)).toBe('241');
    expect(await dailyMismatches(database)).toBe(0);
  }, 30_000); // every migration from an empty database, on PGlite too: ~4 s alone, more on a loaded machine

  it('makes this month and the next ones ahead, and a row in a month without a partition still commits', async () => {
    db = await createTestDatabase(backend);
    const { database } = db;
    await migrate(database);
    const partitions = createLedgerPartitions({
      database,
      logger,
      now: () => new Date(Date.UTC(2030, 10, 15)),
    });
    const made = await partitions.ensure();
    expect(made).toEqual([
      'usage_logs_y2030m11',
      'usage_logs_y2030m12',
      'usage_logs_y2031m01',
      'usage_logs_y2031m02',
    ]);
    expect(await partitions.ensure()).toEqual([]);

    // no partition for May 2032: the row lands in the default partition, counted once
    const stray = usageRow({ requestId: 'req_stray', createdAt: new Date(Date.UTC(2032, 4, 3, 12)) });
    await insertUsageRows(database, [stray]);
    expect(await scalar(database, sql`select count(*)::text as v from usage_logs_default`)).toBe('1');
    const before = await sums(database);
    // the next check gives the month its partition and moves the row into it, the sums untouched
    expect(await partitions.ensure()).toEqual(['usage_logs_y2032m05']);
    expect(await scalar(database, sql`select count(*)::text as v from usage_logs_default`)).toBe('0');
    expect(await scalar(database, sql`select count(*)::text as v from usage_logs_y2032m05`)).toBe('1');
    expect(await sums(database)).toEqual(before);
    // and its replay after the move is still skipped
    await insertUsageRows(database, [stray]);
    expect(await scalar(database, sql`select count(*)::text as v from usage_logs`)).toBe('1');
    expect(await sums(database)).toEqual(before);
  });

  it('skips a spool replayed after a month boundary: nothing counts twice', async () => {
    db = await createTestDatabase(backend);
    const { database } = db;
    await migrate(database);
    const edge = Date.UTC(2026, 11, 1);
    const batch = [
      usageRow({ requestId: 'req_last', createdAt: new Date(edge - 1), apiKeyId: 'key_1' }),
      usageRow({ requestId: 'req_first', createdAt: new Date(edge), apiKeyId: 'key_1' }),
    ];
    await ensureMonth(database, new Date(edge - 1));
    await ensureMonth(database, new Date(edge));
    await insertUsageRows(database, batch);
    const before = await sums(database);
    // the spool replays both rows (the same request ids and start times) in a later month
    await ensureMonth(database, new Date(Date.UTC(2027, 0, 1)));
    await insertUsageRows(database, batch);
    await insertUsageRows(database, [...batch].reverse());
    expect(await scalar(database, sql`select count(*)::text as v from usage_logs`)).toBe('2');
    expect(await sums(database)).toEqual(before);
  });

  it('archives a month, drops it, restores it exactly once, and every total stays the same', async () => {
    db = await createTestDatabase(backend);
    const { database } = db;
    await migrate(database);
    const oct = new Date(Date.UTC(2026, 9, 1));
    const nov = new Date(Date.UTC(2026, 10, 1));
    await ensureMonth(database, oct);
    await ensureMonth(database, nov);
    await insertUsageRows(database, spread('req_oct', Date.UTC(2026, 9, 2, 5), 120, 5 * HOUR + 17));
    await insertUsageRows(database, spread('req_nov', Date.UTC(2026, 10, 1, 3), 60, 3 * HOUR + 5));
    await appendCorrection(database, 'req_oct_3', '0.000000000000000123');
    await appendCorrection(database, 'req_oct_50', '-0.5');
    const octRows = await rowsText(database, oct, nov);
    // a summary spanning the archived and the live month, whole hours at both ends
    const span = { from: new Date(Date.UTC(2026, 9, 10, 7)), to: new Date(Date.UTC(2026, 10, 5, 13)) };
    const reports = async () => ({
      all: await selectUsageTotals(database, {}),
      span: await selectUsageTotals(database, span),
      byModel: await selectUsageGroups(database, { filters: span, groupBy: 'model', limit: 100_000 }),
      byDay: await selectUsageGroups(database, { filters: span, groupBy: 'day', limit: 100_000 }),
      byTag: await selectUsageGroups(database, { filters: {}, groupBy: 'tag', limit: 100_000 }),
      byUser: await selectUsageGroups(database, { filters: span, groupBy: 'user', limit: 100_000 }),
      sums: await sums(database),
    });
    const before = await reports();

    const archiveDir = mkdtempSync(join(tmpdir(), 'tollgate-archive-'));
    const result = await archiveMonth({
      database,
      archiveDir,
      month: oct,
      now: () => new Date(Date.UTC(2026, 11, 7)),
    });
    expect(result).toMatchObject({ rows: 120, corrections: 2 });
    const file = join(archiveDir, 'usage-2026-10.jsonl.gz');
    expect(existsSync(file)).toBe(true);
    const digest = createHash('sha256').update(readFileSync(file)).digest('hex');
    expect(readFileSync(`${file}.sha256`, 'utf8')).toBe(`${digest}  usage-2026-10.jsonl.gz\n`);
    expect(await scalar(database, sql`select to_regclass('usage_logs_y2026m10')::text as v`)).toBe('');
    expect(await rowsText(database, oct, nov)).toBe('');
    expect(await reports()).toEqual(before);

    const restored = await restoreArchive({ database, file });
    expect(restored).toEqual({ month: '2026-10', rows: 120, inserted: 120, correctionsMissing: 0 });
    expect(await rowsText(database, oct, nov)).toBe(octRows);
    expect(await reports()).toEqual(before);
    // twice: nothing changes
    expect((await restoreArchive({ database, file })).inserted).toBe(0);
    expect(await rowsText(database, oct, nov)).toBe(octRows);
    expect(await reports()).toEqual(before);
    // archived again (a restored month, or late rows of a dropped one): a file of its own, the first kept
    const again = await archiveMonth({
      database,
      archiveDir,
      month: oct,
      now: () => new Date(Date.UTC(2026, 11, 7)),
    });
    expect(again.file).not.toBe(file);
    expect(again.rows).toBe(120);
    expect(createHash('sha256').update(readFileSync(file)).digest('hex')).toBe(digest);
    expect(await reports()).toEqual(before);
    // a damaged archive is refused
    writeFileSync(`${file}.sha256`, `${'0'.repeat(64)}  usage-2026-10.jsonl.gz\n`);
    await expect(restoreArchive({ database, file })).rejects.toThrow(/SHA-256/);
  });

  it('archives and drops the months past USAGE_RETENTION_MONTHS, keeping their sums', async () => {
    db = await createTestDatabase(backend);
    const { database } = db;
    await migrate(database);
    const now = () => new Date(Date.UTC(2026, 11, 7));
    for (const month of [8, 9, 10]) await ensureMonth(database, new Date(Date.UTC(2026, month, 1)));
    await insertUsageRows(database, spread('req_ret', Date.UTC(2026, 8, 1), 90, 24 * HOUR));
    const before = await sums(database);
    const archiveDir = mkdtempSync(join(tmpdir(), 'tollgate-archive-'));
    const partitions = createLedgerPartitions({ database, logger, retentionMonths: 1, archiveDir, now });
    expect(await partitions.retire()).toEqual(['2026-09', '2026-10']);
    expect(existsSync(join(archiveDir, 'usage-2026-09.jsonl.gz'))).toBe(true);
    expect(await scalar(database, sql`select to_regclass('usage_logs_y2026m10')::text as v`)).toBe('');
    expect(await scalar(database, sql`select to_regclass('usage_logs_y2026m11')::text as v`)).toBe(
      'usage_logs_y2026m11',
    );
    expect(await sums(database)).toEqual(before);
    expect(await partitions.retire()).toEqual([]);
  });

  it('refuses to archive the current month', async () => {
    db = await createTestDatabase(backend);
    const { database } = db;
    await migrate(database);
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-archive-'));
    await expect(
      archiveMonth({ database, archiveDir: dir, month: new Date(), now: () => new Date() }),
    ).rejects.toThrow(/not over/);
  });

  it('keeps the daily rollups equal to the hourly ones through inserts, corrections, updates and deletes', async () => {
    db = await createTestDatabase(backend);
    const { database } = db;
    await migrate(database);
    await insertUsageRows(database, spread('req_d', Date.UTC(2026, 11, 1, 20), 200, HOUR / 3));
    await appendCorrection(database, 'req_d_7', '1.000000000000000001');
    expect(await dailyMismatches(database)).toBe(0);
    await database.rows(sql`update usage_logs set model = 'm-z' where request_id like 'req_d_1%'`);
    expect(await dailyMismatches(database)).toBe(0);
    await database.rows(sql`delete from usage_logs where request_id like 'req_d_2%'`);
    expect(await dailyMismatches(database)).toBe(0);
    expect(Number(await scalar(database, sql`select sum(requests)::text as v from usage_daily`))).toBe(
      Number(await scalar(database, sql`select count(*)::text as v from usage_logs`)),
    );
    await database.rows(sql`truncate usage_logs`);
    expect(await scalar(database, sql`select count(*)::text as v from usage_daily_tags`)).toBe('0');
  });
});
