// Plan grants, exactly once per account and period on any number of replicas: the entry's idempotency
// key is plan:<account>:<period start> and the ledger's unique index keeps one. A grant expires at its
// period's end; what it still held then leaves as one expiry entry (key expiry:<grant id>). Usage burns
// the soonest-expiring credit first, and within its period a grant is that, so what a grant still held
// is its amount less the period's charges (never below 0). With rollover, up to rollover_cap_usd of it
// stays (as part of the balance, never expiring) and only the rest expires.
import { addExact, compareExact, exactText, negateExact } from '../../billing/charge.ts';
import type { Database } from '../../db/client.ts';
import { appendCredit } from '../../db/credits-repo.ts';
import { accountsOnPlans, chargesBetween, endedGrants, planOfAccount } from '../../db/grants-repo.ts';
import { budgetPeriod } from '../admission/limits.ts';

const DAY_MS = 86_400_000;

/** The first instant after the period that starts on `start` (YYYY-MM-DD, UTC). */
function periodEnd(start: string, period: 'day' | 'week' | 'month'): Date {
  const at = new Date(`${start}T00:00:00.000Z`);
  if (period === 'month') return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1));
  return new Date(at.getTime() + (period === 'week' ? 7 : 1) * DAY_MS);
}

const max0 = (v: string) => (compareExact(v, '0') < 0 ? '0' : v);
const min = (a: string, b: string) => (compareExact(a, b) <= 0 ? a : b);

export type Grants = ReturnType<typeof createGrants>;

export function createGrants({ database }: { database: Database }) {
  // account → until when (ms) its current period's grant is known written: the request path asks the
  // database once per account and period per replica
  const settledUntil = new Map<string, number>();

  /** Writes the account's grant for the period holding `at` and expires its ended grants; idempotent. */
  async function settle(accountId: string, at = new Date()): Promise<void> {
    const plan = await planOfAccount(database, accountId);
    await expire(accountId, at, plan?.rollover ? (plan.rollover_cap_usd ?? null) : '0');
    if (!plan) {
      settledUntil.set(accountId, at.getTime() + 60_000);
      return;
    }
    const start = budgetPeriod(at, plan.period);
    const end = periodEnd(start, plan.period);
    if (compareExact(plan.included_usd, '0') > 0) {
      const amountUsd = exactText(plan.included_usd);
      await appendCredit(database, {
        accountId,
        kind: 'grant',
        amountUsd,
        expiresAt: end.toISOString(),
        idempotencyKey: `plan:${accountId}:${start}`,
        fingerprint: JSON.stringify(['grant', amountUsd, end.toISOString(), null]),
        note: `included credit of the ${plan.period} from ${start}`,
        actor: 'plan',
      });
    }
    settledUntil.set(accountId, end.getTime());
  }

  /**
   * One expiry entry per ended grant: what it still held (its amount less its period's charges), less
   * what rolls over (`keep`: the cap; null: all of it; '0': none).
   */
  async function expire(accountId: string, at: Date, keep: string | null): Promise<void> {
    for (const grant of await endedGrants(database, accountId, at.toISOString())) {
      const start = grant.idempotency_key.slice(grant.idempotency_key.lastIndexOf(':') + 1);
      const used = await chargesBetween(database, accountId, `${start}T00:00:00.000Z`, grant.expires_at);
      const left = min(grant.amount_usd, max0(addExact(grant.amount_usd, negateExact(used))));
      const expiring = keep === null ? '0' : max0(addExact(left, negateExact(keep)));
      await appendCredit(database, {
        accountId,
        kind: 'expiry',
        amountUsd: negateExact(expiring),
        expiresAt: null,
        idempotencyKey: `expiry:${grant.id}`,
        fingerprint: JSON.stringify(['expiry', grant.id]),
        note: `unused included credit of ${start}`,
        actor: 'plan',
      });
    }
  }

  return {
    settle,
    /** The request path: settles the account at most once per period per replica. */
    async ensure(accountId: string, at = new Date()): Promise<void> {
      if ((settledUntil.get(accountId) ?? 0) > at.getTime()) return;
      await settle(accountId, at);
    },
    /** The periodic job: every account on a plan. */
    async settleAll(at = new Date()): Promise<number> {
      const all = await accountsOnPlans(database);
      for (const plan of all) await settle(plan.account_id, at);
      return all.length;
    },
  };
}
