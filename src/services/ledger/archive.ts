// Archives one month of the ledger to DATA_DIR/archive/usage-YYYY-MM.jsonl.gz (every column of every
// row, then the corrections of those rows; a .sha256 beside it) and drops its partition; restores such a
// file. Neither touches the rollups or key spend: dropping a partition fires no row or statement trigger,
// and a restore writes into the month's partition by name, which fires none of usage_logs' statement
// triggers, so the sums (which never lost those rows) stay exact and a restore is counted once. A
// restore is exactly-once: rows already there (same request_id and created_at) are skipped.
import { createHash } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { sql } from 'drizzle-orm';
import type { Database } from '../../db/client.ts';
import { ensureMonth, monthLabel, monthStart, partitionName } from './partitions.ts';

/** rows per read while archiving, and per insert while restoring */
const BATCH = 5_000;

/**
 * A row as JSON with every number as a string (numeric costs stay exact; jsonb keeps a numeric's digits)
 * under its table's name. Restore reads it back with jsonb_populate_recordset, which parses the strings
 * as the columns' types.
 */
const exact = (alias: string) =>
  sql.raw(`(select jsonb_object_agg(e.key, case when jsonb_typeof(e.value) = 'number'
  then to_jsonb(e.value #>> '{}') else e.value end) from jsonb_each(to_jsonb(${alias})) e)`);

/** n of a one-row result, as postgres.js (an array of rows) or PGlite ({ rows }) returns it. */
function countOf(result: unknown): number {
  const rows = Array.isArray(result) ? result : (result as { rows?: unknown[] }).rows;
  return Number((rows?.[0] as { n?: number } | undefined)?.n);
}

export type ArchiveResult = { file: string; rows: number; corrections: number };

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Writes the month's rows and their corrections to the archive, then drops the partition, in a
 * transaction that first locks it and checks it still holds exactly the rows written (a late row
 * aborts the drop; run again). Only a month before the current one.
 */
export async function archiveMonth({
  database,
  archiveDir,
  month,
  now = () => new Date(),
}: {
  database: Database;
  archiveDir: string;
  month: Date;
  now?: () => Date;
}): Promise<ArchiveResult> {
  const start = monthStart(month);
  if (start >= monthStart(now()))
    throw new Error(`${monthLabel(start)} is not over yet: only past months are archived`);
  const part = partitionName(start);
  const table = sql.identifier(part);
  const [exists] = await database.rows<{ found: boolean }>(
    sql`select to_regclass(${part}) is not null as found`,
  );
  if (!exists?.found)
    throw new Error(`usage_logs has no partition for ${monthLabel(start)} (archived already?)`);
  mkdirSync(archiveDir, { recursive: true });
  // never over an earlier archive of the month (rows that came late, after it was dropped, get their own)
  const first = join(archiveDir, `usage-${monthLabel(start)}.jsonl.gz`);
  const file = existsSync(first)
    ? join(archiveDir, `usage-${monthLabel(start)}.${Date.now()}.jsonl.gz`)
    : first;
  const partial = `${file}.${process.pid}.partial`;
  let rows = 0;
  let corrections = 0;
  async function* lines(): AsyncGenerator<string> {
    let after = 0n;
    for (;;) {
      const batch = await database.rows<{ id: string; line: string }>(sql`
        select u.id::text as id, jsonb_build_object('usage_logs', ${exact('u')})::text as line
        from ${table} u where u.id > ${after.toString()}::bigint order by u.id limit ${BATCH}`);
      for (const { line } of batch) yield `${line}\n`;
      rows += batch.length;
      if (batch.length < BATCH) break;
      after = BigInt(batch[batch.length - 1]?.id ?? '0');
    }
    const fixes = await database.rows<{ line: string }>(sql`
      select jsonb_build_object('usage_corrections', ${exact('c')})::text as line
      from usage_corrections c where exists (select 1 from ${table} u where u.request_id = c.request_id)
      order by c.id`);
    for (const { line } of fixes) yield `${line}\n`;
    corrections = fixes.length;
  }
  await pipeline(Readable.from(lines()), createGzip(), createWriteStream(partial, { flush: true }));
  renameSync(partial, file);
  writeFileSync(`${file}.sha256`, `${await sha256(file)}  ${basename(file)}\n`);
  await database.db.transaction(async (tx) => {
    await tx.execute(sql`lock table ${table} in access exclusive mode`);
    const held = countOf(await tx.execute(sql`select count(*)::int as n from ${table}`));
    if (held !== rows)
      throw new Error(`${part} changed while it was archived (${rows} written, ${held} now): run again`);
    await tx.execute(sql`drop table ${table}`);
  });
  return { file, rows, corrections };
}

export type RestoreResult = { month: string; rows: number; inserted: number; correctionsMissing: number };

/**
 * Puts an archive's rows back into their month's partition (made if missing), skipping those already
 * there. Corrections are never dropped by an archive, so they are only checked: one missing from
 * usage_corrections is reported, not re-applied (the rollups already hold its delta).
 */
export async function restoreArchive({
  database,
  file,
}: {
  database: Database;
  file: string;
}): Promise<RestoreResult> {
  const sumFile = `${file}.sha256`;
  if (!existsSync(sumFile)) throw new Error(`${sumFile} is missing: the archive cannot be checked`);
  const expected = readFileSync(sumFile, 'utf8').trim().split(/\s+/)[0];
  if ((await sha256(file)) !== expected) throw new Error(`${file} does not match its SHA-256: not restored`);
  const label = /usage-(\d{4}-\d{2})(\.\d+)?\.jsonl\.gz$/.exec(file)?.[1];
  if (!label)
    throw new Error(`${file}: expected a name like usage-YYYY-MM.jsonl.gz (or usage-YYYY-MM.N.jsonl.gz)`);
  const month = new Date(`${label}-01T00:00:00Z`);
  await ensureMonth(database, month);
  const part = partitionName(month);
  const result: RestoreResult = { month: label, rows: 0, inserted: 0, correctionsMissing: 0 };
  let batch: string[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const [row] = await database.rows<{ n: number }>(sql`
      with added as (
        insert into ${sql.identifier(part)} overriding system value
        select * from jsonb_populate_recordset(null::usage_logs,
          (select jsonb_agg(x -> 'usage_logs') from jsonb_array_elements(${`[${batch.join(',')}]`}::jsonb) x))
        on conflict do nothing returning 1)
      select count(*)::int as n from added`);
    result.inserted += Number(row?.n ?? 0);
    batch = [];
  };
  const corrections: string[] = [];
  const input = createInterface({
    input: createReadStream(file).pipe(createGunzip()),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  for await (const line of input) {
    if (line === '') continue;
    // lines go to PostgreSQL as written (never through a JS number): each is {"<table>": {…}}
    if (line.startsWith('{"usage_corrections"')) corrections.push(line);
    else {
      batch.push(line);
      result.rows += 1;
      if (batch.length >= BATCH) await flush();
    }
  }
  await flush();
  if (corrections.length > 0) {
    const [row] = await database.rows<{ n: number }>(sql`
      select count(*)::int as n from jsonb_array_elements(${`[${corrections.join(',')}]`}::jsonb) x
      cross join lateral jsonb_populate_record(null::usage_corrections, x -> 'usage_corrections') a
      where not exists (select 1 from usage_corrections c where c.id = a.id)`);
    result.correctionsMissing = Number(row?.n ?? 0);
  }
  return result;
}
