// The one writer of usage rows. record(row) resolves only when the row is durable: committed to the
// database, or fsync'd to the spool when the database fails. Group commit: while one INSERT is in
// flight the next rows gather and go together; an idle recorder writes at once (no timer).
import type { Database } from '../db/client.ts';
import type { UsageLogInsert } from '../db/schema.ts';
import { insertUsageRows } from '../db/usage-insert.ts';
import type { Spool } from './spool.ts';

/** Rows per INSERT: PostgreSQL allows 65535 parameters and a row has 28 columns. */
const MAX_BATCH = 1000;
/** An INSERT slower than this counts as failed and its rows go to the spool (a replay skips them if it did land). */
const INSERT_TIMEOUT_MS = 3000;
/** Backoff between database retries while rows wait in the spool. */
const RETRY_DELAYS_MS = [250, 500, 1000, 2000, 5000] as const;

type Pending = { row: UsageLogInsert; resolve: () => void; reject: (err: unknown) => void };

export type RecorderStats = {
  /** rows committed to the database by this process (replays included) */
  committed: number;
  /** rows written to the spool by this process */
  spooled: number;
  /** rows waiting in the spool for the database */
  spoolDepth: number;
  /** true while the database is failing and rows go to the spool */
  degraded: boolean;
};

export type Recorder = {
  record(row: UsageLogInsert): Promise<void>;
  /** replays a spool a previous process left behind; call once at start */
  start(): Promise<void>;
  /** resolves when every row recorded so far is durable, then tries one last replay */
  close(): Promise<void>;
  stats(): RecorderStats;
};

export type RecorderOptions = {
  database: Database;
  spool: Spool<UsageLogInsert>;
  onError?: (message: string, err: unknown) => void;
  retryDelaysMs?: readonly number[];
  insertTimeoutMs?: number;
};

export function createRecorder({
  database,
  spool,
  onError = () => {},
  retryDelaysMs = RETRY_DELAYS_MS,
  insertTimeoutMs = INSERT_TIMEOUT_MS,
}: RecorderOptions): Recorder {
  let queue: Pending[] = [];
  let running: Promise<void> | undefined;
  let degraded = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let attempt = 0;
  let closed = false;
  const stats = { committed: 0, spooled: 0, spoolDepth: 0 };

  const insert = async (rows: readonly UsageLogInsert[]) => {
    for (let i = 0; i < rows.length; i += MAX_BATCH) {
      await withTimeout(insertUsageRows(database, rows.slice(i, i + MAX_BATCH)), insertTimeoutMs);
    }
    stats.committed += rows.length;
  };

  /** Writes one batch: to the database, or to the spool when the database fails. */
  async function write(batch: Pending[]): Promise<void> {
    const rows = batch.map((p) => p.row);
    if (!degraded) {
      try {
        await insert(rows);
        for (const p of batch) p.resolve();
        return;
      } catch (err) {
        onError('usage insert failed; spooling rows until the database is back', err);
        degraded = true;
        scheduleRetry();
      }
    }
    try {
      await spool.append(rows);
      stats.spooled += rows.length;
      stats.spoolDepth += rows.length;
      for (const p of batch) p.resolve();
    } catch (err) {
      // neither the database nor the disk took the row: the caller must not release the reply as metered
      for (const p of batch) p.reject(err);
    }
  }

  /** Drains the queue batch by batch; exactly one drain runs at a time. */
  function drain(): Promise<void> {
    running ??= (async () => {
      try {
        while (queue.length > 0) {
          const batch = queue;
          queue = [];
          await write(batch);
        }
      } finally {
        running = undefined;
      }
    })();
    return running;
  }

  /** Moves the spool into the database; on success the recorder leaves degraded mode. */
  async function replay(): Promise<boolean> {
    try {
      await database.ping();
      const { rows, torn } = await spool.readAll();
      if (torn > 0) onError(`skipped ${torn} torn line(s) in the usage spool ${spool.path}`, undefined);
      await insert(rows);
      await spool.clear();
      stats.spoolDepth = 0;
      degraded = false;
      attempt = 0;
      return true;
    } catch (err) {
      onError('usage spool replay failed; will retry', err);
      return false;
    }
  }

  function scheduleRetry(): void {
    if (retryTimer || closed) return;
    const delay = retryDelaysMs[Math.min(attempt, retryDelaysMs.length - 1)] ?? 1000;
    attempt += 1;
    retryTimer = setTimeout(async () => {
      retryTimer = undefined;
      // replay inside the drain's turn so spool appends and replays never interleave
      await running;
      const done = running ? false : await serialized(replay);
      if (!done) scheduleRetry();
    }, delay);
    retryTimer.unref();
  }

  /** Runs fn while no drain runs, and holds new drains until it ends. */
  async function serialized<T>(fn: () => Promise<T>): Promise<T> {
    let result!: T;
    running = (async () => {
      try {
        result = await fn();
      } finally {
        running = undefined;
      }
    })();
    await running;
    if (queue.length > 0) void drain();
    return result;
  }

  return {
    record(row) {
      return new Promise<void>((resolve, reject) => {
        queue.push({ row, resolve, reject });
        if (!running) void drain();
      });
    },
    async start() {
      const { rows } = await spool.readAll();
      if (rows.length === 0) return;
      stats.spoolDepth = rows.length;
      degraded = true;
      if (!(await serialized(replay))) scheduleRetry();
    },
    async close() {
      closed = true;
      while (running || queue.length > 0) await (running ?? drain());
      if (retryTimer) clearTimeout(retryTimer);
      if (degraded) await serialized(replay);
      await spool.close();
    },
    stats: () => ({ ...stats, degraded }),
  };
}

/** Rejects when `promise` takes longer than `ms` (it may still settle later; callers must tolerate that). */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`database did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
