// Admission for client keys: the budget of the key's period (worst case reserved atomically, settled by
// the usage row) and per-minute request and token limits, all counted in the database so they hold across replicas.
import { exactText } from '../../billing/charge.ts';
import { add, canonical, compare, formatDecimal, times } from '../../billing/money.ts';
import type { PriceBook } from '../../billing/pricing.ts';
import type { Database } from '../../db/client.ts';
import { withDeadline } from '../../db/deadline.ts';
import { admitRequest, reapReservations, releaseReservation, spendOf } from '../../db/limits-repo.ts';
import { GatewayError } from '../../errors.ts';
import { accountRefusal } from '../accounts/admission.ts';
import { type Admission, type AdmissionInput, type FailMode, LONGEST_REQUEST_MS } from './admission-types.ts';
import { budgetExceeded, budgetPeriod, keyBudgetRefusal, type Quote } from './budget-periods.ts';
import { createConcurrency } from './concurrency.ts';
import type { KeyLimits } from './key-limits.ts';
import { createRateLimits } from './rate-limits.ts';
import { fanOut, type RefusalListener } from './refusals.ts';
import { MESSAGES_READING, requestBounds } from './request-bounds.ts';

export {
  type Admission,
  type AdmissionInput,
  type FailMode,
  reservationTtlMs,
} from './admission-types.ts';
export { budgetPeriod, periodAdjective } from './budget-periods.ts';
export type { BudgetPeriod, KeyLimits } from './key-limits.ts';

/** How often each replica looks for stale reservations (the statement is idempotent). */
const REAP_INTERVAL_MS = 60_000;

