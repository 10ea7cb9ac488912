// Redaction of the gateway's upstream credential. The upstream client passes every byte and header
// the upstream sends back through here, so an upstream that echoes the token (in an error body, an SSE
// error event, a header, even a 2xx body) never gets it to a client, a row, a log line or an alert.

const REDACTED = Buffer.from('[redacted]');
const EMPTY = Buffer.alloc(0);

export type Redactor = {
  /** the bytes with every occurrence of the secret replaced */
  bytes(bytes: Uint8Array): Uint8Array;
  text(text: string): string;
  /**
   * A byte stream with every occurrence replaced, also one split across chunks: a chunk's tail that
   * could begin the secret waits for the next chunk (never otherwise: SSE events end in a blank line).
   */
  stream(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array>;
};

export function createRedactor(secret: string | undefined): Redactor {
  if (!secret) {
    return {
      bytes: (bytes) => bytes,
      text: (text) => text,
      stream: async function* passThrough(source) {
        yield* source;
      },
    };
  }
  const needle = Buffer.from(secret);

  /** `input` as a Buffer with the secret replaced (the same bytes, not copied, when it has none). */
  function replaced(input: Uint8Array): Buffer {
    const buffer = Buffer.isBuffer(input)
      ? input
      : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    let at = buffer.indexOf(needle);
    if (at === -1) return buffer;
    const parts: Buffer[] = [];
    let from = 0;
    while (at !== -1) {
      parts.push(buffer.subarray(from, at), REDACTED);
      from = at + needle.length;
      at = buffer.indexOf(needle, from);
    }
    parts.push(buffer.subarray(from));
    return Buffer.concat(parts);
  }

  /** Length of the longest tail of `buffer` that is a proper prefix of the secret (0 when none). */
  function heldBack(buffer: Buffer): number {
    const first = needle[0] as number;
    for (let i = buffer.indexOf(first, Math.max(0, buffer.length - needle.length + 1)); i !== -1; ) {
      if (buffer.compare(needle, 0, buffer.length - i, i) === 0) return buffer.length - i;
      i = buffer.indexOf(first, i + 1);
    }
    return 0;
  }

  return {
    bytes: (input) => {
      const out = replaced(input);
      return out.length === input.length && out.buffer === input.buffer ? input : out;
    },
    text: (text) => (text.includes(secret) ? text.replaceAll(secret, REDACTED.toString()) : text),
    async *stream(source) {
      let carry: Buffer = EMPTY;
      for await (const chunk of source) {
        const joined = carry.length === 0 ? chunk : Buffer.concat([carry, chunk]);
        const clean = replaced(joined);
        const hold = heldBack(clean);
        carry = hold === 0 ? EMPTY : clean.subarray(clean.length - hold);
        if (clean.length > hold) yield clean.subarray(0, clean.length - hold);
      }
      if (carry.length > 0) yield carry;
    },
  };
}
