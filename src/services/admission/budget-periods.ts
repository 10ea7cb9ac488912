// Budget periods (UTC day, ISO week, calendar month) and the refusal a budget gives: shared by admission
// and by whatever shows a key's or an account's period.
import { exactText } from '../../billing/charge.ts';
import { canonical } from '../../billing/money.ts';
import { GatewayError } from '../../errors.ts';
import type { BudgetPeriod } from './key-limits.ts';

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

/** A key's budget cannot cover the request: 429, and retrying cannot help. */
export function budgetExceeded(
  period: BudgetPeriod,
  limit: string,
  worstCase: string,
  spent: string,
  reserved: string,
): GatewayError {
  return new GatewayError(
    429,
    `This key's ${periodAdjective(period)} budget of $${limit} does not cover this request (worst case ${worstCase}; spent ${spent}, in flight ${reserved === 'unknown' ? reserved : `$${reserved}`}).`,
    { type: 'insufficient_quota', code: 'budget_exceeded', headers: { 'x-should-retry': 'false' } },
  );
}

/** What admission reserves for a request against its key's budget (see admitRequest, drizzle/0020). */
export type Quote = {
  /** the key's budget period (YYYY-MM-DD) */
  period: string;
  /** USD, the worst case, and the least held while other requests of the key are in flight */
  amount: string;
  floor: string;
  /** the budget that refuses (null: none, or a soft one) */
  hardLimit: string | null;
};

/**
 * A key's own budget refused `quote` (`spent`, `reserved`: the period's figures, null when unknown). The
 * key of an account says its worst case alone; a key's own says the floor when others were in flight.
 */
export function keyBudgetRefusal(
  period: BudgetPeriod,
  quote: Quote,
  { spent, key_reserved }: { spent: string | null; key_reserved: string | null },
  ofAccount: boolean,
): GatewayError {
  const limit = quote.hardLimit ?? 'unknown';
  const { amount, floor } = quote;
  if (ofAccount)
    return budgetExceeded(
      period,
      limit,
      `$${amount}`,
      spent === null ? 'unknown' : `$${exactText(spent)}`,
      key_reserved === null ? 'unknown' : exactText(key_reserved),
    );
  const reserved = key_reserved === null ? 'unknown' : canonical(key_reserved);
  // with others in flight the floor is what would have been held (see admitRequest)
  const worstCase =
    floor !== amount && reserved !== '0' ? `$${amount}, $${floor} while others are in flight` : `$${amount}`;
  return budgetExceeded(
    period,
    limit,
    worstCase,
    spent === null ? 'unknown' : `$${canonical(spent)}`,
    reserved,
  );
}
