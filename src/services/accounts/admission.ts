// The account's side of admission: the 402 a request gets when the balance cannot cover its worst-case
// charge (the reservation itself is tollgate_reserve_account, called from admission/limits.ts).
import { addExact, exactText, negateExact } from '../../billing/charge.ts';
import type { AccountReservation } from '../../db/accounts-repo.ts';
import { GatewayError } from '../../errors.ts';

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
