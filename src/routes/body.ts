// MAX_BODY_BYTES, one rule for every route: `bodyLimit` is app-wide middleware, and `readBody` reads a
// body it already bounds. A body over the limit is a 413 in OpenAI's shape, wherever it is read.
import type { Context, MiddlewareHandler } from 'hono';
import { payloadTooLarge } from '../errors.ts';
import type { AppEnv } from '../middleware/context.ts';
import { requestHeader } from '../middleware/headers.ts';

/**
 * Bounds the body of every request. A declared Content-Length (what every OpenAI client and browser
 * form sends) is checked before a byte is read, and node-server later reads exactly that many; the
 * web Request is never built for it (hono's bodyLimit costs ~40 µs a request by building one). Any
 * other body (chunked, RFC 9112 §6.1: Transfer-Encoding wins over Content-Length; or an in-process
 * Request) is counted as the route reads it, and the read fails with the 413 at the first byte over.
 * Nothing is read before the route asks, so an unauthenticated client is refused before its body is
 * touched; node-server drains what is left unread (at most 64 MB or 500 ms, then it closes).
 * GET and HEAD bodies are never read by a route, so they are left alone.
 */
export function bodyLimit({ maxBytes }: { maxBytes: number }): MiddlewareHandler<AppEnv> {
  return async function bodyLimitMiddleware(c, next) {
    const declared = requestHeader(c, 'content-length');
    if (declared !== undefined && requestHeader(c, 'transfer-encoding') === undefined) {
      if (!(Number(declared) <= maxBytes)) throw payloadTooLarge(maxBytes);
      return next();
    }
    const body = c.req.method === 'GET' || c.req.method === 'HEAD' ? null : c.req.raw.body;
    if (body) {
      let total = 0;
      const counted = new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          total += chunk.byteLength;
          if (total > maxBytes) controller.error(payloadTooLarge(maxBytes));
          else controller.enqueue(chunk);
        },
      });
      // preventCancel: the socket stays readable, so the 413 still reaches the client
      const limited = body.pipeThrough(counted, { preventCancel: true });
      c.req.raw = new Request(c.req.raw, { body: limited, duplex: 'half' } as RequestInit);
    }
    return next();
  };
}

/** The body's bytes, read once (node-server reads a declared length straight off the socket); `bodyLimit` bounds it. */
export async function readBody(c: Context): Promise<Uint8Array> {
  return new Uint8Array(await c.req.arrayBuffer());
}
