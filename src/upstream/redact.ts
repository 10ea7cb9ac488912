// Redaction of the gateway's upstream credentials. Every upstream client passes every byte and header
// its upstream sends back through one redactor holding the tokens of ALL upstreams, so an upstream that
// echoes any of them (in an error body, an SSE error event, a header, even a 2xx body) never gets it to
// a client, a row, a log line or an alert.

const REDACTED = Buffer.from('[redacted]');
const EMPTY = Buffer.alloc(0);

export type Redactor = {
  /** the bytes with every occurrence of every secret replaced */
  bytes(bytes: Uint8Array): Uint8Array;
  text(text: string): string;
  /**
   * A byte stream with every occurrence replaced, also one split across chunks: a chunk's tail that
   * could begin a secret waits for the next chunk (never otherwise: SSE events end in a blank line).
   */
  stream(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array>;
};

/** A redactor for one secret or several (unset or empty ones are ignored). */
export function createRedactor(secrets: string | undefined | ReadonlyArray<string | undefined>): Redactor {
  const list = (Array.isArray(secrets) ? secrets : [secrets]) as ReadonlyArray<string | undefined>;
  // longest first, so a token that contains another is replaced whole
  const texts = [...new Set(list.filter((s): s is string => typeof s === 'string' && s.length > 0))].sort(
    (a, b) => b.length - a.length,
  );
  if (texts.length === 0) {
    return {
      bytes: (bytes) => bytes,
      text: (text) => text,
      stream: async function* passThrough(source) {
        yield* source;
      },
    };
  }
  const needles = texts.map((text) => Buffer.from(text));

  /** `input` with one secret replaced (the same Buffer when it has none). */
  function replacedOne(buffer: Buffer, needle: Buffer): Buffer {
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

  /** `input` as a Buffer with every secret replaced (the same bytes, not copied, when it has none). */
  function replaced(input: Uint8Array): Buffer {
    let buffer = Buffer.isBuffer(input)
      ? input
      : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    for (const needle of needles) buffer = replacedOne(buffer, needle);
    return buffer;
  }

  /** Length of the longest tail of `buffer` that is a proper prefix of some secret (0 when none). */
  function heldBack(buffer: Buffer): number {
    let longest = 0;
    for (const needle of needles) {
      const first = needle[0] as number;
      for (let i = buffer.indexOf(first, Math.max(0, buffer.length - needle.length + 1)); i !== -1; ) {
        if (buffer.length - i <= longest) break;
        if (buffer.compare(needle, 0, buffer.length - i, i) === 0) {
          longest = buffer.length - i;
          break;
        }
        i = buffer.indexOf(first, i + 1);
      }
    }
    return longest;
  }

  return {
    bytes: (input) => {
      const out = replaced(input);
      return out.length === input.length && out.buffer === input.buffer ? input : out;
    },
    text: (text) => {
      let out = text;
      for (const secret of texts) if (out.includes(secret)) out = out.replaceAll(secret, REDACTED.toString());
      return out;
    },
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
