// A client key as admission and admins see it: the principal a request runs as, the admin's view of a
// key (with its period's spend), the settings an admin sets, and how a stored row becomes each.
import { canonical, parseDecimal } from '../../billing/money.ts';
import type { ApiKeyRow } from '../../db/schema.ts';
import type { BudgetPeriod, KeyLimits } from './key-limits.ts';

export type Principal = { kind: 'admin'; keyId: null } | { kind: 'client'; keyId: string; limits: KeyLimits };

export type KeyView = {
  id: string;
  name: string;
  key_prefix: string;
  /** the budget of each period, whatever its length */
  monthly_budget_usd: string | null;
  budget_period: BudgetPeriod;
  /** fractions of the budget that raise an alert when first reached in a period */
  alert_thresholds: number[];
  soft_budget: boolean;
  rpm_limit: number | null;
  tpm_limit: number | null;
  /** requests in flight at once, per gateway replica */
  max_concurrent: number | null;
  /** the account the key bills to; null: none */
  account_id: string | null;
  created_at: string;
  revoked_at: string | null;
};

export type KeyWithSpend = KeyView & {
  /** first day (UTC) of the key's current budget period */
  period_start: string;
  /** spend in the current period */
  period_spend_usd: string;
  /** the same figure under its pre-period name, kept for existing readers */
  month_to_date_spend_usd: string;
  in_flight_reserved_usd: string;
  remaining_budget_usd: string | null;
};

/** Fields an admin sets; undefined leaves a field as it is, null clears it. */
export type KeySettings = {
  name?: string;
  monthlyBudgetUsd?: string | null;
  budgetPeriod?: BudgetPeriod;
  /** decimal strings in (0, 1] */
  alertThresholds?: string[];
  softBudget?: boolean;
  rpmLimit?: number | null;
  tpmLimit?: number | null;
  maxConcurrent?: number | null;
  accountId?: string | null;
};

export function limitsOf(row: ApiKeyRow, markup: string): KeyLimits {
  return {
    monthlyBudgetUsd: row.monthlyBudgetUsd === null ? null : parseDecimal(row.monthlyBudgetUsd),
    budgetPeriod: row.budgetPeriod,
    softBudget: row.softBudget,
    rpm: row.rpmLimit,
    tpm: row.tpmLimit,
    maxConcurrent: row.maxConcurrent,
    account: row.accountId === null ? null : { id: row.accountId, markup },
  };
}

export function toView(row: ApiKeyRow): KeyView {
  return {
    id: row.id,
    name: row.name,
    key_prefix: row.keyPrefix,
    monthly_budget_usd: row.monthlyBudgetUsd === null ? null : canonical(row.monthlyBudgetUsd),
    budget_period: row.budgetPeriod,
    // ratios, not money: numbers, as the admin sent them
    alert_thresholds: row.alertThresholds.map((t) => Number(canonical(t))),
    soft_budget: row.softBudget,
    rpm_limit: row.rpmLimit,
    tpm_limit: row.tpmLimit,
    max_concurrent: row.maxConcurrent,
    account_id: row.accountId,
    created_at: row.createdAt.toISOString(),
    revoked_at: row.revokedAt?.toISOString() ?? null,
  };
}
