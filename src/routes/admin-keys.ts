// POST/GET/DELETE /admin/keys: client keys. The secret is returned once, at creation.
import { Hono } from 'hono';
import { z } from 'zod';
import { isDecimal } from '../billing/money.ts';
import type { AppEnv } from '../middleware/context.ts';
import type { KeyService } from '../services/keys.ts';
import { parseJsonBody, parseWith } from './validation.ts';

const createBody = z.object({
  name: z.string({ error: 'must be a string' }).trim().min(1, 'must not be empty').max(200),
  monthly_budget_usd: z
    .string({ error: 'must be a decimal string, e.g. "25.00"' })
    .trim()
    .refine((v) => /^\d+(\.\d+)?$/.test(v) && isDecimal(v), 'must be a non-negative decimal string')
    .nullish(),
});

export function adminKeysRoutes({ keys }: { keys: KeyService }) {
  return new Hono<AppEnv>()
    .post('/keys', async function createKey(c) {
      const body = parseWith(createBody, parseJsonBody(new Uint8Array(await c.req.arrayBuffer())), 'body');
      return c.json(
        await keys.create({ name: body.name, monthlyBudgetUsd: body.monthly_budget_usd ?? null }),
        201,
      );
    })
    .get('/keys', async function listKeys(c) {
      return c.json({ object: 'list', data: await keys.list() });
    })
    .delete('/keys/:id', async function revokeKey(c) {
      return c.json(await keys.revoke(c.req.param('id')));
    });
}
