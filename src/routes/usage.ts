// PLACEHOLDER — being replaced by the usage-report work.
import { Hono } from 'hono';
import type { AppEnv } from '../middleware/context.ts';
import type { UsageReport } from '../services/usage-report.ts';

export function usageRoutes(_deps: { usageReport: UsageReport }) {
  return new Hono<AppEnv>();
}
