// One metered call as the pipeline sees it: what the client sent and who it is for, and the ticket
// admission handed it.
import type { EndpointAdapter, MeteredBody } from '../../endpoints/adapter.ts';

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
  /** the key's account and markup: the row's charge is its cost × markup; null: charged its cost */
  account?: { id: string; markup: string } | null | undefined;
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
