// One metered call, from admission to settlement. The call record is the single owner of the call's
// row and its budget reservation: whatever ends the request (a row written, an error before any row,
// a crash of a handler, the client leaving, a shutdown), close() settles or releases the reservation
// exactly once, and meter() writes at most one row.
import type { EndpointAdapter, MeteredBody } from '../../endpoints/adapter.ts';
import type { Meter, MeterInput } from './meter.ts';

export type MeteredCall = {
  adapter: EndpointAdapter;
  /** the validated body */
  body: MeteredBody;
  /** the client's bytes, as sent */
  raw: Uint8Array;
  requestId: string;
  apiKeyId: string | null;
  /** when the request arrived: wall clock for the row, monotonic ms for durations */
  startedAt: Date;
  startedAtMs: number;
  /** aborts when the client goes away */
  signal: AbortSignal;
  endUser: string | null;
  tags: string[] | null;
};

/** What admission handed the call: the reservation it made, and how to settle it. */
export type Ticket = {
  reservedUsd: string | null;
  headers: Record<string, string>;
  /** called once when the call ends; `metered`: its row was written (the row's insert settles it) */
  finish(outcome: { metered: boolean }): Promise<void>;
};

/** Milliseconds since the call arrived. */
export const elapsedMs = (call: MeteredCall) => performance.now() - call.startedAtMs;
