// Migration 0017 (issue 25): every hourly and daily rollup gains charge_usd, backfilled exactly from an
// existing ledger's rows and corrections, then kept by the triggers through inserts, corrections, updates
// and deletes. Checked against the sums computed from usage_logs itself, on both databases.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import { afterEach, describe, expect, it } from 'vitest';
import { multiplyExact } from '../../src/billing/charge.ts';
import type { Database } from '../../src/db/client.ts';
import { migrate, migrationsFolder } from '../../src/db/migrate.ts';
import type { UsageLogInsert } from '../../src/db/schema.ts';
import { insertUsageRows } from '../../src/db/usage-insert.ts';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { appendCorrection } from '../helpers/ledger.ts';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 10, 20, 22, 0, 0);

/** drizzle/ without 0017: a ledger whose rollups hold no charge yet. */
function migrationsBefore0017(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-migrations-'));
  cpSync(migrationsFolder(), dir, { recursive: true });
  const journalPath = join(dir, 'meta', '_journal.json');
  const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: Array<{ tag: string }> };
  journal.entries = journal.entries.filter((entry) => entry.tag < '0017');
  writeFileSync(journalPath, JSON.stringify(journal));
  return dir;
}

async function migrateTo(database: Database, folder: string): Promise<void> {
  const { client } = database;
  if (client.kind === 'pglite') await migratePglite(drizzlePglite(client.pg), { migrationsFolder: folder });
  else await migratePostgres(drizzlePostgres(client.sql), { migrationsFolder: folder });
}

/** 120 rows over 40 hours: a third acct_a's at markup 1.25, a fifth acct_b's at 3, the rest without an account. */
function rows(prefix: string): UsageLogInsert[] {
  return Array.from({ length: 120 }, (_, i) => {
    const cost = `0.${String((i * 982_451_653) % 1_000_000_007).padStart(18, '0')}`;
    const account =
      i % 3 === 0
        ? { accountId: 'acct_a', markup: '1.25', chargeUsd: multiplyExact(cost, '1.25') }
        : i % 5 === 0
          ? { accountId: 'acct_b', markup: '3', chargeUsd: multiplyExact(cost, '3') }
          : i % 2 === 0
            ? { markup: '1', chargeUsd: cost }
            : {};
    return {
      requestId: `${prefix}_${i}`,
      createdAt: new Date(T0 + ((i * 7_919_113) % (40 * HOUR))),
      apiKeyId: i % 4 === 0 ? null : `key_${i % 3}`,
      provider: 'huggingface',
      model: i % 2 === 0 ? 'm-even' : 'm-odd',
      endpoint: i % 5 === 0 ? 'responses' : 'chat.completions',
      servedBy: i % 3 === 0 ? 'groq' : null,
      endUser: i % 4 === 1 ? 'alice' : null,
      tags: i % 3 === 1 ? ['prod', 'chat'] : i % 3 === 2 ? ['prod'] : null,
      stream: false,
      status: i % 7 === 0 ? 'upstream_error' : 'ok',
      httpStatus: 200,
      promptTokens: 10 + i,
      completionTokens: i,
      totalTokens: 10 + 2 * i,
      usageSource: 'upstream',
      inputTokenCost: '0.000001',
      outputTokenCost: '0.000003',
      pricingSource: 'env',
      costInput: '0',
      costOutput: '0',
      costTotal: cost,
      latencyMs: 10,
      ...account,
    };
  });
}

/** Each rollup's dimensions as usage_logs computes them (r: the row, t.tag: one of its tags). */
const ROLLUPS: Array<{ table: string; dims: Record<string, string>; perTag?: boolean }> = [
  {
    table: 'usage_hourly',
    dims: { api_key_id: "coalesce(r.api_key_id, '')", model: 'r.model', status: 'r.status' },
  },
  {
    table: 'usage_hourly_routes',
    dims: {
      endpoint: 'r.endpoint',
      served_by: "coalesce(r.served_by, '')",
      model: 'r.model',
      status: 'r.status',
    },
  },
  {
    table: 'usage_hourly_users',
    dims: { end_user: "coalesce(r.end_user, '')", api_key_id: "coalesce(r.api_key_id, '')" },
  },
  {
    table: 'usage_hourly_tags',
    dims: { tag: 't.tag', api_key_id: "coalesce(r.api_key_id, '')", model: 'r.model' },
    perTag: true,
  },
];

/** Groups of every hourly and daily rollup whose charge is not what the rows and corrections say. */
async function chargeMismatches(database: Database): Promise<string[]> {
  const bad: string[] = [];
  for (const { table, dims, perTag } of ROLLUPS) {
    const names = Object.keys(dims);
    const exprs = Object.entries(dims).map(([name, expr]) => `${expr} as ${name}`);
    const tags = perTag
      ? `cross join lateral (select distinct x from unnest(case when cardinality(r.tags) > 0 then r.tags else array['']::text[] end) as x) as t(tag)`
      : '';
    for (const [layer, unit, time] of [
      [table, 'hour', 'hour'],
      [table.replace('usage_hourly', 'usage_daily'), 'day', 'day'],
    ] as const) {
      const expected = `select date_trunc('${unit}', r.created_at at time zone 'UTC') at time zone 'UTC' as ${time},
          ${exprs.join(', ')},
          sum(coalesce(r.charge_usd, r.cost_total * r.markup) + coalesce(c.d, 0) * r.markup) as charge
        from usage_logs r
        left join (select request_id, sum(delta_usd) as d from usage_corrections group by 1) c on c.request_id = r.request_id
        ${tags}
        group by ${[time, ...names].map((_, i) => i + 1).join(', ')}`;
      const found = await database.rows<{ n: string }>(
        sql.raw(`select count(*)::text as n from ${layer} g full join (${expected}) e using (${[time, ...names].join(', ')})
          where g.charge_usd is distinct from e.charge`),
      );
      if (found[0]?.n !== '0') bad.push(`${layer}: ${found[0]?.n}`);
    }
  }
  return bad;
}

describe.each(BACKENDS)('charge in the rollups (0017) on %s', (backend) => {
  let db: TestDatabase | undefined;
  afterEach(async () => {
    await db?.drop();
    db = undefined;
  });

  it('backfills an existing ledger exactly, then the triggers keep it through every change', async () => {
    db = await createTestDatabase(backend);
    const { database } = db;
    await migrateTo(database, migrationsBefore0017());
    await database.execute(`insert into accounts (id, name) values ('acct_a', 'A'), ('acct_b', 'B')`, []);
    await insertUsageRows(database, rows('req_old'));
    await appendCorrection(database, 'req_old_3', '-0.000000000000000007'); // acct_a: × 1.25
    await appendCorrection(database, 'req_old_10', '0.25'); // acct_b: × 3
    await appendCorrection(database, 'req_old_1', '-0.125'); // no account: × 1

    await migrate(database);
    expect(await chargeMismatches(database)).toEqual([]);

    // inserts, corrections, an update and a delete after the migration
    await insertUsageRows(database, rows('req_new'));
    await appendCorrection(database, 'req_new_6', '0.5');
    await appendCorrection(database, 'req_old_9', '-0.01');
    await database.execute(
      `update usage_logs set charge_usd = charge_usd + 1, tags = array['late'] where request_id = 'req_old_12'`,
      [],
    );
    await database.execute(`delete from usage_logs where request_id in ('req_old_15', 'req_new_20')`, []);
    expect(await chargeMismatches(database)).toEqual([]);
  }, 30_000); // every migration from an empty database, on PGlite too: ~4 s alone, more on a loaded machine
});
