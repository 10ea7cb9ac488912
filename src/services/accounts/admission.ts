// The account's side of admission: reserving a request's worst-case charge against the balance and the
// account's own budget (after the key's own budget, in one database call: tollgate_reserve_account,
// drizzle/0014 and 0019), the 402 a request gets when the balance cannot cover it and the 429 when the
// account's budget cannot.
import { addExact, exactText, negateExact } from '../../billing/charge.ts';
import { compare, type Decimal, formatDecimal, parseDecimal } from '../../billing/money.ts';
import { type AccountReservation, reserveForAccount } from '../../db/accounts-repo.ts';
import type { Database } from '../../db/client.ts';
import { GatewayError } from '../../errors.ts';
import { budgetExceeded, periodAdjective } from '../admission/budget-periods.ts';
import type { KeyAccount, KeyLimits } from '../admission/key-limits.ts';
import type { Refusal } from '../admission/refusals.ts';

const usd = (text: string | null) => (text === null ? 'unknown' : `$${exactText(text)}`);

/** 402 insufficient_credits, with the exact figures; a retry cannot help until the account is topped up. */
export function insufficientCredits(r: AccountReservation): GatewayError {
  const available =
    r.balance === null || r.credit_limit === null || r.account_reserved === null
      ? null
      : addExact(addExact(r.balance, r.credit_limit), negateExact(r.account_reserved));
  return new GatewayError(
    402,
    `This account's credit does not cover this request: balance ${usd(r.balance)}, credit limit ${usd(r.credit_limit)}, in flight ${usd(r.account_reserved)}, available ${usd(available)}; this request may cost up to ${usd(r.account_amount)}. Top up the account to continue.`,
    { type: 'insufficient_quota', code: 'insufficient_credits', headers: { 'x-should-retry': 'false' } },
  );
}

/** The account's own budget cannot cover the request: a key's budget refusal (429, same type and code), naming the account's. */
export function accountBudgetExceeded(r: AccountReservation): GatewayError {
  return new GatewayError(
    429,
    `This account's ${periodAdjective(r.account_budget_period ?? 'month')} budget of ${usd(r.account_budget)} does not cover this request (worst case ${usd(r.account_amount)}; spent ${usd(r.account_spent)}, in flight ${usd(r.account_budget_reserved)}).`,
    { type: 'insufficient_quota', code: 'budget_exceeded', headers: { 'x-should-retry': 'false' } },
  );
}

/**
 * An account's key: the key's budget (if any), the account's balance and its own budget (if any) in one
 * database call, key_spend locked before account_balance before account_spend (the settlement's order).
 * Resolves with the key's part held (USD).
 */
export async function reserveAccountCharge(
  {
    database,
    bounded,
    onRefusal,
  }: {
    database: Database;
    bounded: <T>(work: Promise<T>, what: string) => Promise<T>;
    /** the refusal fan-out (admission/refusals.ts): awaited, so a credit alert is written before the 402 */
    onRefusal?: ((refusal: Refusal) => unknown) | undefined;
  },
  {
    requestId,
    keyId,
    budget,
    limits,
    period,
    amount,
    floor,
    account,
  }: {
    requestId: string;
    keyId: string;
    budget: Decimal | null;
    limits: KeyLimits;
    /** the key's budget period (YYYY-MM-DD) */
    period: string;
    /** the worst-case cost, USD, and the least held while others are in flight */
    amount: string;
    floor: string;
    account: KeyAccount;
  },
): Promise<string> {
  const hard = budget !== null && !limits.softBudget;
  // a worst case past the whole budget is refused before anything is held (as the budget-only path does)
  if (hard && compare(parseDecimal(amount), budget) > 0)
    throw budgetExceeded(limits.budgetPeriod, formatDecimal(budget), `$${amount}`, 'unknown', 'unknown');
  const result = await bounded(
    reserveForAccount(database, {
      id: requestId,
      keyId,
      period,
      amount,
      floor,
      trackKey: budget !== null,
      budget: hard ? formatDecimal(budget) : null,
      accountId: account.id,
      markup: account.markup,
    }),
    'reserving budget and credits',
  );
  if (result.outcome === 'admitted') return exactText(result.amount);
  if (result.outcome === 'budget' && budget !== null)
    throw budgetExceeded(
      limits.budgetPeriod,
      formatDecimal(budget),
      `$${amount}`,
      `$${exactText(result.spent)}`,
      exactText(result.key_reserved),
    );
  // counted as a budget refusal by admission (the code is budget_exceeded), as a key's is
  if (result.outcome === 'account_budget') throw accountBudgetExceeded(result);
  // the refusal is recorded (its alert raised) before it is answered, within the statements' deadline
  if (onRefusal)
    await bounded(
      Promise.resolve(onRefusal({ keyId, reason: 'credits', accountId: account.id })),
      'recording a refusal',
    ).catch(() => {});
  throw insufficientCredits(result);
}
