// Bounded writes of usage rows: every statement (and ping) gets a deadline, because postgres.js waits
// forever on a database that hangs rather than refuses; and a statement the database refuses as bad
// data is split until the refused rows are found, so one bad row never blocks the rows around it.
import type { Database } from '../db/client.ts';
import type { UsageLogInsert } from '../db/schema.ts';
import { insertUsageRows, UnstorableRowError } from '../db/usage-insert.ts';

/** Rows per INSERT: PostgreSQL allows 65535 parameters and a row has 28 columns. */
export const MAX_BATCH_ROWS = 1000;

/** SQLSTATEs worth one immediate retry: deadlock_detected, serialization_failure. */
const RETRY_AT_ONCE = new Set(['40P01', '40001']);

export type Refused = { row: UsageLogInsert; err: unknown };

export type Committer = {
  /**
   * Commits rows in order, MAX_BATCH_ROWS per statement; resolves with the rows the database refused
   * as bad data (the rest are committed). Throws on a connection failure or a timeout: then some
   * rows may be committed and some not, and the caller keeps them all (a retry skips duplicates).
   */
  commit(rows: readonly UsageLogInsert[]): Promise<Refused[]>;
  ping(): Promise<void>;
};

export function createCommitter({
  database,
  timeoutMs,
  onCommitted = () => {},
}: {
  database: Database;
  /** a statement slower than this counts as failed */
  timeoutMs: number;
  /** told how many rows each successful statement sent (duplicates skipped by the database included) */
  onCommitted?: (rows: number) => void;
}): Committer {
  const insert = async (part: readonly UsageLogInsert[]) => {
    try {
      await withTimeout(insertUsageRows(database, part), timeoutMs);
    } catch (err) {
      // a deadlock or serialization failure is another transaction's timing, not an outage: once more
      if (!RETRY_AT_ONCE.has(errorCode(err) ?? '')) throw err;
      await withTimeout(insertUsageRows(database, part), timeoutMs);
    }
  };

  async function attempt(part: readonly UsageLogInsert[], refused: Refused[]): Promise<void> {
    try {
      await insert(part);
      onCommitted(part.length);
    } catch (err) {
      if (!isRowError(err)) throw err;
      if (part.length === 1) {
        refused.push({ row: part[0] as UsageLogInsert, err });
        return;
      }
      const half = Math.ceil(part.length / 2);
      await attempt(part.slice(0, half), refused);
      await attempt(part.slice(half), refused);
    }
  }

  return {
    async commit(rows) {
      const refused: Refused[] = [];
      for (let i = 0; i < rows.length; i += MAX_BATCH_ROWS)
        await attempt(rows.slice(i, i + MAX_BATCH_ROWS), refused);
      return refused;
    },
    ping: () => withTimeout(database.ping(), timeoutMs),
  };
}

/**
 * SQLSTATE classes that speak about the rows sent, not the database's state (PostgreSQL, Appendix A):
 * 21 cardinality violation (two rows of one statement colliding), 22 data exception (a NUL byte, an
 * integer out of range, a lone surrogate in jsonb), 23 integrity violation, 54 program limit exceeded
 * (54000: an index entry over the btree maximum, e.g. a model name of a few KB in (model, created_at)
 * or the usage_hourly key; 54001: a statement too complex). Bisecting finds the rows at fault: a
 * statement-wide limit vanishes as the halves shrink, a row's own fault stays with that row. Anything
 * else (08 connection, 53 resources, 57 operator intervention, 58 system, 40 rollback, 42 a missing
 * table, a timeout) is the database's state and passes: those rows wait in the spool.
 */
const ROW_CLASSES = /^(21|22|23|54)[0-9A-Z]{3}$/;

/** Whether the database refused these rows for what they hold: retrying them unchanged cannot help. */
export function isRowError(err: unknown): boolean {
  if (err instanceof UnstorableRowError) return true;
  const code = errorCode(err);
  return code !== undefined && ROW_CLASSES.test(code);
}

export function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Rejects when `promise` takes longer than `ms`; it may still settle later (a replay skips what landed). */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the database did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
