// The account's side of admission: a request's worst-case charge is reserved against the balance and the
// account's own budget in admission's one database call (tollgate_admit, drizzle/0020, after the key's
// own budget); here are the 402 a request gets when the balance cannot cover it and the 429 when the
// account's budget cannot.
import { addExact, exactText, negateExact } from '../../billing/charge.ts';
import type { AdmitResult } from '../../db/limits-repo.ts';
import { GatewayError } from '../../errors.ts';
import { periodAdjective } from '../admission/budget-periods.ts';
import type { KeyAccount } from '../admission/key-limits.ts';
import type { Refusal } from '../admission/refusals.ts';

type AccountReservation = AdmitResult;

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
 * The error for an account's key refused by tollgate_admit's balance or budget (drizzle/0020; the key's
 * own budget and its rate window are admission's). A credits refusal is recorded (its alert raised)
 * before it is answered, within the statements' deadline; an account budget's is counted by admission as
 * a budget refusal (its code is budget_exceeded), as a key's is.
 */
export async function accountRefusal(
  {
    bounded,
    onRefusal,
  }: {
    bounded: <T>(work: Promise<T>, what: string) => Promise<T>;
    /** the refusal fan-out (admission/refusals.ts): awaited, so a credit alert is written before the 402 */
    onRefusal?: ((refusal: Refusal) => unknown) | undefined;
  },
  { keyId, account, result }: { keyId: string; account: KeyAccount; result: AccountReservation },
): Promise<GatewayError> {
  if (result.outcome === 'account_budget') return accountBudgetExceeded(result);
  if (onRefusal)
    await bounded(
      Promise.resolve(onRefusal({ keyId, reason: 'credits', accountId: account.id })),
      'recording a refusal',
    ).catch(() => {});
  return insufficientCredits(result);
}
