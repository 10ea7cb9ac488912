// GET /admin/alerts: budget and account credit alerts raised and their delivery state, newest first, a page at a time.
import { Hono } from 'hono';
import { z } from 'zod';
import type { AppEnv } from '../middleware/context.ts';
import type { Alerts } from '../services/alerts/alerts.ts';
import { parseWith } from './validation.ts';

const STATES = ['pending', 'delivered', 'failed'] as const;
const INSTANT = 'must be an ISO 8601 date (2026-11-01, midnight UTC) or date-time with offset';
const LIMIT = 'must be a whole number from 1 to 1000';

const instant = z
  .union([z.iso.datetime({ offset: true }), z.iso.date()], { error: INSTANT })
  .transform((text) => new Date(text))
  .refine((date) => date.getUTCFullYear() >= 1 && date.getUTCFullYear() <= 9999, { error: INSTANT });

export const alertsQuery = z
  .strictObject({
    key_id: z.string().min(1, 'must not be empty').max(200, 'is too long').optional(),
    account_id: z.string().min(1, 'must not be empty').max(200, 'is too long').optional(),
    state: z.enum(STATES, { error: `must be one of ${STATES.join(', ')}` }).optional(),
    from: instant.optional(),
    to: instant.optional(),
    limit: z
      .string()
      .regex(/^\d{1,4}$/, { error: LIMIT })
      .transform(Number)
      .pipe(z.number().min(1, { error: LIMIT }).max(1000, { error: LIMIT }))
      .default(100),
    cursor: z.string().max(200, 'is too long').optional(),
  })
  .superRefine(({ from, to }, ctx) => {
    if (from && to && from.getTime() >= to.getTime()) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: "must be later than 'from'" });
    }
  });

export function adminAlertsRoutes({ alerts }: { alerts: Alerts }) {
  return new Hono<AppEnv>().get('/alerts', async function listAlerts(c) {
    const q = parseWith(alertsQuery, c.req.query(), 'query');
    const page = await alerts.list(
      { keyId: q.key_id, accountId: q.account_id, state: q.state, from: q.from, to: q.to },
      { limit: q.limit, cursor: q.cursor },
    );
    return c.json({ object: 'list', ...page });
  });
}
