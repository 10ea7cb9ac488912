// The upstream HTTP client: one kept-alive undici Pool per upstream (the global fetch costs ~5× the CPU
// per call), its token, timeouts, a bounded wait for a connection, and transport failures mapped to
// GatewayError. Redaction happens here, once, on every header and byte that comes back (a whole JSON
// reply in one pass once it is read, a stream chunk by chunk).
import { errors, Pool } from 'undici';
import { badGateway, GatewayError, gatewayTimeout } from '../errors.ts';
import type { UpstreamDescriptor } from './descriptor.ts';
import { createRedactor, type Redactor } from './redact.ts';
import { Reply, readLimited, tooLarge } from './reply.ts';

export type UpstreamResponse = {
  status: number;
  /** the headers the client may see (descriptor's choice), redacted */
  headers: Record<string, string>;
  /** the provider that served the request, when known */
  servedBy: string | null;
  /** the reply's bytes, redacted; iterating to the end (or returning early) frees the connection */
  body: AsyncGenerator<Uint8Array>;
};

export type UpstreamRequest = {
  /** OpenAI's path of the endpoint (`/chat/completions`); the descriptor maps it */
  path: string;
  /** the model asked for, to tell who served it when the upstream does not say */
  model: string;
  body: Uint8Array;
  /** aborts the request (the client left, or the gateway is shutting down) */
  signal: AbortSignal;
  stream: boolean;
};

export type UpstreamClient = {
  /** the pricing provider of every row this upstream serves */
  readonly provider: string;
  /**
   * POSTs to the endpoint; resolves when the response headers arrive. Non-streamed: the whole request
   * (headers and the body read by readAll) must end within `timeoutMs`, else 504. Streamed: headers later
   * than `timeoutMs` → 504, and so does a silence that long between two chunks. Waits at most
   * `queueTimeoutMs` for a connection when all are busy (then 503).
   */
  send(request: UpstreamRequest): Promise<UpstreamResponse>;
  /** GETs a path under the base URL with the upstream's token (its catalog): status and body, at most `maxBytes` */
  get(
    path: string,
    options: { signal: AbortSignal; maxBytes: number },
  ): Promise<{ status: number; body: Uint8Array }>;
  /** the whole (non-streamed) reply, at most `maxReplyBytes` (then 502) */
  readAll(response: UpstreamResponse, signal: AbortSignal): Promise<Uint8Array>;
  /** text with the gateway's token blanked out (messages built from upstream data) */
  redactText(text: string): string;
  close(): Promise<void>;
};

export class ClientAbortedError extends Error {
  constructor() {
    super('The client closed the connection.');
    this.name = 'ClientAbortedError';
  }
}

