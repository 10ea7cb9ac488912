// GET/PUT/DELETE /admin/pricing: versioned prices. A PUT inserts a version; a DELETE retires one.
import { Hono } from 'hono';
import { z } from 'zod';
import { isDecimal } from '../billing/money.ts';
import type { AppEnv } from '../middleware/context.ts';
import type { Audit } from '../services/admin/audit.ts';
import type { PricingService } from '../services/pricing/pricing.ts';
import { parseJsonBody, parseWith } from './validation.ts';

// prices are decimal strings: a JSON number would already have lost exactness
const usdPerToken = z
  .string({ error: 'must be a decimal string, e.g. "0.000001"' })
  .trim()
  // PostgreSQL's numeric takes 131,072 digits and then fails the insert: no price needs 40
  .max(40, 'must be at most 40 characters')
  .refine(
    (v) => /^\d+(\.\d+)?$/.test(v) && isDecimal(v),
    'must be a non-negative decimal string with at most 18 decimal places',
  );

/** A name that becomes a database key: no control characters (PostgreSQL text refuses NUL). */
const nameOf = (max: number) =>
  z
    .string({ error: 'must be a string' })
    .trim()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .refine((v) => !/\p{Cc}/u.test(v), 'must not contain control characters');

export const putPriceBody = z.strictObject({
  provider: nameOf(64).default('huggingface'),
  model_name: nameOf(256),
  input_token_cost: usdPerToken,
  output_token_cost: usdPerToken,
  /** omitted or null: the input price applies to cached prompt tokens */
  cached_input_token_cost: usdPerToken.nullable().optional(),
  /** default now; a past time says from when a corrected price was due (POST /admin/reprice applies it) */
  effective_from: z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time' }).optional(),
});

export const listPricesQuery = z.strictObject({ history: z.enum(['true', 'false']).optional() });
const idParam = z.object({ id: z.coerce.number().int().positive() });

export function adminPricingRoutes({ pricing, audit }: { pricing: PricingService; audit: Audit }) {
  return new Hono<AppEnv>()
    .get('/pricing', async function listPricing(c) {
      const { history } = parseWith(listPricesQuery, c.req.query(), 'query');
      // current prices carry `sources`: the admin, catalog and env versions of the same name side by side
      const data = history === 'true' ? await pricing.list({ history: true }) : await pricing.list();
      return c.json({ object: 'list', data });
    })
    .put('/pricing', async function putPricing(c) {
      const body = parseWith(putPriceBody, parseJsonBody(new Uint8Array(await c.req.arrayBuffer())), 'body');
      const view = await pricing.upsert({
        provider: body.provider,
        modelName: body.model_name,
        inputTokenCost: body.input_token_cost,
        outputTokenCost: body.output_token_cost,
        cachedInputTokenCost: body.cached_input_token_cost ?? null,
        ...(body.effective_from ? { effectiveFrom: new Date(body.effective_from) } : {}),
      });
      await audit.record({ actor: 'master', action: 'price.set', target: String(view.id), details: view });
      return c.json(view, 200);
    })
    .delete('/pricing/:id', async function deletePricing(c) {
      const { id } = parseWith(idParam, c.req.param(), 'query');
      const view = await pricing.retire(id);
      await audit.record({ actor: 'master', action: 'price.retire', target: String(id), details: view });
      return c.json(view);
    });
}
