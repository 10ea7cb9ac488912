// A real local HTTP server whose answers come from msw request handlers: the gateway's undici pool
// talks real TCP to it, and tests describe the upstream with msw's http/HttpResponse API.
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getResponse, type RequestHandler } from 'msw';

export type AnyHandler = RequestHandler;

export type SeenRequest = { method: string; path: string; headers: IncomingHttpHeaders; body: string };

export type MockUpstream = {
  /** base URL to put in UPSTREAM_BASE_URL, ending in /v1 */
  url: string;
  /** prepends handlers (the first match wins) */
  use(...handlers: AnyHandler[]): void;
  reset(): void;
  /** every request received, in order */
  requests: SeenRequest[];
  /** requests no handler answered; a test that leaves any has a hole */
  unhandled: string[];
  /** responses the peer closed before they finished (the gateway aborted) */
  aborted: number;
  close(): Promise<void>;
};

export async function startMockUpstream(...initial: AnyHandler[]): Promise<MockUpstream> {
  let handlers = [...initial];
  const state = { aborted: 0 };
  const requests: SeenRequest[] = [];
  const unhandled: string[] = [];

  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const controller = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) {
        state.aborted += 1;
        controller.abort();
      }
    });
    const url = `http://${req.headers.host}${req.url}`;
    requests.push({
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers: req.headers,
      body: body.toString('utf8'),
    });
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
    const request = new Request(url, {
      method: req.method,
      headers,
      body: body.length > 0 ? body : undefined,
      signal: controller.signal,
    });
    let response: Response | undefined;
    try {
      response = await getResponse(handlers, request);
    } catch (err) {
      res.destroy(err as Error);
      return;
    }
    if (!response) {
      unhandled.push(`${req.method} ${req.url}`);
      res.writeHead(599, { 'content-type': 'text/plain' }).end('no msw handler for this request');
      return;
    }
    if (response.type === 'error') {
      // HttpResponse.error(): a network error, as the gateway would see a dropped connection
      res.destroy();
      return;
    }
    res.writeHead(response.status, Object.fromEntries(response.headers));
    try {
      if (response.body) {
        for await (const chunk of response.body) {
          if (controller.signal.aborted) break;
          if (!res.write(chunk)) await once(res, 'drain');
        }
      }
      res.end();
    } catch {
      res.destroy();
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    use: (...more) => {
      handlers = [...more, ...handlers];
    },
    reset: () => {
      handlers = [...initial];
      requests.length = 0;
      unhandled.length = 0;
      state.aborted = 0;
    },
    requests,
    unhandled,
    get aborted() {
      return state.aborted;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
