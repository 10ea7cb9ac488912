// Request bodies read at most once and at most `maxBytes` (413 beyond), without a web Request in
// the way when the client declares its length.
import type { Context } from 'hono';
import { payloadTooLarge } from '../errors.ts';

/**
 * The body's bytes. With a Content-Length (what every OpenAI client sends) the length is checked
 * before a byte is read and node-server reads the body straight off the socket; hono's bodyLimit
 * would build a whole web Request and stream for it (~40 µs a request). A chunked body is counted
 * as it streams and abandoned at the first byte over.
 */
export async function readBody(c: Context, maxBytes: number): Promise<Uint8Array> {
  const declared = c.req.header('content-length');
  if (declared !== undefined) {
    if (!(Number(declared) <= maxBytes)) throw payloadTooLarge(maxBytes);
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    if (bytes.byteLength > maxBytes) throw payloadTooLarge(maxBytes);
    return bytes;
  }
  const body = c.req.raw.body;
  if (!body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.byteLength;
    if (total > maxBytes) throw payloadTooLarge(maxBytes);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}
