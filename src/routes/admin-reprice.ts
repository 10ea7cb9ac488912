// POST /admin/reprice: corrections for a window of usage rows, priced with the prices in effect now
// for their time. `dry_run` answers the count and the delta without writing. A bare date is its
// midnight UTC. The answer waits for the whole run (batched: metering goes on meanwhile).
import { Hono } from 'hono';
import { z } from 'zod';
import type { Config } from '../config.ts';
import type { Database } from '../db/client.ts';
import { badRequest } from '../errors.ts';
import type { AppEnv } from '../middleware/context.ts';
import type { PricingService } from '../services/pricing/pricing.ts';
import { createRepricer } from '../services/pricing/reprice.ts';
import { parseJsonBody, parseWith } from './validation.ts';

const instant = z.union([z.iso.datetime({ offset: true }), z.iso.date()], {
  error: 'must be an ISO 8601 date-time or a date (YYYY-MM-DD, its midnight UTC)',
});
/** a date alone is its midnight UTC (Date parses YYYY-MM-DD as UTC already; say so explicitly) */
const instantOf = (text: string) => new Date(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text);

export const repriceBody = z.strictObject({
  from: instant,
  to: instant,
  model: z.string().trim().min(1).max(256).optional(),
  /** a key id, or `master` */
  key_id: z.string().trim().min(1).max(128).optional(),
  dry_run: z.boolean({ error: 'must be true or false' }).default(false),
});

export function adminRepriceRoutes({
  database,
  pricing,
  config,
}: {
  database: Database;
  pricing: PricingService;
  config: Pick<Config, 'repriceBatchRows'>;
}) {
  const reprice = createRepricer({ database, pricing, batchRows: config.repriceBatchRows });
  return new Hono<AppEnv>().post('/reprice', async function postReprice(c) {
    const body = parseWith(repriceBody, parseJsonBody(new Uint8Array(await c.req.arrayBuffer())), 'body');
    const from = instantOf(body.from);
    const to = instantOf(body.to);
    if (from >= to) throw badRequest("Invalid field 'to': must be after 'from'", 'to', 'invalid_parameter');
    const result = await reprice({
      from,
      to,
      model: body.model,
      keyId: body.key_id,
      dryRun: body.dry_run,
      actor: 'master',
    });
    return c.json(result);
  });
}
