// Per-minute request and token limits of a key, counted in the database (fixed one-minute windows) so
// they hold across replicas, answered with OpenAI's x-ratelimit-* headers.
import type { Database } from '../../db/client.ts';
import { pruneRateWindows, rateWindowOf, takeRateSlot } from '../../db/limits-repo.ts';
import { GatewayError } from '../../errors.ts';
import type { KeyLimits } from './key-limits.ts';
import type { RefusalListener } from './refusals.ts';

const WINDOW_MS = 60_000;

export function createRateLimits({
  database,
  bounded,
  onRefusal = () => {},
}: {
  database: Database;
  /** puts a deadline on a statement */
  bounded: <T>(work: Promise<T>, what: string) => Promise<T>;
  /** told of each request refused here (rpm or tpm) */
  onRefusal?: RefusalListener;
}) {
  let admissions = 0;

  /** Counts one request and `tokens` in the key's minute; resolves with the reply's headers or throws 429. */
  async function take({
    keyId,
    limits,
    tokens,
    at,
  }: {
    keyId: string;
    limits: KeyLimits;
    tokens: number;
    at: Date;
  }): Promise<Record<string, string>> {
    const windowStart = new Date(Math.floor(at.getTime() / WINDOW_MS) * WINDOW_MS);
    const resetS = Math.max(1, Math.ceil((windowStart.getTime() + WINDOW_MS - at.getTime()) / 1000));
    if (++admissions % 1000 === 0)
      void pruneRateWindows(database, new Date(windowStart.getTime() - 10 * WINDOW_MS)).catch(() => {});
    const tooLarge = limits.tpm !== null && tokens > limits.tpm;
    const counts = tooLarge
      ? undefined
      : await bounded(
          takeRateSlot(database, { keyId, windowStart, tokens, rpm: limits.rpm, tpm: limits.tpm }),
          'taking a rate slot',
        );
    const seen =
      counts ?? (await bounded(rateWindowOf(database, keyId, windowStart), 'reading the rate window'));
    const headers = rateHeaders(limits, seen, resetS);
    if (!counts) {
      const byRequests = !tooLarge && limits.rpm !== null && seen.requests + 1 > limits.rpm;
      const which = tooLarge
        ? 'tokens per minute (this request alone is larger)'
        : byRequests
          ? 'requests per minute'
          : 'tokens per minute';
      onRefusal({ keyId, reason: byRequests ? 'rpm' : 'tpm' });
      throw new GatewayError(429, `Rate limit reached for this key: ${which}. Try again in ${resetS}s.`, {
        type: 'requests',
        code: 'rate_limit_exceeded',
        headers: { ...headers, 'retry-after': String(resetS) },
      });
    }
    return headers;
  }

  return { take };
}

/** OpenAI's and Groq's header names: limit, remaining and reset per requests and tokens. */
function rateHeaders(
  limits: KeyLimits,
  seen: { requests: number; tokens: number },
  resetS: number,
): Record<string, string> {
  const headers: Record<string, string> = {};
  if (limits.rpm !== null) {
    headers['x-ratelimit-limit-requests'] = String(limits.rpm);
    headers['x-ratelimit-remaining-requests'] = String(Math.max(0, limits.rpm - seen.requests));
    headers['x-ratelimit-reset-requests'] = `${resetS}s`;
  }
  if (limits.tpm !== null) {
    headers['x-ratelimit-limit-tokens'] = String(limits.tpm);
    headers['x-ratelimit-remaining-tokens'] = String(Math.max(0, limits.tpm - seen.tokens));
    headers['x-ratelimit-reset-tokens'] = `${resetS}s`;
  }
  return headers;
}
