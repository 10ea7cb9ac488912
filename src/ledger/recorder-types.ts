// What the recorder promises and reports: its interface, options and stats (src/ledger/recorder.ts).
import type { Database } from '../db/client.ts';
import type { UsageLogInsert } from '../db/schema.ts';
import type { DeadLetter } from './dead-letter.ts';
import type { Spool } from './spool.ts';

/** Why a row was not recorded: the database refused that row itself (bad data), not the connection. */
export class RowRefusedError extends Error {
  override readonly name = 'RowRefusedError';
}

/** Where the recorder reports; pino's Logger fits. */
export type RecorderLog = {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
};

export type RecorderStats = {
  /** rows this process committed to the database (replayed rows included) */
  committed: number;
  /** INSERT statements that committed them: committed ÷ inserts is the group commit's batch size */
  inserts: number;
  /** rows this process wrote to the spool */
  spooled: number;
  /** rows waiting in the spool for the database */
  spoolDepth: number;
  /** true while the database is failing and rows go to the spool */
  degraded: boolean;
  /** rows the database refused as bad data: rejected live, or moved to the dead-letter file at replay */
  refused: number;
};

export type Recorder = {
  /** resolves once the row is committed or spooled; rejects when it is neither (do not answer as metered) */
  record(row: UsageLogInsert): Promise<void>;
  /** replays a spool a previous process left behind; call once at start */
  start(): Promise<void>;
  /** resolves when every row recorded so far is durable, after one last replay attempt */
  close(): Promise<void>;
  stats(): RecorderStats;
};

export type RecorderOptions = {
  database: Database;
  spool: Spool<UsageLogInsert>;
  /** spooled rows the database refused; default: `<spool>.rejected.ndjson` beside the spool */
  deadLetter?: Spool<DeadLetter>;
  /**
   * Told of spooled rows the database refused, once they are in the dead-letter file: their requests
   * were answered, so nothing else will settle what they hold (their budget reservations). A failure
   * here is logged; the replay goes on.
   */
  onDeadLetter?: (rows: readonly UsageLogInsert[]) => Promise<void>;
  log?: RecorderLog;
  retryDelaysMs?: readonly number[];
  insertTimeoutMs?: number;
};
