// The dead-letter file: spooled rows the database refused for what they hold (SQLSTATE 21/22/23/54, see
// commit.ts), kept beside the spool for an operator, never dropped and never retried, so the replay
// moves on. Their requests were answered, so whatever those rows would have settled (their budget
// reservations) is handed to `onDeadLetter`.
import type { UsageLogInsert } from '../db/schema.ts';
import { errorCode, errorText, type Refused } from './commit.ts';
import { createSpool, type Spool } from './spool.ts';

/** A spooled row the database refused at replay, with why and when. */
export type DeadLetter = { row: UsageLogInsert; code: string; error: string; at: string };

export type DeadLetters = {
  /** appends the refused rows (fsync'd), then tells `onDeadLetter`; throws only when the append fails */
  keep(refused: readonly Refused[]): Promise<void>;
  close(): Promise<void>;
};

/** `usage-spool.ndjson` → `usage-spool.rejected.ndjson` */
export function deadLetterPath(spoolPath: string): string {
  return spoolPath.replace(/(\.ndjson)?$/, '.rejected.ndjson');
}

export function createDeadLetters({
  file,
  log,
  onDeadLetter = async () => {},
}: {
  file: Spool<DeadLetter>;
  log: { error(fields: object, message: string): void };
  /** told of the rows once they are on disk; a failure is logged, the replay goes on */
  onDeadLetter?: ((rows: readonly UsageLogInsert[]) => Promise<void>) | undefined;
}): DeadLetters {
  return {
    async keep(refused) {
      if (refused.length === 0) return;
      await file.append(
        refused.map(({ row, err }) => ({
          row,
          code: errorCode(err) ?? '',
          error: errorText(err),
          at: new Date().toISOString(),
        })),
      );
      log.error(
        { count: refused.length, dead_letter: file.path },
        'the database refused spooled usage rows; kept them in the dead-letter file',
      );
      await onDeadLetter(refused.map((r) => r.row)).catch((err: unknown) =>
        log.error({ err, count: refused.length }, 'settling dead-lettered usage rows failed'),
      );
    },
    close: () => file.close(),
  };
}

export const deadLetterSpool = (spoolPath: string) =>
  createSpool<DeadLetter>({ path: deadLetterPath(spoolPath) });
