// bench:usage's figures beyond response times: the CSV export's rows per second, the ledger's bytes per
// row, and the PostgreSQL backend's CPU per inserted row through the recorder's INSERT, with the monthly
// partitions (all migrations) and without (migrations before 0015), on scratch databases of their own.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import type postgres from 'postgres';
import { request } from 'undici';
import { openDatabase } from '../src/db/client.ts';
import { migrate, migrationsFolder } from '../src/db/migrate.ts';
import { insertUsageRows } from '../src/db/usage-insert.ts';
import { createScratchDatabase } from './scratch-database.ts';

/** Streams /usage?format=csv over the range and counts its lines. */
export async function csvRate(base: string, range: string, adminKey: string) {
  const start = performance.now();
  const res = await request(`${base}/usage?format=csv&${range}`, {
    headers: { authorization: `Bearer ${adminKey}` },
  });
  let lines = 0;
  for await (const chunk of res.body) for (const byte of chunk as Buffer) if (byte === 10) lines++;
  const seconds = (performance.now() - start) / 1000;
  return { rows: lines - 1, seconds, rows_per_s: (lines - 1) / seconds };
}

/** Table (heap + TOAST) and index bytes of usage_logs' partitions, per row and per million rows. */
export async function ledgerSizes(client: postgres.Sql, rows: number) {
  const [size] = await client<{ table_bytes: string; index_bytes: string }[]>`
    select sum(pg_table_size(i.inhrelid))::text as table_bytes, sum(pg_indexes_size(i.inhrelid))::text as index_bytes
    from pg_inherits i where i.inhparent = 'usage_logs'::regclass`;
  const table = Number(size?.table_bytes ?? 0);
  const index = Number(size?.index_bytes ?? 0);
  return {
    table_bytes: table,
    index_bytes: index,
    bytes_per_row: (table + index) / rows,
    table_mb_per_million: table / rows / 1.048576,
    index_mb_per_million: index / rows / 1.048576,
  };
}

/** user + system CPU of a process so far, µs (Linux: /proc/PID/stat, clock ticks of 10 ms). */
function cpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

function rowsFor(batch: number, size: number, at: number) {
  return Array.from({ length: size }, (_, i) => ({
    requestId: `req_cpu_${batch}_${i}`,
    createdAt: new Date(at - batch * 1000 - i),
    apiKeyId: `key_${i % 50}`,
    provider: 'huggingface',
    model: `org/model-${i % 20}`,
    endUser: `user_${(batch * 64 + i) % 5000}`,
    tags: [`tag:${i % 30}`],
    stream: false,
    status: 'ok',
    httpStatus: 200,
    promptTokens: 100 + i,
    completionTokens: 50,
    totalTokens: 150 + i,
    usageSource: 'upstream',
    inputTokenCost: '0.00000015',
    outputTokenCost: '0.0000006',
    pricingSource: 'env',
    costInput: '0.000015',
    costOutput: '0.00003',
    costTotal: '0.000045',
    latencyMs: 100,
  }));
}

/** µs of CPU per row of the one backend inserting `total` rows in batches of 64 on a fresh database. */
async function insertCpu(serverUrl: string, total: number, partitioned: boolean): Promise<number> {
  const scratch = await createScratchDatabase(serverUrl, 'tollgate_bench_insert');
  const database = await openDatabase({ databaseUrl: scratch.url, maxConnections: 1 });
  try {
    if (partitioned) await migrate(database);
    else {
      const folder = mkdtempSync(join(tmpdir(), 'tollgate-migrations-'));
      cpSync(migrationsFolder(), folder, { recursive: true });
      const journalPath = join(folder, 'meta', '_journal.json');
      const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: Array<{ tag: string }> };
      journal.entries = journal.entries.filter((entry) => entry.tag < '0015');
      writeFileSync(journalPath, JSON.stringify(journal));
      if (database.client.kind !== 'postgres') throw new Error('PostgreSQL only');
      await migratePostgres(drizzle(database.client.sql), { migrationsFolder: folder });
    }
    const [backend] = await database.rows<{ pid: number }>(sql`select pg_backend_pid() as pid`);
    // before 0015 the recorder's statement named the old unique key
    const writer: typeof database = partitioned
      ? database
      : {
          ...database,
          execute: (text, params) =>
            database.execute(
              text.replace('on conflict (request_id, created_at)', 'on conflict (request_id)'),
              params,
            ),
        };
    const pid = Number(backend?.pid);
    const at = Date.now();
    await insertUsageRows(writer, rowsFor(-1, 64, at)); // warm: plans and caches
    const before = cpuMicros(pid);
    for (let batch = 0; batch * 64 < total; batch++) await insertUsageRows(writer, rowsFor(batch, 64, at));
    return (cpuMicros(pid) - before) / total;
  } finally {
    await database.close();
    await scratch.drop();
  }
}

export async function insertCpuPerRow(serverUrl: string, total: number) {
  const unpartitioned = await insertCpu(serverUrl, total, false);
  const partitioned = await insertCpu(serverUrl, total, true);
  return {
    rows: total,
    batch: 64,
    unpartitioned_us_per_row: unpartitioned,
    partitioned_us_per_row: partitioned,
  };
}
