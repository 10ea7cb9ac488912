// The limits a client key carries, as admission reads them (from api_keys, through the key service).
import type { Decimal } from '../../billing/money.ts';

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
  /** requests in flight at once, counted per gateway process (per replica); null = unlimited */
  maxConcurrent: number | null;
  /** the account the key bills to, with its plan's markup (1 without a plan); null: no account */
  account?: KeyAccount | null | undefined;
};

export type KeyAccount = { id: string; markup: string };
