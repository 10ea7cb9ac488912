// The call record is the single owner of a call's row and its budget reservation: whatever ends the
// request (a row written, an error before any row, a crash of a handler, the client leaving, a
// shutdown), close() settles or releases the reservation exactly once, and meter() writes at most one row.
import type { MeteredCall, Ticket } from './call.ts';
import type { Meter, MeterInput } from './meter.ts';

export type CallRecord = {
  readonly call: MeteredCall;
  /** prices and commits the call's one row; a second call returns the first's result */
  meter(input: Omit<MeterInput, 'call' | 'reservedUsd'>): Promise<string>;
  /** whether meter() was called */
  readonly started: boolean;
  /** settles the reservation once the row's fate is known; idempotent */
  close(): Promise<void>;
};

export function openCallRecord(meter: Meter, call: MeteredCall, ticket: Ticket): CallRecord {
  let recorded: Promise<string> | undefined;
  let closing: Promise<void> | undefined;
  return {
    call,
    meter(input) {
      recorded ??= meter({ ...input, call, reservedUsd: ticket.reservedUsd });
      return recorded;
    },
    get started() {
      return recorded !== undefined;
    },
    close() {
      closing ??= (async () => {
        const metered = recorded
          ? await recorded.then(
              () => true,
              () => false,
            )
          : false;
        await ticket.finish({ metered });
      })();
      return closing;
    },
  };
}
