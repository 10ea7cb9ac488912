// Gives every request a gateway-made id (x-request-id, also the usage row's request_id) and every
// response a Server-Timing header splitting upstream time from the gateway's own.
import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from './context.ts';

export function requestId(): MiddlewareHandler<AppEnv> {
  return async function requestIdMiddleware(c, next) {
    // never the client's id: request_id is unique in the ledger, a chosen id could shadow a real row
    const id = `req_${randomUUID().replaceAll('-', '')}`;
    c.set('requestId', id);
    c.set('startedAt', new Date());
    c.set('startedAtMs', performance.now());
    c.set('upstreamMs', undefined);
    await next();
    // on c.res itself: c.header() after the handler would copy the whole Response
    c.res.headers.set('x-request-id', id);
    const total = performance.now() - c.get('startedAtMs');
    const upstream = c.get('upstreamMs');
    c.res.headers.set(
      'server-timing',
      upstream === undefined
        ? `gateway;dur=${total.toFixed(2)}`
        : `upstream;dur=${upstream.toFixed(2)}, gateway;dur=${Math.max(0, total - upstream).toFixed(2)}`,
    );
  };
}
