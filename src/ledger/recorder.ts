// The one writer of usage rows. record(row) resolves only when the row is durable: committed to the
// database, or fsync'd to the spool when the database fails. Group commit: while one INSERT is in
// flight the next rows gather and go together; an idle recorder writes at once (no timer). While the
// database is down every row goes to the spool, and a replay moves the spool back, in order, when it
// returns; request_id is unique and inserts skip duplicates, so a replay never counts a row twice.
import type { UsageLogInsert } from '../db/schema.ts';
import { createCommitter, errorText, type Refused } from './commit.ts';
import { createDeadLetters, deadLetterSpool } from './dead-letter.ts';
import { type Recorder, type RecorderLog, type RecorderOptions, RowRefusedError } from './recorder-types.ts';

/**
 * A statement (or ping) slower than this counts as failed: postgres.js waits forever on a database
 * that hangs rather than refuses, and a request must not. Its rows go to the spool; if the INSERT
 * did land after all, the replay skips them by request_id.
 */
const INSERT_TIMEOUT_MS = 3000;
/** Backoff between replay attempts while rows wait in the spool. */
const RETRY_DELAYS_MS = [100, 250, 500, 1000, 2000] as const;

export type { DeadLetter } from './dead-letter.ts';
export type { Recorder, RecorderLog, RecorderOptions, RecorderStats } from './recorder-types.ts';
export { RowRefusedError } from './recorder-types.ts';

type Pending = { row: UsageLogInsert; resolve: () => void; reject: (err: unknown) => void };
/** Work the writer loop runs between batches, so it never overlaps an append. */
type Turn = () => Promise<void>;

const quiet: RecorderLog = { info() {}, warn() {}, error() {} };

