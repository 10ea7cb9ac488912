// Deadlines for database calls on the request path. A PostgreSQL that refuses fails fast, but one that
// hangs (frozen, partitioned, swapping) never answers, and postgres.js waits forever for it: the only
// bound is a timer on our side. The statement itself may still finish later; callers must be idempotent
// or harmless when it does.
import { GatewayError } from '../errors.ts';

export class DatabaseTimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`the database did not answer ${what} within ${ms} ms`);
    this.name = 'DatabaseTimeoutError';
  }
}

/** Rejects with DatabaseTimeoutError when `work` takes longer than `ms`. */
export function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    // after a stalled event loop the timer and the answer are both due: timers run first, so the
    // rejection waits one turn (setImmediate runs after I/O) and an answer already here still wins
    timer = setTimeout(() => setImmediate(() => reject(new DatabaseTimeoutError(what, ms))), ms);
  });
  // a rejection after the deadline has no one left to hear it
  work.catch(() => {});
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/** postgres.js connection failures (its own codes), and Node's socket errors. */
const CONNECTION_CODES = new Set([
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
]);

/**
 * The database is unavailable rather than the statement wrong: our deadline, a connection failure,
 * SQLSTATE class 08 (connection exception), 57014 (statement_timeout), 55P03 (lock_timeout), 57P0x
 * (shutting down, cannot connect now), 53300 (too many connections).
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (err instanceof DatabaseTimeoutError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  return CONNECTION_CODES.has(code) || /^(08...|57014|55P03|57P0.|53300)$/.test(code);
}

/** 503 in OpenAI's shape: the caller may retry once the database answers again. */
export const databaseUnavailable = (cause?: unknown, message = 'The database did not answer in time.') =>
  new GatewayError(503, `${message} Try again shortly.`, {
    type: 'api_error',
    code: 'database_unavailable',
    headers: { 'retry-after': '1' },
    cause,
  });
