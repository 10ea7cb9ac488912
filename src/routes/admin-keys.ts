// /admin/keys: client keys with their budgets and rate limits. The secret is returned once, at creation.
import { Hono } from 'hono';
import { z } from 'zod';
import { isDecimal } from '../billing/money.ts';
import type { AppEnv } from '../middleware/context.ts';
import type { Audit } from '../services/admin/audit.ts';
import type { KeyService, KeySettings, KeyView } from '../services/admission/keys.ts';
import { parseJsonBody, parseWith } from './validation.ts';

const usd = z
  .string({ error: 'must be a decimal string, e.g. "25.00"' })
  .trim()
  .refine((v) => /^\d+(\.\d+)?$/.test(v) && isDecimal(v), 'must be a non-negative decimal string');
const perMinute = z
  .number({ error: 'must be a whole number' })
  .int('must be a whole number')
  .positive('must be positive');

const atOnce = z
  .number({ error: 'must be a whole number' })
  .int('must be a whole number')
  .positive('must be positive')
  .max(100_000, 'must be at most 100000');
const PERIODS = ['day', 'week', 'month'] as const;
export const MAX_THRESHOLDS = 10;
const THRESHOLD = 'must be a number greater than 0 and at most 1, with at most 4 decimal places';
/** Fractions of the budget, as numbers; stored as exact decimals (4 places is 0.01% of the budget). */
const thresholds = z
  .array(
    z
      .number({ error: THRESHOLD })
      .gt(0, THRESHOLD)
      .lte(1, THRESHOLD)
      .refine((t) => Math.abs(Math.round(t * 10_000) - t * 10_000) < 1e-6, THRESHOLD),
    { error: `must be an array of at most ${MAX_THRESHOLDS} numbers in (0, 1]` },
  )
  .max(MAX_THRESHOLDS, `must have at most ${MAX_THRESHOLDS} thresholds`)
  // sorted, each once; String() of a value of at least 0.0001 never uses an exponent
  .transform((list) => [...new Set(list.map((t) => Math.round(t * 10_000) / 10_000))].sort((a, b) => a - b))
  .transform((list) => list.map(String));

const settings = {
  monthly_budget_usd: usd.nullish(),
  budget_period: z.enum(PERIODS, { error: `must be one of ${PERIODS.join(', ')}` }).optional(),
  alert_thresholds: thresholds.optional(),
  soft_budget: z.boolean({ error: 'must be true or false' }).optional(),
  rpm_limit: perMinute.nullish(),
  tpm_limit: perMinute.nullish(),
  /** requests in flight at once, per gateway replica */
  max_concurrent: atOnce.nullish(),
  /** the account the key bills to (null: none) */
  account_id: z.string({ error: 'must be an account id' }).trim().min(1).max(200).nullish(),
};
const name = z
  .string({ error: 'must be a string' })
  .trim()
  .min(1, 'must not be empty')
  .max(200, 'must be at most 200 characters');
export const createKeyBody = z.strictObject({ name, ...settings });
export const patchKeyBody = z.strictObject({ name: name.optional(), ...settings });

/** Body fields → service settings: absent stays unchanged, null clears. */
function toSettings(body: z.infer<typeof patchKeyBody>): KeySettings {
  return {
    ...(body.name !== undefined ? { name: body.name } : {}),
    ...(body.monthly_budget_usd !== undefined ? { monthlyBudgetUsd: body.monthly_budget_usd } : {}),
    ...(body.budget_period !== undefined ? { budgetPeriod: body.budget_period } : {}),
    ...(body.alert_thresholds !== undefined ? { alertThresholds: body.alert_thresholds } : {}),
    ...(body.soft_budget !== undefined ? { softBudget: body.soft_budget } : {}),
    ...(body.rpm_limit !== undefined ? { rpmLimit: body.rpm_limit } : {}),
    ...(body.tpm_limit !== undefined ? { tpmLimit: body.tpm_limit } : {}),
    ...(body.max_concurrent !== undefined ? { maxConcurrent: body.max_concurrent } : {}),
    ...(body.account_id !== undefined ? { accountId: body.account_id } : {}),
  };
}

export function adminKeysRoutes({ keys, audit }: { keys: KeyService; audit: Audit }) {
  return new Hono<AppEnv>()
    .post('/keys', async function createKey(c) {
      const body = parseWith(createKeyBody, parseJsonBody(new Uint8Array(await c.req.arrayBuffer())), 'body');
      const created = await keys.create({ ...toSettings(body), name: body.name });
      const { key: _secret, ...shown } = created;
      await audit.record({ actor: 'master', action: 'key.create', target: created.id, details: shown });
      return c.json(created, 201);
    })
    .get('/keys', async function listKeys(c) {
      return c.json({ object: 'list', data: await keys.list() });
    })
    .patch('/keys/:id', async function updateKey(c) {
      const body = parseWith(patchKeyBody, parseJsonBody(new Uint8Array(await c.req.arrayBuffer())), 'body');
      const before = await keys.find(c.req.param('id'));
      const updated = await keys.update(c.req.param('id'), toSettings(body));
      await audit.record({
        actor: 'master',
        action: 'key.update',
        target: updated.id,
        details: { ...body, changed: changes(before, updated, Object.keys(body)) },
      });
      return c.json(updated);
    })
    .delete('/keys/:id', async function revokeKey(c) {
      const revoked = await keys.revoke(c.req.param('id'));
      await audit.record({ actor: 'master', action: 'key.revoke', target: revoked.id });
      return c.json(revoked);
    });
}

/** The fields a PATCH named, as they were and as they are: budget settings stay traceable in the audit. */
function changes(
  before: KeyView | undefined,
  after: KeyView,
  fields: string[],
): Record<string, { from: unknown; to: unknown }> {
  const shown = (view: KeyView | undefined, field: string) =>
    view === undefined ? null : (view as Record<string, unknown>)[field];
  return Object.fromEntries(
    fields.map((field) => [field, { from: shown(before, field), to: shown(after, field) }]),
  );
}
