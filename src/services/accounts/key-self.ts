// GET /v1/key: what a client key may know of itself: its budget and spend this period, its limits, and
// its account's balance, so an app can show its users what they have left.
import { exactText } from '../../billing/charge.ts';
import { canonical, formatDecimal, parseDecimal, subtract } from '../../billing/money.ts';
import type { Database } from '../../db/client.ts';
import { spendOf } from '../../db/limits-repo.ts';
import { badRequest, notFound } from '../../errors.ts';
import type { KeyService, Principal } from '../admission/keys.ts';
import { budgetPeriod } from '../admission/limits.ts';
import type { AccountService } from './accounts.ts';

export type KeySelfView = {
  id: string;
  name: string;
  budget_usd: string | null;
  budget_period: 'day' | 'week' | 'month';
  period_start: string;
  spent_usd: string;
  remaining_usd: string | null;
  rpm_limit: number | null;
  tpm_limit: number | null;
  account: null | {
    id: string;
    name: string;
    plan: { id: string; name: string; markup: string } | null;
    balance_usd: string;
    reserved_usd: string;
    credit_limit_usd: string;
    period_charge_usd: string;
  };
};

export async function describeKey(
  {
    database,
    keys,
    accounts,
  }: {
    database: Database;
    keys: KeyService;
    accounts: AccountService;
  },
  principal: Principal,
  at = new Date(),
): Promise<KeySelfView> {
  if (principal.kind !== 'client')
    throw badRequest('GET /v1/key describes a client key; the admin key has no budget or account.');
  const key = await keys.find(principal.keyId);
  if (!key) throw notFound('This key no longer exists.');
  const periodStart = budgetPeriod(at, key.budget_period);
  const { spent } = await spendOf(database, key.id, periodStart);
  const left =
    key.monthly_budget_usd === null
      ? null
      : subtract(parseDecimal(key.monthly_budget_usd), parseDecimal(spent));
  const account = key.account_id === null ? undefined : await accounts.find(key.account_id, at);
  const plan = account?.plan_id ? await accounts.findPlan(account.plan_id) : undefined;
  return {
    id: key.id,
    name: key.name,
    budget_usd: key.monthly_budget_usd,
    budget_period: key.budget_period,
    period_start: periodStart,
    spent_usd: canonical(spent),
    remaining_usd: left === null ? null : left > 0n ? formatDecimal(left) : '0',
    rpm_limit: key.rpm_limit,
    tpm_limit: key.tpm_limit,
    account: account
      ? {
          id: account.id,
          name: account.name,
          plan: plan ? { id: plan.id, name: plan.name, markup: plan.markup } : null,
          balance_usd: exactText(account.balance_usd),
          reserved_usd: exactText(account.reserved_usd),
          credit_limit_usd: exactText(account.credit_limit_usd),
          period_charge_usd: account.period_charge_usd,
        }
      : null,
  };
}
