// Counts every answered request and the gateway's own share of its time, for /metrics.
import type { MiddlewareHandler } from 'hono';
import type { Metrics } from '../metrics.ts';
import type { AppEnv } from './context.ts';

export function observe(metrics: Metrics): MiddlewareHandler<AppEnv> {
  return async function observeMiddleware(c, next) {
    await next();
    const upstreamMs = c.get('upstreamMs');
    metrics.request(
      // the matched pattern, not the raw path: ids in paths would explode the label set
      { route: c.req.routePath || 'unmatched', method: c.req.method, status: c.res.status },
      (performance.now() - c.get('startedAtMs')) / 1000,
      upstreamMs === undefined ? undefined : upstreamMs / 1000,
    );
  };
}
