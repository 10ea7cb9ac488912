// GET /admin/audit: the newest admin actions first.
import { Hono } from 'hono';
import { z } from 'zod';
import type { AppEnv } from '../middleware/context.ts';
import type { Audit } from '../services/admin/audit.ts';
import { parseWith } from './validation.ts';

export const auditQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).default(100) });

export function adminAuditRoutes({ audit }: { audit: Audit }) {
  return new Hono<AppEnv>().get('/audit', async function listAudit(c) {
    const { limit } = parseWith(auditQuery, c.req.query(), 'query');
    return c.json({ object: 'list', data: await audit.list(limit) });
  });
}
