// `node bench/migration-time.ts [ROWS]` (default 1,000,000): times migration 0015 (the monthly
// partitions) on an unpartitioned ledger of ROWS rows over 90 days, in a scratch database on
// BENCH_DATABASE_URL's server, and checks that the rollups' sums and the row count come through unchanged.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { openDatabase } from '../src/db/client.ts';
import { migrate, migrationsFolder } from '../src/db/migrate.ts';
import { createScratchDatabase } from './scratch-database.ts';

const ROWS = Number(process.argv[2] ?? 1_000_000);
const server = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const scratch = await createScratchDatabase(server, 'tollgate_migration_time');
try {
  const folder = mkdtempSync(join(tmpdir(), 'tollgate-migrations-'));
  cpSync(migrationsFolder(), folder, { recursive: true });
  const journalPath = join(folder, 'meta', '_journal.json');
  const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: Array<{ tag: string }> };
  journal.entries = journal.entries.filter((entry) => entry.tag < '0015');
  writeFileSync(journalPath, JSON.stringify(journal));
  const client = postgres(scratch.url, { max: 1, onnotice: () => {} });
  await migratePostgres(drizzle(client), { migrationsFolder: folder });
  await client`set synchronous_commit = off`;
  let start = performance.now();
  await client.unsafe(`insert into usage_logs (request_id, created_at, api_key_id, provider, model, served_by, end_user,
      tags, stream, status, http_status, prompt_tokens, completion_tokens, total_tokens, usage_source, input_token_cost,
      output_token_cost, pricing_source, cost_input, cost_output, cost_total, latency_ms)
    select 'req_' || g, now() - make_interval(secs => g::float8 * 90 * 86400 / ${ROWS}), 'key_' || (g % 1000),
      'huggingface', 'org/model-' || (g % 50), 'groq', 'user_' || (g % 10000), array['tag:' || (g % 200)], false, 'ok',
      200, 100, 50, 150, 'upstream', 0.00000015, 0.0000006, 'env', 0.000015, 0.00003, 0.000045, 100
    from generate_series(1, ${ROWS}) g`);
  console.log(`seeded ${ROWS} rows in ${((performance.now() - start) / 1000).toFixed(1)} s`);
  await client`vacuum analyze usage_logs`;
  const sums = `select (select count(*) from usage_logs)::text || ' rows, ' || sum(requests)::text || ' requests, $' ||
    sum(cost_usd)::text as v from usage_hourly`;
  const [before] = await client.unsafe<{ v: string }[]>(sums);
  await client.end();
  const database = await openDatabase({
    databaseUrl: scratch.url,
    maxConnections: 1,
    statementTimeoutMs: 3_600_000,
  });
  start = performance.now();
  await migrate(database);
  const seconds = (performance.now() - start) / 1000;
  const [after] = await database.rows<{ v: string }>(sql.raw(sums));
  const [daily] = await database.rows<{ v: string }>(sql`select sum(requests)::text as v from usage_daily`);
  console.log(
    `migration 0015: ${seconds.toFixed(1)} s for ${ROWS} rows (${((seconds * 1e6) / ROWS).toFixed(1)} s per million)`,
  );
  console.log(`before: ${before?.v}\nafter:  ${after?.v}; usage_daily ${daily?.v} requests`);
  await database.close();
} finally {
  await scratch.drop();
}
