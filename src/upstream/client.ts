// The upstream HTTP client: one kept-alive undici Pool per origin (the global fetch costs ~5× the CPU
// per call), the gateway's token, timeouts, and transport failures mapped to GatewayError.
import { errors, Pool } from 'undici';
import { badGateway, GatewayError, gatewayTimeout } from '../errors.ts';
import type { UpstreamDescriptor } from './huggingface.ts';

export type UpstreamResponse = {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: AsyncIterable<Uint8Array> & { destroy(err?: Error): void };
};

export type UpstreamClient = {
  /**
   * POSTs a chat completion body. Resolves when the response headers arrive. `signal` aborts the
   * request (client gone); headers later than `timeoutMs` → 504, and so does a body that stalls that long.
   */
  chatCompletions(options: {
    body: string | Uint8Array;
    signal: AbortSignal;
    stream: boolean;
  }): Promise<UpstreamResponse>;
  /** the bytes with the gateway's token blanked out: upstream error bodies may echo credentials */
  redact(bytes: Uint8Array): Uint8Array;
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
  timeoutMs,
  connections = 256,
}: {
  descriptor: UpstreamDescriptor;
  timeoutMs: number;
  /** the most sockets open to the upstream at once */
  connections?: number;
}): UpstreamClient {
  const url = new URL(descriptor.baseUrl);
  const path = `${url.pathname.replace(/\/$/, '')}${descriptor.chatCompletionsPath}`;
  const pool = new Pool(url.origin, {
    connections,
    keepAliveTimeout: 30_000,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  const baseHeaders: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'tollgate/0.1',
    ...(descriptor.token ? { authorization: `Bearer ${descriptor.token}` } : {}),
  };
  const where = `POST ${url.origin}${path}`;

  return {
    async chatCompletions({ body, signal, stream }) {
      try {
        const response = await pool.request({
          method: 'POST',
          path,
          headers: { ...baseHeaders, accept: stream ? 'text/event-stream' : 'application/json' },
          body,
          signal,
        });
        return { status: response.statusCode, headers: response.headers, body: response.body };
      } catch (err) {
        throw transportError(err, signal, where);
      }
    },
    redact: redactor(descriptor.token),
    close: () => pool.close(),
  };
}

const REDACTED = Buffer.from('[redacted]');

/** Blanks every occurrence of `secret` in a byte string (a no-op when there is none, which is the rule). */
export function redactor(secret: string | undefined): (bytes: Uint8Array) => Uint8Array {
  if (!secret) return (bytes) => bytes;
  const needle = Buffer.from(secret);
  return function redact(bytes) {
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let at = buffer.indexOf(needle);
    if (at === -1) return bytes;
    const parts: Buffer[] = [];
    let from = 0;
    while (at !== -1) {
      parts.push(buffer.subarray(from, at), REDACTED);
      from = at + needle.length;
      at = buffer.indexOf(needle, from);
    }
    parts.push(buffer.subarray(from));
    return Buffer.concat(parts);
  };
}

/** Maps a transport failure: client gone, timeout (504), anything else (502). Never leaks the token. */
export function transportError(err: unknown, signal: AbortSignal, where: string): Error {
  if (err instanceof GatewayError || err instanceof ClientAbortedError) return err;
  if (signal.aborted) return new ClientAbortedError();
  if (err instanceof errors.HeadersTimeoutError || err instanceof errors.BodyTimeoutError) {
    return gatewayTimeout(`Request timed out: ${where}`, err);
  }
  const code = (err as { code?: string }).code;
  return badGateway(`Upstream request failed${code ? ` (${code})` : ''}: ${where}`, err);
}
