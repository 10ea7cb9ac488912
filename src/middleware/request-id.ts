// Gives every request a gateway-made id (x-request-id, also the usage row's request_id) and every
// response a Server-Timing header splitting upstream time from the gateway's own.
import { randomUUID } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
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
    if (c.get('stamped') === true) return;
    // on c.res itself: c.header() after the handler would copy the whole Response
    c.res.headers.set('x-request-id', id);
    c.res.headers.set('server-timing', serverTiming(c));
  };
}

/**
 * Puts the request id and Server-Timing in a reply's header object before it becomes a Response,
 * and tells the middleware so. Setting them on the Response afterwards makes node-server build a web
 * Headers from the object and then an object from the Headers again; the metered routes answer
 * every request and skip both.
 */
export function stampHeaders(c: Context<AppEnv>, headers: Record<string, string>): Record<string, string> {
  headers['x-request-id'] = c.get('requestId');
  headers['server-timing'] = serverTiming(c);
  c.set('stamped', true);
  return headers;
}

function serverTiming(c: Context<AppEnv>): string {
  const total = performance.now() - c.get('startedAtMs');
  const upstream = c.get('upstreamMs');
  return upstream === undefined
    ? `gateway;dur=${total.toFixed(2)}`
    : `upstream;dur=${upstream.toFixed(2)}, gateway;dur=${Math.max(0, total - upstream).toFixed(2)}`;
}
