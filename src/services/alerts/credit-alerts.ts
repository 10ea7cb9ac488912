// An account's credit alerts (credits.low, credits.exhausted; DESIGN §6c) as /admin/alerts lists them and
// as the webhook receives them: exact decimal strings, and a sentence a chat channel shows as is.
import { exactText, negateExact } from '../../billing/charge.ts';
import type { AlertRecord, AlertState } from '../../db/alerts-repo.ts';
import { dollars, slackSafe } from './alert-text.ts';

export type CreditAlertType = 'credits.low' | 'credits.exhausted';

export type CreditAlertPayload = {
  type: CreditAlertType;
  id: string;
  account_id: string;
  account_name: string | null;
  /** credits.exhausted: the key whose request was refused; credits.low: null */
  key_id: string | null;
  /** the balance when the alert was raised (USD, may be negative within the credit limit) */
  balance_usd: string;
  /** credits.low: low_balance_usd; credits.exhausted: the balance at which credit runs out (−credit limit) */
  threshold_usd: string;
  text: string;
};

export type CreditAlertView = Omit<CreditAlertPayload, 'text'> & {
  key_name: string | null;
  created_at: string;
  state: AlertState;
  attempts: number;
  next_attempt_at: string | null;
  last_error: string | null;
  delivered_at: string | null;
};

/** The fields every credit alert carries (the database's check guarantees them on its rows). */
function fields(row: AlertRecord, type: CreditAlertType) {
  return {
    type,
    id: row.id,
    account_id: row.account_id ?? '',
    account_name: row.account_name,
    key_id: row.api_key_id,
    balance_usd: exactText(row.balance_usd ?? '0'),
    threshold_usd: exactText(row.threshold_usd ?? '0'),
  };
}

export function creditView(
  row: AlertRecord,
  type: CreditAlertType,
): Omit<
  CreditAlertView,
  'created_at' | 'state' | 'attempts' | 'next_attempt_at' | 'last_error' | 'delivered_at'
> {
  return { ...fields(row, type), key_name: row.key_name };
}

export function creditPayload(row: AlertRecord, type: CreditAlertType): CreditAlertPayload {
  const f = fields(row, type);
  const name = slackSafe(f.account_name ?? f.account_id);
  const text =
    f.type === 'credits.low'
      ? `Tollgate: account '${name}' has a balance of ${dollars(f.balance_usd)}, below its low-balance ` +
        `threshold of ${dollars(f.threshold_usd)}. Top it up to keep its keys running.`
      : `Tollgate: account '${name}' is out of credit: a request was refused at a balance of ` +
        `${dollars(f.balance_usd)} (credit limit ${dollars(negateExact(f.threshold_usd))}). ` +
        'Its keys are refused (402) until it is topped up.';
  return { ...f, text };
}