export function createRecorder({
  database,
  spool,
  deadLetter = deadLetterSpool(spool.path),
  log = quiet,
  onDeadLetter,
  retryDelaysMs = RETRY_DELAYS_MS,
  insertTimeoutMs = INSERT_TIMEOUT_MS,
}: RecorderOptions): Recorder {
  let queue: Pending[] = [];
  const turns: Array<{ run: Turn; done: (err?: unknown) => void }> = [];
  let writing: Promise<void> | undefined;
  /** spooling: the database failed; every row goes to the spool until a replay empties it */
  let spooling = false;
  /** after close() the database is gone: late rows go to the spool for the next start */
  let closed = false;
  /** bytes of the spool already committed by the replay in progress */
  let replayedTo = 0;
  let replaying: Promise<boolean> | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let attempt = 0;
  const stats = { committed: 0, inserts: 0, spooled: 0, spoolDepth: 0, refused: 0 };

  const deadLetters = createDeadLetters({ file: deadLetter, log, onDeadLetter });
  const { commit, ping } = createCommitter({
    database,
    timeoutMs: insertTimeoutMs,
    onCommitted: (rows) => {
      stats.committed += rows;
      stats.inserts += 1;
    },
  });

  async function toSpool(rows: readonly UsageLogInsert[]): Promise<void> {
    await spool.append(rows);
    stats.spooled += rows.length;
    stats.spoolDepth += rows.length;
  }

  /** Resolves the batch's records, except those whose rows the database refused: they reject. */
  function settle(batch: Pending[], refused: Refused[]): void {
    for (const p of batch) {
      const bad = refused.find((r) => r.row === p.row);
      if (!bad) p.resolve();
      else {
        log.error({ err: bad.err, request_id: p.row.requestId }, 'the database refused a usage row');
        p.reject(new RowRefusedError(`the database refused the usage row: ${errorText(bad.err)}`));
      }
    }
  }

  /** Makes one batch durable: in the database, else in the spool, else the callers hear why. */
  async function write(batch: Pending[]): Promise<void> {
    const rows = batch.map((p) => p.row);
    if (!spooling) {
      try {
        const refused = await commit(rows);
        stats.refused += refused.length;
        settle(batch, refused);
        return;
      } catch (err) {
        spooling = true;
        log.error(
          { err, spool: spool.path, spool_depth: stats.spoolDepth + rows.length },
          'usage insert failed; spooling rows until the database is back',
        );
        scheduleReplay();
      }
    }
    try {
      await toSpool(rows);
      for (const p of batch) p.resolve();
    } catch (spoolErr) {
      log.error({ err: spoolErr, spool: spool.path }, 'usage spool append failed');
      // the disk failed too: one more try at the database before the callers hear it
      if (!closed) {
        try {
          const refused = await commit(rows);
          stats.refused += refused.length;
          settle(batch, refused);
          return;
        } catch {
          // still down
        }
      }
      for (const p of batch) p.reject(spoolErr);
    }
  }

  /** The writer loop: batches and turns, one at a time, until both queues are empty. */
  function pump(): Promise<void> {
    // nothing to do: return before the loop, whose `finally` would otherwise run before `writing` is set
    if (!writing && queue.length === 0 && turns.length === 0) return Promise.resolve();
    writing ??= (async () => {
      try {
        while (queue.length > 0 || turns.length > 0) {
          const turn = turns.shift();
          if (turn) {
            await turn.run().then(
              () => turn.done(),
              (err: unknown) => turn.done(err),
            );
            continue;
          }
          // one turn of the event loop first: replies that finished while the last INSERT ran (PGlite's
          // runs on this thread and blocks it) record their rows now and join this batch
          await new Promise(setImmediate);
          const batch = queue;
          queue = [];
          await write(batch);
        }
      } finally {
        writing = undefined;
      }
    })();
    return writing;
  }

  function inWriterTurn(run: Turn): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      turns.push({ run, done: (err) => (err === undefined ? resolve() : reject(err)) });
      void pump();
    });
  }

  /** Commits spooled rows in order; refused ones go to the dead-letter file first. */
  async function commitSpooled(rows: UsageLogInsert[]): Promise<void> {
    const refused = await commit(rows);
    stats.refused += refused.length;
    await deadLetters.keep(refused);
  }

  /**
   * Moves the spool into the database, in order, while new rows keep appending behind it; the last
   * lines and the truncate happen in the writer's turn, so no append slips between them.
   */
  async function replayOnce(): Promise<void> {
    await ping();
    let torn = 0;
    const consume = async (final: boolean) => {
      const chunk = await spool.read(replayedTo, { final });
      await commitSpooled(chunk.rows);
      const consumed = chunk.rows.length + chunk.torn;
      torn += chunk.torn;
      stats.spoolDepth = Math.max(0, stats.spoolDepth - consumed);
      const moved = chunk.next !== replayedTo;
      replayedTo = chunk.next;
      return moved;
    };
    while (await consume(false));
    await inWriterTurn(async () => {
      while (await consume(true));
      await spool.clear();
      replayedTo = 0;
      stats.spoolDepth = 0;
      spooling = false;
      attempt = 0;
    });
    if (torn > 0) log.warn({ torn, spool: spool.path }, 'skipped torn line(s) in the usage spool');
    log.info({ spool: spool.path }, 'usage spool replayed; writing to the database again');
  }

  /**
   * One replay at a time; resolves true once the spool is empty and rows go to the database again.
   * Whatever the outcome, a recorder still spooling afterwards (the replay failed, or the database
   * failed again meanwhile) has its next attempt scheduled.
   */
  function replay(): Promise<boolean> {
    replaying ??= (spooling ? replayOnce() : Promise.resolve())
      .then(
        () => true,
        (err: unknown) => {
          log.warn({ err, spool_depth: stats.spoolDepth }, 'usage spool replay failed; will retry');
          return false;
        },
      )
      .finally(() => {
        replaying = undefined;
        if (spooling) scheduleReplay();
      });
    return replaying;
  }

  function scheduleReplay(): void {
    if (retryTimer || closed) return;
    const delay = retryDelaysMs[Math.min(attempt, retryDelaysMs.length - 1)] ?? 1000;
    attempt += 1;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      void replay();
    }, delay);
    // a pending retry must not keep a finished process alive: the rows are on disk
    retryTimer.unref();
  }

  return {
    record(row) {
      return new Promise<void>((resolve, reject) => {
        queue.push({ row, resolve, reject });
        void pump();
      });
    },
    async start() {
      if ((await spool.size()) === 0) return;
      stats.spoolDepth = await spool.countLines();
      spooling = true;
      log.warn(
        { spool: spool.path, spool_depth: stats.spoolDepth },
        'replaying the usage spool a previous process left',
      );
      await replay();
    },
    async close() {
      if (closed) return;
      closed = true;
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = undefined;
      await replaying;
      await pump();
      if (spooling) await replay();
      // the database closes after this: late rows go to the spool, replayed at the next start
      spooling = true;
      await pump();
      await spool.close();
      await deadLetters.close();
      if (stats.spoolDepth > 0)
        log.warn(
          { spool: spool.path, spool_depth: stats.spoolDepth },
          'usage rows left in the spool for the next start',
        );
    },
    stats: () => ({ ...stats, degraded: spooling }),
  };
}
