// Refusals at admission (budget, credits, rpm, tpm, concurrency) write no usage row, so they are told to
// listeners instead: a fan-out (the counts below, /metrics, the credit alerts), and a counter that adds
// them to key_refusals in bounded batches, written in the background and awaited by close().
import type { Database } from '../../db/client.ts';
import {
  addRefusals,
  creditRefusalsByAccount,
  type RefusalCount,
  refusalsSince,
} from '../../db/refusals-repo.ts';

export const REFUSAL_REASONS = ['budget', 'credits', 'rpm', 'tpm', 'concurrency'] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/** One request refused at admission; `accountId` for a refusal of the key's account (credits). */
export type Refusal = { keyId: string; reason: RefusalReason; accountId?: string };
/** Told of a refusal; one that returns a promise (an alert written) is waited for by who awaits the fan-out. */
export type RefusalListener = (refusal: Refusal) => unknown;

/**
 * One listener that tells each of `listeners`: one that throws or rejects is logged and the others are
 * still told, and a refusal is never turned into another error by a listener. The result settles when
 * every async listener has (never rejecting): account admission awaits it, so a credit refusal's alert is
 * committed before the 402; the counters are synchronous.
 */
export function fanOut(
  listeners: RefusalListener | readonly RefusalListener[] | undefined,
  onError: (message: string, err: unknown) => void = () => {},
): (refusal: Refusal) => Promise<void> {
  const all = listeners === undefined ? [] : typeof listeners === 'function' ? [listeners] : [...listeners];
  const failed = (err: unknown) => onError('a refusal listener failed', err);
  return function refused(refusal) {
    const pending: Promise<void>[] = [];
    for (const listener of all) {
      try {
        const result = listener(refusal);
        if (result instanceof Promise) pending.push(result.then(() => undefined, failed));
      } catch (err) {
        failed(err);
      }
    }
    return pending.length === 0 ? Promise.resolve() : Promise.all(pending).then(() => undefined);
  };
}

/** Counts kept in memory before new keys are dropped (and logged): bounds a database that is down. */
const MAX_PENDING = 10_000;
/** How often pending counts are written, and the most one statement carries. */
const FLUSH_INTERVAL_MS = 1000;
const BATCH = 500;

export type RefusalCounter = {
  /** counts one refusal (memory only; the writer adds it to the database) */
  count: RefusalListener;
  /** writes what is pending now; resolves when it is written or has failed (logged, kept for the next) */
  flush(): Promise<void>;
  /** writes every FLUSH_INTERVAL_MS until stop() */
  start(): void;
  /** stops the timer and writes what is pending (awaited) */
  stop(): Promise<void>;
};

export function createRefusalCounter({
  database,
  onError = () => {},
  intervalMs = FLUSH_INTERVAL_MS,
  now = () => new Date(),
}: {
  database: Database;
  onError?: (message: string, err: unknown) => void;
  intervalMs?: number;
  now?: () => Date;
}): RefusalCounter {
  let pending = new Map<string, RefusalCount>();
  let dropped = 0;
  let writing: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;

  function add(entry: RefusalCount): void {
    const id = `${entry.keyId}\u0000${entry.day}\u0000${entry.reason}`;
    const seen = pending.get(id);
    if (seen) seen.count += entry.count;
    else if (pending.size < MAX_PENDING) pending.set(id, { ...entry });
    else dropped += entry.count;
  }

  async function write(): Promise<void> {
    const batch = [...pending.values()];
    pending = new Map();
    for (let i = 0; i < batch.length; i += BATCH) {
      const part = batch.slice(i, i + BATCH);
      try {
        await addRefusals(database, part);
      } catch (err) {
        onError('writing refusal counts failed; keeping them for the next flush', err);
        for (const entry of batch.slice(i)) add(entry);
        break;
      }
    }
    if (dropped > 0) {
      onError(`${dropped} refusals were not counted: too many pending`, undefined);
      dropped = 0;
    }
  }

  /** One write at a time: a flush during a write waits for it, then writes what came since. */
  function flush(): Promise<void> {
    const run = (writing ?? Promise.resolve()).then(() => (pending.size > 0 ? write() : undefined));
    const mine = run.finally(() => {
      if (writing === mine) writing = undefined;
    });
    writing = mine;
    return mine;
  }

  return {
    count(refusal) {
      add({ keyId: refusal.keyId, day: now().toISOString().slice(0, 10), reason: refusal.reason, count: 1 });
    },
    flush,
    start() {
      if (timer) return;
      timer = setInterval(function flushRefusals() {
        // flush() never rejects (write() logs its errors), and stop() awaits the write it starts
        if (!writing && pending.size > 0) void flush();
      }, intervalMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await flush();
    },
  };
}

/** Refusals of one key by reason: today (UTC) and in its current budget period (reasons with none left out). */
export type KeyRefusals = {
  today: Partial<Record<RefusalReason, number>>;
  period: Partial<Record<RefusalReason, number>>;
};

/** Each key's refusals (keys refused neither today nor this period are absent from the map). */
export async function refusalsOfKeys(
  database: Database,
  keys: ReadonlyArray<{ id: string; period_start: string }>,
  at: Date = new Date(),
): Promise<Map<string, KeyRefusals>> {
  const today = at.toISOString().slice(0, 10);
  const starts = new Map(keys.map((k) => [k.id, k.period_start]));
  // the earliest period start (days as YYYY-MM-DD sort as dates)
  const since = [today, ...starts.values()].sort()[0] ?? today;
  const result = new Map<string, KeyRefusals>();
  for (const row of await refusalsSince(database, { since, today })) {
    const start = starts.get(row.api_key_id);
    if (start === undefined) continue;
    const reason = row.reason as RefusalReason;
    const seen = result.get(row.api_key_id) ?? { today: {}, period: {} };
    const n = Number(row.count);
    if (row.day === today) seen.today[reason] = (seen.today[reason] ?? 0) + n;
    if (row.day >= start) seen.period[reason] = (seen.period[reason] ?? 0) + n;
    result.set(row.api_key_id, seen);
  }
  return result;
}

/** Each account's credit refusals since `since` (YYYY-MM-DD), by its keys. */
export function creditRefusalsOfAccounts(database: Database, since: string): Promise<Map<string, number>> {
  return creditRefusalsByAccount(database, since);
}
