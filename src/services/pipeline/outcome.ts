// How a failed call is recorded: whose fault it was (the row's status) and what the client is told.
import { GatewayError, toGatewayError } from '../../errors.ts';
import { ClientAbortedError } from '../../upstream/client.ts';
import type { UsageStatus } from './usage-row.ts';

export type Failure = { status: UsageStatus; httpStatus: number; error: GatewayError | ClientAbortedError };

/** Codes of errors the gateway itself causes even though they arise while talking to the upstream. */
const GATEWAY_CODES = new Set(['upstream_busy', 'usage_not_recorded']);

/**
 * A failure that arose while talking to the upstream: the client leaving (499), the gateway's own
 * capacity (gateway_error), else the upstream's fault (upstream_error: its 4xx/5xx, a timeout, garbage).
 */
export function upstreamFailure(err: unknown): Failure {
  if (err instanceof ClientAbortedError) return { status: 'client_aborted', httpStatus: 499, error: err };
  const error = toGatewayError(err);
  const ours = !(err instanceof GatewayError) || GATEWAY_CODES.has(error.code ?? '');
  return { status: ours ? 'gateway_error' : 'upstream_error', httpStatus: error.status, error };
}

/** A failure inside the gateway's own code (a bug, an exception): always the gateway's fault. */
export function gatewayFailure(err: unknown): Failure {
  const error = toGatewayError(err);
  return { status: 'gateway_error', httpStatus: error.status, error };
}
