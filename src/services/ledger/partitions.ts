// Keeps usage_logs' monthly partitions (drizzle/0015) ahead of the clock: this UTC month and the next
// ones exist before a row needs them, checked at start and every hour, so a gateway that was down across
// a month's start finds its month made before it serves. A row in a month with no partition still
// commits (the default partition); the next check creates its month and moves such rows in. With
// USAGE_RETENTION_MONTHS, the same tick archives and drops the months past it (archive.ts). Each tick
// also closes the days two days past (drizzle/0022): their coarse sums, for the reports.
import { sql } from 'drizzle-orm';
import type { Database } from '../../db/client.ts';
import type { Logger } from '../../logger.ts';
import { archiveMonth } from './archive.ts';

export type LedgerPartitionsOptions = {
  database: Database;
  logger: Logger;
  /** months after the current one kept ready */
  monthsAhead?: number;
  /** how often the partitions (and retention) are checked, ms */
  intervalMs?: number;
  /** unset: keep every month; else months wholly older than this many before the current are archived */
  retentionMonths?: number | undefined;
  /** where archives go: DATA_DIR/archive */
  archiveDir?: string | undefined;
  now?: () => Date;
};

export type LedgerPartitions = {
  /** creates the missing months; resolves to the partitions it made */
  ensure(): Promise<string[]>;
  /** archives and drops the months past retention; resolves to the months archived (YYYY-MM) */
  retire(): Promise<string[]>;
  /** sums the days not closed yet into the closed tables; resolves to how many it closed */
  closeDays(): Promise<number>;
  /** the partitions now (awaited), retention in the background, then both every intervalMs; resolves to a stop function */
  start(): Promise<() => void>;
};

/** The first instant (UTC) of the month `offset` months from the one holding `at`. */
export function monthStart(at: Date, offset = 0): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + offset, 1));
}

/** YYYY-MM of a month's start. */
export const monthLabel = (month: Date) => month.toISOString().slice(0, 7);

/** The partition's name for a month: usage_logs_yYYYYmMM (as tollgate_ensure_usage_partition names it). */
export const partitionName = (month: Date) =>
  `usage_logs_y${month.getUTCFullYear()}m${String(month.getUTCMonth() + 1).padStart(2, '0')}`;

/** The months that have a partition of their own (the default partition is not one), oldest first. */
export async function partitionedMonths(database: Database): Promise<Date[]> {
  const rows = await database.rows<{ name: string }>(sql`
    select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
    where i.inhparent = 'usage_logs'::regclass and c.relname ~ '^usage_logs_y[0-9]{4}m[0-9]{2}$'
    order by c.relname`);
  return rows.map(
    ({ name }) => new Date(Date.UTC(Number(name.slice(12, 16)), Number(name.slice(17, 19)) - 1, 1)),
  );
}

/** Makes the month's partition if it is missing (true when it did). */
export async function ensureMonth(database: Database, month: Date): Promise<boolean> {
  const [row] = await database.rows<{ made: boolean }>(
    sql`select tollgate_ensure_usage_partition(${month.toISOString()}::timestamptz) as made`,
  );
  return row?.made === true;
}

export function createLedgerPartitions({
  database,
  logger,
  monthsAhead = 3,
  intervalMs = 3_600_000,
  retentionMonths,
  archiveDir,
  now = () => new Date(),
}: LedgerPartitionsOptions): LedgerPartitions {
  async function ensure(): Promise<string[]> {
    const made: string[] = [];
    for (let offset = 0; offset <= monthsAhead; offset++) {
      const month = monthStart(now(), offset);
      if (await ensureMonth(database, month)) made.push(partitionName(month));
    }
    // rows that landed in the default partition (a month nobody made yet) get their month too
    const stray = await database.rows<{ month: string }>(
      sql`select distinct date_trunc('month', created_at at time zone 'UTC')::text as month from usage_logs_default`,
    );
    for (const { month } of stray) {
      const start = new Date(`${month.slice(0, 10)}T00:00:00Z`);
      if (await ensureMonth(database, start)) made.push(partitionName(start));
    }
    if (made.length > 0) logger.info({ partitions: made }, 'usage_logs: partitions created');
    return made;
  }

  async function retire(): Promise<string[]> {
    if (retentionMonths === undefined || archiveDir === undefined) return [];
    const oldestKept = monthStart(now(), -retentionMonths);
    const archived: string[] = [];
    for (const month of await partitionedMonths(database)) {
      if (month >= oldestKept) break;
      const result = await archiveMonth({ database, archiveDir, month, now });
      archived.push(monthLabel(month));
      logger.info(
        { month: monthLabel(month), rows: result.rows, file: result.file },
        'usage_logs: month archived and dropped',
      );
    }
    return archived;
  }

  async function closeDays(): Promise<number> {
    // the days are listed once, without a lock; each is then summed in a transaction of its own, so a
    // late write to an old day waits on the run's locks for one day's sums at most
    const days = await database.rows<{ day: string }>(
      sql`select d::text as day from tollgate_unclosed_usage_days() as d`,
    );
    let closed = 0;
    for (const { day } of days) {
      // two steps (drizzle/0024): the day's rows are summed by tag and status between them, unlocked
      const [begun] = await database.rows<{ token: string | null }>(
        sql`select tollgate_begin_close_usage_day(${day}::timestamptz)::text as token`,
      );
      if (begun?.token == null) continue;
      const [row] = await database.rows<{ closed: boolean }>(
        sql`select tollgate_close_usage_day(${day}::timestamptz, ${begun.token}::bigint) as closed`,
      );
      if (row?.closed) closed += 1;
    }
    if (closed > 0) logger.info({ days: closed }, 'usage rollups: days closed');
    return closed;
  }

  const fail = (err: unknown) => logger.error({ err }, 'usage_logs: partition or retention check failed');

  return {
    ensure,
    retire,
    closeDays,
    async start() {
      // the partitions before the gateway serves; an archive or closing days (long) never holds up its start
      await ensure();
      retire().then(closeDays).catch(fail);
      const timer = setInterval(() => {
        ensure().then(retire).then(closeDays).catch(fail);
      }, intervalMs);
      timer.unref();
      return () => clearInterval(timer);
    },
  };
}