export function createUpstream({
  descriptor,
  redactor,
  timeoutMs,
  maxReplyBytes,
  queueTimeoutMs,
  connections = 256,
}: {
  descriptor: UpstreamDescriptor;
  /** blanks the tokens of every upstream (default: this one's) */
  redactor?: Redactor;
  /** non-streamed: the whole request; streamed: headers, then the longest silence between chunks */
  timeoutMs: number;
  /** largest non-streamed reply read into memory */
  maxReplyBytes: number;
  /** longest wait for a free connection */
  queueTimeoutMs: number;
  /** the most requests in flight to the upstream at once */
  connections?: number;
}): UpstreamClient {
  const url = new URL(descriptor.baseUrl);
  const base = url.pathname.replace(/\/$/, '');
  const pool = new Pool(url.origin, {
    connections,
    keepAliveTimeout: 30_000,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  const slots = createSlots(connections);
  const redact = redactor ?? createRedactor(descriptor.token);
  const baseHeaders: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'tollgate/0.2',
    ...(descriptor.token ? { authorization: `Bearer ${descriptor.token}` } : {}),
  };

  return {
    provider: descriptor.provider,
    async send({ path: openAiPath, model, body, signal, stream }) {
      const path = `${base}${descriptor.path(openAiPath)}`;
      const where = `POST ${url.origin}${path}`;
      const free = await slots.take(queueTimeoutMs, signal);
      // a JSON call's whole deadline, from the moment it has a connection (the wait for one has its own
      // bound): undici's bodyTimeout bounds only the silences, which a dripping upstream never reaches
      const deadline = stream ? undefined : wholeDeadline(timeoutMs, signal);
      const mapped = (err: unknown, what: string) => transportError(err, signal, what, deadline);
      try {
        const response = await pool.request({
          method: 'POST',
          path,
          headers: { ...baseHeaders, accept: stream ? 'text/event-stream' : 'application/json' },
          body,
          signal: deadline?.signal ?? signal,
        });
        response.body.once('close', () => {
          deadline?.clear();
          free();
        });
        const headers: Record<string, string> = {};
        const passed = descriptor.passThroughHeaders(response.headers);
        for (const name in passed) headers[name] = redact.text(passed[name] as string);
        return new Reply(
          response.statusCode,
          headers,
          descriptor.servedBy(response.headers, model),
          response.body,
          (err) => mapped(err, `reading ${where}`),
          redact,
        );
      } catch (err) {
        deadline?.clear();
        free();
        throw mapped(err, where);
      }
    },
    async get(openAiPath, { signal, maxBytes }) {
      const path = `${base}${descriptor.path(openAiPath)}`;
      const where = `GET ${url.origin}${path}`;
      const free = await slots.take(queueTimeoutMs, signal);
      try {
        const response = await pool.request({
          method: 'GET',
          path,
          headers: { ...baseHeaders, accept: 'application/json' },
          signal,
        });
        const chunks: Buffer[] = [];
        let size = 0;
        for await (const chunk of response.body) {
          size += (chunk as Buffer).length;
          if (size > maxBytes) {
            response.body.destroy();
            throw new GatewayError(502, `${where} answered more than ${maxBytes} bytes.`, {
              type: 'upstream_error',
              code: 'upstream_reply_too_large',
            });
          }
          chunks.push(chunk as Buffer);
        }
        return { status: response.statusCode, body: redact.bytes(Buffer.concat(chunks, size)) };
      } catch (err) {
        throw transportError(err, signal, where);
      } finally {
        free();
      }
    },
    async readAll(response, signal) {
      if (response instanceof Reply && !response.streamed) {
        // the whole reply, then one redaction pass over it: no async generator per chunk
        const bytes = await readLimited(response.raw, maxReplyBytes).catch((err: unknown) => {
          throw response.mapped(err);
        });
        if (signal.aborted) throw new ClientAbortedError();
        return response.redact.bytes(bytes);
      }
      const chunks: Uint8Array[] = [];
      let total = 0;
      for await (const chunk of response.body) {
        total += chunk.byteLength;
        if (total > maxReplyBytes) {
          await response.body.return(undefined);
          throw tooLarge(maxReplyBytes);
        }
        chunks.push(chunk);
      }
      if (signal.aborted) throw new ClientAbortedError();
      return chunks.length === 1 ? (chunks[0] as Uint8Array) : Buffer.concat(chunks, total);
    },
    redactText: redact.text,
    close: () => pool.close(),
  };
}

type Deadline = { signal: AbortSignal; expired(): boolean; clear(): void; timeoutMs: number };

/** Aborts the request `timeoutMs` from now, or when `signal` (the client) aborts first. */
function wholeDeadline(timeoutMs: number, signal: AbortSignal): Deadline {
  const controller = new AbortController();
  let expired = false;
  const onAbort = () => controller.abort(signal.reason);
  const timer = setTimeout(() => {
    expired = true;
    controller.abort(new Error(`deadline of ${timeoutMs} ms`));
  }, timeoutMs);
  timer.unref();
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  return {
    signal: controller.signal,
    expired: () => expired,
    clear() {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    },
    timeoutMs,
  };
}

/**
 * A counting semaphore over the pool's connections, so that when every connection is busy a request
 * waits a bounded time (then 503) instead of queueing without limit inside the pool.
 */
function createSlots(size: number) {
  let inUse = 0;
  const waiting: Array<() => void> = [];
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else inUse -= 1;
  };
  return {
    take(timeoutMs: number, signal: AbortSignal): Promise<() => void> {
      const once = () => {
        let done = false;
        return () => {
          if (!done) {
            done = true;
            release();
          }
        };
      };
      if (inUse < size) {
        inUse += 1;
        return Promise.resolve(once());
      }
      return new Promise((resolve, reject) => {
        const grant = () => {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          resolve(once());
        };
        const leave = (err: Error) => {
          waiting.splice(waiting.indexOf(grant), 1);
          signal.removeEventListener('abort', onAbort);
          reject(err);
        };
        const onAbort = () => {
          clearTimeout(timer);
          leave(new ClientAbortedError());
        };
        const timer = setTimeout(
          () =>
            leave(
              new GatewayError(503, `Every upstream connection stayed busy for ${timeoutMs} ms; try again.`, {
                type: 'api_error',
                code: 'upstream_busy',
                headers: { 'retry-after': '1' },
              }),
            ),
          timeoutMs,
        );
        signal.addEventListener('abort', onAbort, { once: true });
        waiting.push(grant);
      });
    },
  };
}

/** Maps a transport failure: client gone, timeout (504), anything else (502). Never leaks the token. */
export function transportError(err: unknown, signal: AbortSignal, where: string, deadline?: Deadline): Error {
  if (err instanceof GatewayError || err instanceof ClientAbortedError) return err;
  if (deadline?.expired() && !signal.aborted) {
    return gatewayTimeout(`Request timed out: ${where} took longer than ${deadline.timeoutMs} ms`, err);
  }
  if (signal.aborted) return new ClientAbortedError();
  if (err instanceof errors.HeadersTimeoutError || err instanceof errors.BodyTimeoutError) {
    return gatewayTimeout(`Request timed out: ${where}`, err);
  }
  const code = (err as { code?: string }).code;
  return badGateway(`Upstream request failed${code ? ` (${code})` : ''}: ${where}`, err);
}
