// MAX_BODY_BYTES on the routes outside /v1 (the admin API, the dashboard's login form), over real
// HTTP: a declared Content-Length over the limit and a chunked body that never ends both get a 413 in
// OpenAI's shape, without the gateway waiting for (or keeping) the body.
import { request as httpRequest } from 'node:http';
import { beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, gatewaySuite, type TestGateway } from '../helpers/gateway.ts';

const LIMIT = 2048;

/** Routes that read a body, with one that fits. */
const ROUTES = [
  { method: 'POST', path: '/admin/keys', type: 'application/json', fits: '{"name":"small"}' },
  {
    method: 'PUT',
    path: '/admin/pricing',
    type: 'application/json',
    fits: '{"model_name":"m","input_token_cost":"0.000001","output_token_cost":"0.000002"}',
  },
  { method: 'PATCH', path: '/admin/keys/key_unknown', type: 'application/json', fits: '{"name":"x"}' },
  { method: 'POST', path: '/dashboard/login', type: 'application/x-www-form-urlencoded', fits: 'key=wrong' },
] as const;

type Answer = { status: number; body: string };

/**
 * Sends the request headers, then `write` until the answer comes, and resolves with the answer: only a
 * gateway that refuses before the body ends answers at all. (fetch would not hand over an answer
 * while its request body is still being sent.)
 */
function answerBeforeTheBodyEnds(
  url: string,
  {
    method,
    headers,
    write,
  }: { method: string; headers: Record<string, string>; write: () => string | undefined },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers });
    const pump = setInterval(() => {
      const chunk = write();
      if (chunk !== undefined) req.write(chunk);
    }, 2);
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => {
        clearInterval(pump);
        req.destroy();
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('error', (err) => {
      clearInterval(pump);
      reject(err);
    });
  });
}

const headersOf = (route: (typeof ROUTES)[number]) => ({
  authorization: `Bearer ${ADMIN_KEY}`,
  'content-type': route.type,
});

/** Declares 300 MB and sends only a body that would fit. */
function declaredOversize(base: string, route: (typeof ROUTES)[number]): Promise<Answer> {
  let sent = false;
  return answerBeforeTheBodyEnds(`${base}${route.path}`, {
    method: route.method,
    headers: { ...headersOf(route), 'content-length': String(300 * 1024 * 1024) },
    write() {
      if (sent) return undefined;
      sent = true;
      return route.fits;
    },
  });
}

/** A chunked body (no Content-Length) that never ends: 16 KB at a time, up to 64 MB. */
function endlessChunked(base: string, route: (typeof ROUTES)[number]): Promise<Answer> {
  const chunk = (route.type === 'application/json' ? ' ' : 'a').repeat(16_384);
  let sent = 0;
  return answerBeforeTheBodyEnds(`${base}${route.path}`, {
    method: route.method,
    headers: headersOf(route),
    write() {
      if (sent >= 64 * 1024 * 1024) return undefined;
      sent += chunk.length;
      return chunk;
    },
  });
}

function expect413(answer: Answer) {
  expect(answer.status).toBe(413);
  expect(JSON.parse(answer.body)).toEqual({
    error: {
      message: `Request body is larger than the limit of ${LIMIT} bytes.`,
      type: 'invalid_request_error',
      param: null,
      code: 'payload_too_large',
    },
  });
}

describe('MAX_BODY_BYTES outside /v1', () => {
  let gw: TestGateway;
  let base: string;
  gatewaySuite({ backend: 'pglite', env: { MAX_BODY_BYTES: String(LIMIT) } }, (suite) => ({ gw } = suite));
  beforeAll(async () => {
    base = await gw.listen();
  });

  it.each(ROUTES)(
    'refuses $method $path on its declared Content-Length, before reading the body',
    async (route) => {
      expect413(await declaredOversize(base, route));
    },
  );

  it.each(ROUTES)(
    'refuses a chunked $method $path that never ends at the first bytes over',
    async (route) => {
      expect413(await endlessChunked(base, route));
    },
  );

  it('still reads bodies under the limit, chunked or declared', async () => {
    const send = (route: (typeof ROUTES)[number], chunked: boolean) => {
      const bytes = new TextEncoder().encode(route.fits);
      const body = chunked
        ? new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(bytes.subarray(0, 5));
              controller.enqueue(bytes.subarray(5));
              controller.close();
            },
          })
        : bytes;
      return fetch(`${base}${route.path}`, {
        method: route.method,
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': route.type },
        body,
        ...(chunked ? { duplex: 'half' } : {}),
      } as RequestInit);
    };
    for (const chunked of [false, true]) {
      const [created, priced, patched, login] = await Promise.all(
        ROUTES.map((route) => send(route, chunked)),
      );
      expect(created?.status).toBe(201);
      expect(priced?.status).toBe(200);
      expect(patched?.status).toBe(404);
      expect(login?.status).toBe(401);
    }
  });
});
