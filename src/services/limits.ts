// Admission for client keys: the budget of the key's period (worst case reserved atomically, settled by
// the usage row) and per-minute request and token limits, all counted in the database so they hold across replicas.
import { add, compare, type Decimal, formatDecimal, times } from '../billing/money.ts';
import { PROVIDER, type PriceBook } from '../billing/pricing.ts';
import type { Database } from '../db/client.ts';
import {
  pruneRateWindows,
  rateWindowOf,
  releaseBudget,
  reserveBudget,
  takeRateSlot,
} from '../db/limits-repo.ts';
import { GatewayError } from '../errors.ts';
import { estimatePromptTokens } from '../metering/tokens.ts';

export type BudgetPeriod = 'day' | 'week' | 'month';

export type KeyLimits = {
  /** USD per budget period (named for the monthly default); null = no budget */
  monthlyBudgetUsd: Decimal | null;
  /** the period the budget runs over; spend and reservations reset at its start (UTC) */
  budgetPeriod: BudgetPeriod;
  /** true: the budget is tracked and alerts, but never refuses */
  softBudget: boolean;
  /** requests per minute; null = unlimited */
  rpm: number | null;
  /** tokens per minute; null = unlimited */
  tpm: number | null;
};

export type Admission = {
  /** USD reserved against the budget, released when the usage row is written; null when none */
  reservedUsd: string | null;
  /** x-ratelimit-* headers for the reply */
  headers: Record<string, string>;
  /** gives the reservation back when the request ends without a usage row */
  release(): Promise<void>;
};

export type FailMode = 'open' | 'closed';

/** What admission reads of a request: the model, the prompt as chat messages, the output bounds. */
export type ChatRequest = {
  model: string;
  messages?: unknown;
  tools?: unknown;
  max_tokens?: unknown;
  max_completion_tokens?: unknown;
  [field: string]: unknown;
};

const WINDOW_MS = 60_000;
const NOTHING: Admission = { reservedUsd: null, headers: {}, release: async () => {} };

const DAY_MS = 86_400_000;
const ADJECTIVE = { day: 'daily', week: 'weekly', month: 'monthly' } as const satisfies Record<
  BudgetPeriod,
  string
>;

/**
 * The first day (YYYY-MM-DD, UTC) of the budget period holding `at`: the UTC day, the ISO week (from
 * Monday 00:00 UTC) or the calendar month. key_spend rows are keyed by it. The SQL twin is
 * tollgate_period_start (drizzle/0008), which the spend trigger uses: the two must agree.
 */
export function budgetPeriod(at: Date, period: BudgetPeriod = 'month'): string {
  const day = new Date(Math.floor(at.getTime() / DAY_MS) * DAY_MS);
  if (period === 'week') day.setUTCDate(day.getUTCDate() - ((day.getUTCDay() + 6) % 7));
  if (period === 'month') day.setUTCDate(1);
  return day.toISOString().slice(0, 10);
}

/** "daily", "weekly", "monthly": for messages a person reads. */
export function periodAdjective(period: BudgetPeriod): string {
  return ADJECTIVE[period];
}

export function createLimits({
  database,
  priceBook,
  failMode,
  defaultMaxTokens,
  onError = () => {},
}: {
  database: Database;
  priceBook: PriceBook;
  /** what to do when the database cannot answer: admit (open) or refuse with 503 (closed) */
  failMode: FailMode;
  /** completion tokens assumed when a request sets no max_tokens */
  defaultMaxTokens: number;
  onError?: (message: string, err: unknown) => void;
}) {
  let admissions = 0;

  async function admit(keyId: string, limits: KeyLimits, request: ChatRequest, at: Date): Promise<Admission> {
    if (limits.monthlyBudgetUsd === null && limits.rpm === null && limits.tpm === null) return NOTHING;
    const promptTokens = await estimatePromptTokens(request);
    const maxTokens = maxCompletionTokens(request, defaultMaxTokens);
    try {
      const headers =
        limits.rpm === null && limits.tpm === null
          ? {}
          : await takeRate(keyId, limits, promptTokens + maxTokens, at);
      if (limits.monthlyBudgetUsd === null) return { ...NOTHING, headers };
      const price = priceBook.resolve(PROVIDER, request.model, at);
      const worst = add(times(promptTokens, price.inputTokenCost), times(maxTokens, price.outputTokenCost));
      const period = budgetPeriod(at, limits.budgetPeriod);
      const budget = limits.monthlyBudgetUsd;
      const amount = formatDecimal(worst);
      // a soft budget still reserves, so spend in flight is tracked, but with no ceiling
      const hard = !limits.softBudget;
      const result =
        hard && compare(worst, budget) > 0
          ? { admitted: false, spent: '?', reserved: '?' }
          : await reserveBudget(database, {
              keyId,
              period,
              amount,
              budget: hard ? formatDecimal(budget) : null,
            });
      if (!result.admitted) {
        throw new GatewayError(
          429,
          `This key's ${periodAdjective(limits.budgetPeriod)} budget of $${formatDecimal(budget)} does not cover this request (worst case $${amount}; spent $${result.spent}, in flight $${result.reserved}).`,
          { type: 'insufficient_quota', code: 'budget_exceeded', headers },
        );
      }
      return {
        reservedUsd: amount,
        headers,
        release: () =>
          releaseBudget(database, { keyId, period, amount }).catch((err) => onError('release failed', err)),
      };
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      onError(`limits unavailable (failing ${failMode})`, err);
      if (failMode === 'open') return NOTHING;
      throw new GatewayError(503, 'Usage limits cannot be checked right now; try again shortly.', {
        type: 'api_error',
        code: 'limits_unavailable',
        headers: { 'retry-after': '1' },
      });
    }
  }

  async function takeRate(
    keyId: string,
    limits: KeyLimits,
    tokens: number,
    at: Date,
  ): Promise<Record<string, string>> {
    const windowStart = new Date(Math.floor(at.getTime() / WINDOW_MS) * WINDOW_MS);
    const resetS = Math.max(1, Math.ceil((windowStart.getTime() + WINDOW_MS - at.getTime()) / 1000));
    if (++admissions % 1000 === 0)
      void pruneRateWindows(database, new Date(windowStart.getTime() - 10 * WINDOW_MS)).catch(() => {});
    const tooLarge = limits.tpm !== null && tokens > limits.tpm;
    const counts = tooLarge
      ? undefined
      : await takeRateSlot(database, { keyId, windowStart, tokens, rpm: limits.rpm, tpm: limits.tpm });
    const seen = counts ?? (await rateWindowOf(database, keyId, windowStart));
    const headers = rateHeaders(limits, seen, resetS);
    if (!counts) {
      const which = tooLarge
        ? 'tokens per minute (this request alone is larger)'
        : limits.rpm !== null && seen.requests + 1 > limits.rpm
          ? 'requests per minute'
          : 'tokens per minute';
      throw new GatewayError(429, `Rate limit reached for this key: ${which}. Try again in ${resetS}s.`, {
        type: 'requests',
        code: 'rate_limit_exceeded',
        headers: { ...headers, 'retry-after': String(resetS) },
      });
    }
    return headers;
  }

  return { admit };
}

export type Limits = ReturnType<typeof createLimits>;

/** The completion budget a request asks for, as OpenAI counts it toward limits. */
function maxCompletionTokens(request: ChatRequest, fallback: number): number {
  for (const field of ['max_completion_tokens', 'max_tokens'] as const) {
    const value = request[field];
    if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  }
  return fallback;
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
