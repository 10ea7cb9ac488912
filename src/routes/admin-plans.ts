// /admin/plans: plans are written once (a change is a new plan) and listed.
import { Hono } from 'hono';
import { z } from 'zod';
import type { AppEnv } from '../middleware/context.ts';
import type { AccountService } from '../services/accounts/accounts.ts';
import type { Audit } from '../services/admin/audit.ts';
import { name, nonNegativeUsd, period } from './money-fields.ts';
import { parseJsonBody, parseWith } from './validation.ts';

export const createPlanBody = z
  .strictObject({
    name,
    /** USD charged per USD of cost, >= 0 */
    markup: nonNegativeUsd.default('1'),
    included_usd: nonNegativeUsd.default('0'),
    period: period.default('month'),
    rollover: z.boolean({ error: 'must be true or false' }).default(false),
    rollover_cap_usd: nonNegativeUsd.nullish(),
    overage: z.enum(['block', 'allow'], { error: 'must be block or allow' }).default('block'),
  })
  .refine((b) => b.rollover || b.rollover_cap_usd == null, {
    message: 'only applies when rollover is true',
    path: ['rollover_cap_usd'],
  });

export function adminPlansRoutes({ accounts, audit }: { accounts: AccountService; audit: Audit }) {
  return new Hono<AppEnv>()
    .post('/plans', async function createPlan(c) {
      const body = parseWith(
        createPlanBody,
        parseJsonBody(new Uint8Array(await c.req.arrayBuffer())),
        'body',
      );
      const plan = await accounts.createPlan({ ...body, rollover_cap_usd: body.rollover_cap_usd ?? null });
      await audit.record({ actor: 'master', action: 'plan.create', target: plan.id, details: plan });
      return c.json(plan, 201);
    })
    .get('/plans', async function listPlans(c) {
      return c.json({ object: 'list', data: await accounts.listPlans() });
    });
}