export function createLimits({
  database,
  priceBook,
  priceTarget,
  failMode,
  defaultMaxTokens,
  timeoutMs = 2000,
  reservationTtlMs: ttlMs = LONGEST_REQUEST_MS,
  onError = () => {},
  onRefusal,
}: {
  database: Database;
  priceBook: PriceBook;
  /**
   * The provider and model a request for `model` is priced under: those of the upstream that will
   * serve it (its prefix routes it), so the reservation and the row use the same price.
   */
  priceTarget: (model: string) => { provider: string; model: string };
  /** what to do when the database cannot answer: admit (open) or refuse with 503 (closed) */
  failMode: FailMode;
  /** completion tokens per choice assumed when a request sets no bound, and the least reserved per
   * choice while other requests of the key are in flight (see admitRequest) */
  defaultMaxTokens: number;
  /** the deadline of each limits statement (a frozen database never answers) */
  timeoutMs?: number;
  /** reservations older than this are reaped (see reservationTtlMs()) */
  reservationTtlMs?: number;
  onError?: (message: string, err: unknown) => void;
  /**
   * told of each request refused at admission, by reason (refusals.ts): the counts, /metrics, the
   * credits.exhausted alert. Several listeners are each told; one that throws is logged.
   */
  onRefusal?: RefusalListener | readonly RefusalListener[] | undefined;
}) {
  const refused = fanOut(onRefusal, onError);
  const slots = createConcurrency({ onRefusal: refused });
  const bounded = <T>(work: Promise<T>, what: string) => withDeadline(work, timeoutMs, what);
  const rates = createRateLimits({ database, onRefusal: refused });

  async function admit(input: AdmissionInput): Promise<Admission> {
    const { requestId, keyId, limits, body, at, reading = MESSAGES_READING } = input;
    // a malformed bound is the client's 400 before anything is counted
    const bounds = requestBounds(reading, body, defaultMaxTokens);
    const { outputTokens } = bounds;
    const { monthlyBudgetUsd: budget, rpm, tpm, maxConcurrent } = limits;
    const account = limits.account ?? null;
    if (budget === null && rpm === null && tpm === null && maxConcurrent === null && account === null)
      return admitted({
        requestId: null,
        reservedUsd: null,
        headers: {},
        freeSlot: () => {},
        bounded: false,
      });
    const freeSlot = slots.take(keyId, maxConcurrent);
    const reserving = budget !== null || account !== null;
    // a key limited in concurrency alone counts no tokens (the count is a worker's round trip)
    if (!reserving && rpm === null && tpm === null)
      return admitted({ requestId: null, reservedUsd: null, headers: {}, freeSlot, bounded: false });
    try {
      const promptTokens = await bounds.promptTokens();
      const tokens = promptTokens + outputTokens;
      const rate = rpm === null && tpm === null ? null : rates.window(at);
      const quote = reserving
        ? await quoteFor(
            { keyId, model: body.model, at, limits },
            { promptTokens, outputTokens, floorTokens: bounds.floorTokens },
          )
        : null;
      // one call, one commit: the budget, the account, the rate window, all or nothing (drizzle/0020)
      const result = await bounded(
        admitRequest(database, {
          id: requestId,
          keyId,
          period: quote?.period ?? budgetPeriod(at, limits.budgetPeriod),
          amount: quote?.amount ?? '0',
          floor: quote?.floor ?? '0',
          trackKey: budget !== null,
          budget: quote?.hardLimit ?? null,
          account,
          rate: rate && { windowStart: rate.windowStart, tokens, rpm, tpm },
        }),
        reserving ? 'admitting (budget, credits, rate window)' : 'taking a rate slot',
      );
      const seen = { requests: result.requests ?? 0, tokens: result.tokens ?? 0 };
      if (result.outcome === 'rate' && rate)
        throw rates.refusal({ keyId, limits, tokens, seen, resetS: rate.resetS });
      if (result.outcome === 'budget' && quote)
        throw keyBudgetRefusal(limits.budgetPeriod, quote, result, account !== null);
      if ((result.outcome === 'credits' || result.outcome === 'account_budget') && account)
        throw await accountRefusal({ bounded, onRefusal: refused }, { keyId, account, result });
      if (result.outcome !== 'admitted') throw new Error(`tollgate_admit answered ${result.outcome}`);
      return admitted({
        requestId: reserving ? requestId : null,
        // a key without a budget holds nothing of its own: only its account's part
        reservedUsd:
          budget === null ? null : account === null ? canonical(result.amount) : exactText(result.amount),
        headers: rate ? rates.headers(limits, seen, rate.resetS) : {},
        freeSlot,
        // what was reserved for is what the upstream may generate (a budget or a balance to protect)
        bounded: reserving,
      });
    } catch (err) {
      if (err instanceof GatewayError) {
        // both budget paths (a key's own, an account's key) throw this one error
        if (err.code === 'budget_exceeded') refused({ keyId, reason: 'budget' });
        // refused: tollgate_admit took nothing (a refusal by any part undoes the others)
        freeSlot();
        throw err;
      }
      onError(`limits unavailable (failing ${failMode})`, err);
      if (failMode === 'open') {
        // a reservation that lands late is still this request's: its row or finish() frees it
        return admitted({
          requestId: reserving ? requestId : null,
          reservedUsd: null,
          headers: {},
          freeSlot,
          bounded: reserving,
        });
      }
      freeSlot();
      throw new GatewayError(503, 'Usage limits cannot be checked right now; try again shortly.', {
        type: 'api_error',
        code: 'limits_unavailable',
        headers: { 'retry-after': '1' },
      });
    }
  }

  /**
   * The worst case to reserve, its floor and the key's period; throws the budget's 429 when the worst
   * case alone passes a hard budget (nothing is taken for a request that could never fit).
   */
  async function quoteFor(
    { keyId, model, at, limits }: { keyId: string; model: string; at: Date; limits: KeyLimits },
    {
      promptTokens,
      outputTokens,
      floorTokens,
    }: { promptTokens: number; outputTokens: number; floorTokens: number },
  ): Promise<Quote> {
    const target = priceTarget(model);
    const price = priceBook.resolve(target.provider, target.model, at);
    const cost = (output: number) =>
      add(times(promptTokens, price.inputTokenCost), times(output, price.outputTokenCost));
    const worst = cost(outputTokens);
    const budget = limits.monthlyBudgetUsd;
    // a soft budget still reserves, so spend in flight is tracked and alerts fire, but never refuses
    const hard = budget !== null && !limits.softBudget;
    const quote = {
      period: budgetPeriod(at, limits.budgetPeriod),
      amount: formatDecimal(worst),
      floor: formatDecimal(cost(floorTokens)),
      hardLimit: hard ? formatDecimal(budget) : null,
    };
    if (!hard || compare(worst, budget) <= 0) return quote;
    const limit = formatDecimal(budget);
    // an account's key never read the spend for this refusal; a key's own says what it can
    if (limits.account)
      throw budgetExceeded(limits.budgetPeriod, limit, `$${quote.amount}`, 'unknown', 'unknown');
    const spend = await spendOrUnknown(keyId, quote.period);
    throw keyBudgetRefusal(
      limits.budgetPeriod,
      quote,
      { spent: spend.spent, key_reserved: spend.reserved },
      false,
    );
  }

  /** The figures for a refusal that needs no reservation: a database that cannot say is no reason to admit. */
  async function spendOrUnknown(
    keyId: string,
    period: string,
  ): Promise<{ spent: string | null; reserved: string | null }> {
    try {
      return await bounded(spendOf(database, keyId, period), 'reading spend');
    } catch (err) {
      onError('reading spend for a budget refusal failed', err);
      return { spent: null, reserved: null };
    }
  }

  async function releaseQuietly(reservationId: string): Promise<void> {
    await bounded(releaseReservation(database, reservationId), 'releasing a reservation').catch((err) =>
      onError('releasing a reservation failed; the reaper will free it', err),
    );
  }

  function admitted({
    requestId,
    reservedUsd,
    headers,
    freeSlot,
    bounded,
  }: {
    /** the key has a budget (see Admission.bounded) */
    bounded: boolean;
    /** the reservation to release when no row settles it; null when none was attempted */
    requestId: string | null;
    reservedUsd: string | null;
    headers: Record<string, string>;
    freeSlot: () => void;
  }): Admission {
    let finished = false;
    const finish = async ({ metered }: { metered: boolean }) => {
      if (finished) return;
      finished = true;
      freeSlot();
      if (!metered && requestId !== null) await releaseQuietly(requestId);
    };
    return {
      reservedUsd,
      headers,
      finish,
      release: () => finish({ metered: false }),
      bounded,
      boundTokens: defaultMaxTokens,
    };
  }

  /** Expires reservations whose owner never finished; resolves with how many. */
  function reap(): Promise<number> {
    return reapReservations(database, ttlMs);
  }

  /** Reaps every REAP_INTERVAL_MS until the returned function is called. */
  function startReaper({ intervalMs = REAP_INTERVAL_MS }: { intervalMs?: number } = {}): () => void {
    const timer = setInterval(async function reapStale() {
      try {
        await withDeadline(reap(), Math.max(timeoutMs, 10_000), 'reaping reservations');
      } catch (err) {
        onError('reaping stale budget reservations failed; retrying at the next interval', err);
      }
    }, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  return { admit, reap, startReaper, inFlight: slots.count };
}

export type Limits = ReturnType<typeof createLimits>;
