// /admin/keys: client keys with their budgets and rate limits. The secret is returned once, at creation.
import { Hono } from 'hono';
import { z } from 'zod';
import { isDecimal } from '../billing/money.ts';
import type { AppEnv } from '../middleware/context.ts';
import type { Audit } from '../services/audit.ts';
import type { KeyService, KeySettings } from '../services/keys.ts';
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

const settings = {
  monthly_budget_usd: usd.nullish(),
  rpm_limit: perMinute.nullish(),
  tpm_limit: perMinute.nullish(),
  /** requests in flight at once, per gateway replica */
  max_concurrent: atOnce.nullish(),
};
const name = z.string({ error: 'must be a string' }).trim().min(1, 'must not be empty').max(200);
export const createKeyBody = z.strictObject({ name, ...settings });
export const patchKeyBody = z.strictObject({ name: name.optional(), ...settings });

/** Body fields → service settings: absent stays unchanged, null clears. */
function toSettings(body: z.infer<typeof patchKeyBody>): KeySettings {
  return {
    ...(body.name !== undefined ? { name: body.name } : {}),
    ...(body.monthly_budget_usd !== undefined ? { monthlyBudgetUsd: body.monthly_budget_usd } : {}),
    ...(body.rpm_limit !== undefined ? { rpmLimit: body.rpm_limit } : {}),
    ...(body.tpm_limit !== undefined ? { tpmLimit: body.tpm_limit } : {}),
    ...(body.max_concurrent !== undefined ? { maxConcurrent: body.max_concurrent } : {}),
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
      const updated = await keys.update(c.req.param('id'), toSettings(body));
      await audit.record({ actor: 'master', action: 'key.update', target: updated.id, details: body });
      return c.json(updated);
    })
    .delete('/keys/:id', async function revokeKey(c) {
      const revoked = await keys.revoke(c.req.param('id'));
      await audit.record({ actor: 'master', action: 'key.revoke', target: revoked.id });
      return c.json(revoked);
    });
}
