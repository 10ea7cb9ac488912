// Plans and accounts: creation, changes and the views the admin API and GET /v1/key show. A plan is
// immutable; an account's plan change reaches its keys' cached markup on every replica (keys.refresh).
import { randomBytes } from 'node:crypto';
import { exactText } from '../../billing/charge.ts';
import {
  type AccountFields,
  type AccountRecord,
  findAccount,
  findPlan,
  insertAccount,
  insertPlan,
  listAccounts,
  listPlans,
  type PlanRecord,
  periodChargeOf,
  updateAccount,
} from '../../db/accounts-repo.ts';
import type { Database } from '../../db/client.ts';
import { badRequest, notFound } from '../../errors.ts';
import { budgetPeriod } from '../admission/limits.ts';

export type PlanInput = Omit<PlanRecord, 'id' | 'created_at'>;

export type AccountView = Omit<AccountRecord, 'balance_usd' | 'reserved_usd'> & {
  balance_usd: string;
  reserved_usd: string;
  /** first day (UTC) of the account's plan period (its budget period without a plan) */
  period_start: string;
  period_cost_usd: string;
  period_charge_usd: string;
};

export type AccountService = ReturnType<typeof createAccountService>;

const newId = (prefix: string) => `${prefix}_${randomBytes(9).toString('base64url')}`;

const exact = (text: string | null) => (text === null ? null : exactText(text));

function planView(plan: PlanRecord): PlanRecord {
  return {
    ...plan,
    markup: exactText(plan.markup),
    included_usd: exactText(plan.included_usd),
    rollover_cap_usd: exact(plan.rollover_cap_usd),
  };
}

export function createAccountService({
  database,
  refreshKeys,
}: {
  database: Database;
  /** drops every replica's cached keys (their markup comes from the account's plan) */
  refreshKeys: () => Promise<void>;
}) {
  async function checkPlan(planId: string | null | undefined): Promise<PlanRecord | null> {
    if (planId == null) return null;
    const plan = await findPlan(database, planId);
    if (!plan) throw badRequest(`No plan with id ${planId}.`, 'plan_id', 'unknown_plan');
    return plan;
  }

  async function view(account: AccountRecord, at: Date): Promise<AccountView> {
    const plan = account.plan_id === null ? null : await findPlan(database, account.plan_id);
    const periodStart = budgetPeriod(at, plan?.period ?? account.budget_period);
    const { cost_usd, charge_usd } = await periodChargeOf(database, account.id, periodStart);
    return {
      ...account,
      credit_limit_usd: exactText(account.credit_limit_usd),
      low_balance_usd: exact(account.low_balance_usd),
      budget_usd: exact(account.budget_usd),
      balance_usd: exactText(account.balance_usd),
      reserved_usd: exactText(account.reserved_usd),
      period_start: periodStart,
      period_cost_usd: exactText(cost_usd),
      period_charge_usd: exactText(charge_usd),
    };
  }

  return {
    async createPlan(input: PlanInput): Promise<PlanRecord> {
      return planView(await insertPlan(database, { id: newId('plan'), ...input }));
    },
    async listPlans(): Promise<PlanRecord[]> {
      return (await listPlans(database)).map(planView);
    },
    async findPlan(id: string): Promise<PlanRecord | undefined> {
      const plan = await findPlan(database, id);
      return plan && planView(plan);
    },
    async create(input: AccountFields, at = new Date()): Promise<AccountView> {
      await checkPlan(input.plan_id);
      return view(await insertAccount(database, { id: newId('acct'), ...input }), at);
    },
    async update(id: string, changes: Partial<AccountFields>, at = new Date()): Promise<AccountView> {
      await checkPlan(changes.plan_id);
      if (!(await findAccount(database, id))) throw notFound(`No account with id ${id}.`);
      const updated = await updateAccount(database, id, changes);
      if (!updated) throw notFound(`No account with id ${id}.`);
      if (changes.plan_id !== undefined) await refreshKeys();
      return view(updated, at);
    },
    async find(id: string, at = new Date()): Promise<AccountView | undefined> {
      const account = await findAccount(database, id);
      return account && view(account, at);
    },
    /** the account or a 404 naming it */
    async get(id: string, at = new Date()): Promise<AccountView> {
      const account = await findAccount(database, id);
      if (!account) throw notFound(`No account with id ${id}.`);
      return view(account, at);
    },
    async list(at = new Date()): Promise<AccountView[]> {
      return Promise.all((await listAccounts(database)).map((a) => view(a, at)));
    },
  };
}
