// A reply from the upstream as the client hands it over, and how its bytes are read: a JSON reply whole
// (bounded) and redacted in one pass, a stream through a generator made only when it is asked for.
import type { Readable } from 'node:stream';
import { GatewayError } from '../errors.ts';
import type { UpstreamResponse } from './client.ts';
import type { Redactor } from './redact.ts';

/**
 * A reply as send() hands it over: the generator over its body (redacted, errors mapped) is made on
 * first use, so readAll reads undici's body directly when nobody asked for it.
 */
export class Reply implements UpstreamResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly servedBy: string | null;
  /** undici's body */
  readonly raw: Readable;
  /** how an error while reading it maps */
  readonly mapped: (err: unknown) => Error;
  readonly redact: Redactor;
  #generator: AsyncGenerator<Uint8Array> | undefined;

  constructor(
    status: number,
    headers: Record<string, string>,
    servedBy: string | null,
    raw: Readable,
    mapped: (err: unknown) => Error,
    redact: Redactor,
  ) {
    this.status = status;
    this.headers = headers;
    this.servedBy = servedBy;
    this.raw = raw;
    this.mapped = mapped;
    this.redact = redact;
  }

  get body(): AsyncGenerator<Uint8Array> {
    this.#generator ??= mapErrors(this.redact.stream(this.raw), this.mapped);
    return this.#generator;
  }

  /** whether the body generator was asked for */
  get streamed(): boolean {
    return this.#generator !== undefined;
  }
}

export const tooLarge = (maxReplyBytes: number) =>
  new GatewayError(502, `The upstream reply is larger than ${maxReplyBytes} bytes.`, {
    type: 'upstream_error',
    code: 'upstream_reply_too_large',
  });

/** Every byte of `body`, at most `maxBytes` (then it is destroyed and the read fails with a 502). */
export function readLimited(body: Readable, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let settled = false;
    body.on('data', (chunk: Buffer) => {
      total += chunk.byteLength;
      if (total > maxBytes) {
        settled = true;
        body.destroy();
        reject(tooLarge(maxBytes));
      } else chunks.push(chunk);
    });
    body.once('end', () => {
      settled = true;
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total));
    });
    body.once('error', (err) => {
      settled = true;
      reject(err);
    });
    // closed without its end or an error (destroyed): the read cannot finish
    body.once('close', () => {
      if (!settled) reject(new Error('the upstream reply closed before its end'));
    });
  });
}

/** Transport errors while reading the body, mapped like those of the request itself. */
async function* mapErrors(
  source: AsyncGenerator<Uint8Array>,
  map: (err: unknown) => Error,
): AsyncGenerator<Uint8Array> {
  try {
    yield* source;
  } catch (err) {
    throw map(err);
  }
}
