// GET /metrics: Prometheus text format.
import { Hono } from 'hono';
import type { Metrics } from '../metrics.ts';
import type { AppEnv } from '../middleware/context.ts';

export function metricsRoutes({ metrics }: { metrics: Metrics }) {
  return new Hono<AppEnv>().get('/metrics', async function scrape(c) {
    c.header('content-type', metrics.registry.contentType);
    return c.body(await metrics.registry.metrics());
  });
}
