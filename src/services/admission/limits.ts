// Admission for client keys: the budget of the key's period (worst case reserved atomically, settled by
// the usage row) and per-minute request and token limits, all counted in the database so they hold across replicas.
import { add, canonical, compare, type Decimal, formatDecimal, times } from '../../billing/money.ts';
import type { PriceBook } from '../../billing/pricing.ts';
import type { Database } from '../../db/client.ts';
import { withDeadline } from '../../db/deadline.ts';
import { reapReservations, releaseReservation, reserveBudget, spendOf } from '../../db/limits-repo.ts';
import { GatewayError } from '../../errors.ts';
import { reserveAccountCharge } from '../accounts/admission.ts';
import { type Admission, type AdmissionInput, type FailMode, LONGEST_REQUEST_MS } from './admission-types.ts';
import { budgetExceeded, budgetPeriod } from './budget-periods.ts';
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

type ReserveFor = {
  requestId: string;
  keyId: string;
  budget: Decimal | null;
  model: string;
  at: Date;
  limits: KeyLimits;
};

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
   * choice while other requests of the key are in flight (see reserveBudget) */
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
  const rates = createRateLimits({ database, bounded, onRefusal: refused });

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
    let reserving = false;
    let reservedUsd: string | null = null;
    try {
      const promptTokens = await bounds.promptTokens();
      if (budget !== null || account !== null) {
        reserving = true;
        reservedUsd = await reserve(
          { requestId, keyId, budget, model: body.model, at, limits },
          {
            promptTokens,
            outputTokens,
            floorTokens: bounds.floorTokens,
          },
        );
      }
      const headers =
        rpm === null && tpm === null
          ? {}
          : await rates.take({ keyId, limits, tokens: promptTokens + outputTokens, at });
      return admitted({
        requestId: reservedUsd === null ? null : requestId,
        // a key without a budget holds nothing of its own: only its account's part
        reservedUsd: budget === null ? null : reservedUsd,
        headers,
        freeSlot,
        // what was reserved for is what the upstream may generate (a budget or a balance to protect)
        bounded: budget !== null || account !== null,
      });
    } catch (err) {
      if (err instanceof GatewayError) {
        // both budget paths (a key's own, an account's key) throw this one error
        if (err.code === 'budget_exceeded') refused({ keyId, reason: 'budget' });
        // refused: nothing this request took stays taken (a rate refusal gives the budget back)
        freeSlot();
        if (reservedUsd !== null) await releaseQuietly(requestId);
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
          bounded: budget !== null || account !== null,
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

  /** Reserves the worst case; resolves with the amount held, or throws the budget's 429. */
  async function reserve(
    { requestId, keyId, budget, model, at, limits }: ReserveFor,
    {
      promptTokens,
      outputTokens,
      floorTokens,
    }: { promptTokens: number; outputTokens: number; floorTokens: number },
  ): Promise<string> {
    const target = priceTarget(model);
    const price = priceBook.resolve(target.provider, target.model, at);
    const cost = (output: number) =>
      add(times(promptTokens, price.inputTokenCost), times(output, price.outputTokenCost));
    const worst = cost(outputTokens);
    const period = budgetPeriod(at, limits.budgetPeriod);
    const amount = formatDecimal(worst);
    const floor = formatDecimal(cost(floorTokens));
    const account = limits.account ?? null;
    if (account !== null)
      return reserveAccountCharge(
        { database, bounded, onRefusal: refused },
        { requestId, keyId, budget, limits, period, amount, floor, account },
      );
    if (budget === null) return '0';
    const limit = formatDecimal(budget);
    // a soft budget still reserves, so spend in flight is tracked and alerts fire, but never refuses
    const hard = !limits.softBudget;
    const result =
      hard && compare(worst, budget) > 0
        ? { admitted: false, amount, ...(await spendOrUnknown(keyId, period)) }
        : await bounded(
            reserveBudget(database, {
              id: requestId,
              keyId,
              period,
              amount,
              floor,
              budget: hard ? limit : null,
            }),
            'reserving budget',
          );
    if (result.admitted) return canonical(result.amount);
    const spent = result.spent === null ? 'unknown' : `$${canonical(result.spent)}`;
    const reserved = result.reserved === null ? 'unknown' : canonical(result.reserved);
    // with others in flight the floor is what would have been held (see reserveBudget)
    const worstCase =
      floor !== amount && reserved !== '0'
        ? `$${amount}, $${floor} while others are in flight`
        : `$${amount}`;
    throw budgetExceeded(limits.budgetPeriod, limit, worstCase, spent, reserved);
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
