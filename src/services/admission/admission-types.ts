// What admission takes and gives: a request's input, the admission that owns its slot and reservation,
// the fail mode, and how long a reservation may live before the reaper frees it.
import type { MeteredBody } from '../../endpoints/adapter.ts';
import type { KeyLimits } from './key-limits.ts';
import type { BodyReading } from './request-bounds.ts';

export type AdmissionInput = {
  /** the gateway's request id: also the id of the budget reservation and of the usage row */
  requestId: string;
  keyId: string;
  limits: KeyLimits;
  /** the client's JSON body; read, never changed */
  body: MeteredBody;
  /** where the body's prompt and output bound sit: its endpoint's adapter (default: chat or Responses) */
  reading?: BodyReading;
  /** when the request arrived: picks the budget period and the rate window */
  at: Date;
};

/**
 * A request let in. It owns a concurrency slot and, with a budget, a reservation (id = the request id):
 * the pipeline calls finish() exactly once when the request ends, whatever ends it.
 */
export type Admission = {
  /** USD reserved against the budget; null when none */
  reservedUsd: string | null;
  /** x-ratelimit-* headers for the reply */
  headers: Record<string, string>;
  /**
   * Ends the admission: frees the concurrency slot, and unless `metered` (a usage row with this
   * request id was handed to the recorder, whose trigger settles the reservation) releases the
   * reservation. Idempotent: later calls do nothing. Never throws; a release that fails is logged
   * and left to the reaper.
   */
  finish(outcome: { metered: boolean }): Promise<void>;
  /**
   * The key has a budget: the request must not generate more than was reserved for it, so a body
   * without an output bound goes upstream with `boundTokens` (per choice) in its adapter's field.
   */
  bounded: boolean;
  /** per choice: the output bound reserved for when the body sets none */
  boundTokens: number;
  /** finish({ metered: false }), for the proxies until the pipeline calls finish itself */
  release(): Promise<void>;
};

export type FailMode = 'open' | 'closed';

/**
 * The longest a request may hold its reservation. A JSON request is bounded by UPSTREAM_TIMEOUT_MS as
 * a whole, but a stream only by UPSTREAM_TIMEOUT_MS between events, so this assumes no
 * request lives past an hour (~100k tokens at typical speeds). A stream that does outlives its
 * reservation: its budget is freed early, and its row still adds its real cost when it lands.
 */
export const LONGEST_REQUEST_MS = 3_600_000;

export function reservationTtlMs({
  upstreamTimeoutMs,
  shutdownGraceMs,
}: {
  upstreamTimeoutMs: number;
  shutdownGraceMs: number;
}): number {
  return Math.max(LONGEST_REQUEST_MS, 2 * upstreamTimeoutMs) + shutdownGraceMs;
}
