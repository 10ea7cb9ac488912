// Per-minute request and token limits of a key, counted in the database (fixed one-minute windows) so
// they hold across replicas, answered with OpenAI's x-ratelimit-* headers. The slot itself is taken in
// admission's one call (tollgate_admit, drizzle/0020); this owns the window, the headers and the 429.
import type { Database } from '../../db/client.ts';
import { pruneRateWindows } from '../../db/limits-repo.ts';
import { GatewayError } from '../../errors.ts';
import type { KeyLimits } from './key-limits.ts';
import type { RefusalListener } from './refusals.ts';

const WINDOW_MS = 60_000;

export type RateWindow = { windowStart: Date; resetS: number };

export function createRateLimits({
  database,
  onRefusal = () => {},
}: {
  database: Database;
  /** told of each request refused here (rpm or tpm) */
  onRefusal?: RefusalListener;
}) {
  let admissions = 0;

  /** The minute holding `at` and the seconds until it ends; every 1000th call prunes old windows. */
  function window(at: Date): RateWindow {
    const windowStart = new Date(Math.floor(at.getTime() / WINDOW_MS) * WINDOW_MS);
    const resetS = Math.max(1, Math.ceil((windowStart.getTime() + WINDOW_MS - at.getTime()) / 1000));
    if (++admissions % 1000 === 0)
      void pruneRateWindows(database, new Date(windowStart.getTime() - 10 * WINDOW_MS)).catch(() => {});
    return { windowStart, resetS };
  }

  /** The 429 of a request the window refused (`seen`: its counts without this request), told to the listener. */
  function refusal({
    keyId,
    limits,
    tokens,
    seen,
    resetS,
  }: {
    keyId: string;
    limits: KeyLimits;
    tokens: number;
    seen: { requests: number; tokens: number };
    resetS: number;
  }): GatewayError {
    const tooLarge = limits.tpm !== null && tokens > limits.tpm;
    const byRequests = !tooLarge && limits.rpm !== null && seen.requests + 1 > limits.rpm;
    const which = tooLarge
      ? 'tokens per minute (this request alone is larger)'
      : byRequests
        ? 'requests per minute'
        : 'tokens per minute';
    onRefusal({ keyId, reason: byRequests ? 'rpm' : 'tpm' });
    return new GatewayError(429, `Rate limit reached for this key: ${which}. Try again in ${resetS}s.`, {
      type: 'requests',
      code: 'rate_limit_exceeded',
      headers: { ...rateHeaders(limits, seen, resetS), 'retry-after': String(resetS) },
    });
  }

  return { window, refusal, headers: rateHeaders };
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
