// Wraps a metered route in its call's span: started when the request arrives (a child of the caller's
// traceparent), ended when the call ends: a JSON reply or a refusal when the handler returns, a stream
// when its row is committed (Telemetry.metered). No OpenTelemetry import: the span comes from deps.
import type { MiddlewareHandler } from 'hono';
import type { EndpointAdapter } from '../endpoints/adapter.ts';
import type { AppEnv } from '../middleware/context.ts';
import { failureOf, type Telemetry } from './types.ts';

export function traceCalls(
  telemetry: Telemetry,
  adapter: Pick<EndpointAdapter, 'name' | 'operation'>,
): MiddlewareHandler<AppEnv> {
  return async function traceCallsMiddleware(c, next) {
    const span = telemetry.startCall({
      endpoint: adapter.name,
      operation: adapter.operation,
      requestId: c.get('requestId'),
      traceparent: c.req.header('traceparent'),
      tracestate: c.req.header('tracestate'),
      startedAtMs: c.get('startedAtMs'),
    });
    c.set('callSpan', span);
    try {
      await next();
    } catch (err) {
      span.end(failureOf(err));
      throw err;
    }
    // hono's compose renders a thrown error through onError and keeps it in c.error
    if (c.error) span.end({ httpStatus: c.res.status, errorType: failureOf(c.error).errorType });
    else if (c.res.headers.get('content-type')?.startsWith('text/event-stream')) span.streaming();
    else span.end({ httpStatus: c.res.status });
  };
}
