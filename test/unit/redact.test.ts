// The upstream token is blanked out of every byte that comes back, also when a stream splits it
// across chunks at any offset, and a stream with no token in it passes byte for byte, unbuffered.
import { describe, expect, it } from 'vitest';
import { createRedactor } from '../../src/upstream/redact.ts';

const SECRET = 'hf_SECRET_token_0123';
const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function collect(chunks: Uint8Array[], secret: string | string[] = SECRET): Promise<Uint8Array[]> {
  async function* source() {
    yield* chunks;
  }
  const out: Uint8Array[] = [];
  for await (const part of createRedactor(secret).stream(source())) out.push(part);
  return out;
}

const text = (parts: Uint8Array[]) => parts.map((p) => decoder.decode(p)).join('');

describe('the token redactor', () => {
  it('blanks every occurrence in bytes and text, and leaves other bytes alone', () => {
    const redactor = createRedactor(SECRET);
    const input = `{"error":"Bearer ${SECRET} refused","again":"${SECRET}"}`;
    expect(decoder.decode(redactor.bytes(encoder.encode(input)))).toBe(
      '{"error":"Bearer [redacted] refused","again":"[redacted]"}',
    );
    expect(redactor.text(input)).toBe('{"error":"Bearer [redacted] refused","again":"[redacted]"}');
    const clean = encoder.encode('data: {"ok":true}\n\n');
    expect(redactor.bytes(clean)).toBe(clean);
  });

  it('blanks a token split across two chunks at every offset', async () => {
    const whole = encoder.encode(`data: {"echo":"Bearer ${SECRET}"}\n\n`);
    for (let at = 1; at < whole.length; at++) {
      const out = await collect([whole.subarray(0, at), whole.subarray(at)]);
      expect(text(out)).toBe('data: {"echo":"Bearer [redacted]"}\n\n');
    }
  });

  it('blanks a token dribbled one byte per chunk', async () => {
    const whole = encoder.encode(`x${SECRET}y${SECRET}`);
    const out = await collect([...whole].map((byte) => Uint8Array.of(byte)));
    expect(text(out)).toBe('x[redacted]y[redacted]');
  });

  it('holds nothing back from a stream whose chunks end in a blank line, and keeps a near-miss', async () => {
    const events = ['data: {"a":1}\n\n', 'data: {"b":"hf_SECRET"}\n\n', 'data: hf_'].map((e) =>
      encoder.encode(e),
    );
    const out = await collect(events);
    // each event is yielded as it arrives; a tail that may begin the token waits, then comes out as is
    expect(out.slice(0, 2).map((p) => decoder.decode(p))).toEqual([
      'data: {"a":1}\n\n',
      'data: {"b":"hf_SECRET"}\n\n',
    ]);
    expect(text(out)).toBe(events.map((e) => decoder.decode(e)).join(''));
  });

  it('passes everything through when there is no token', async () => {
    const chunk = encoder.encode('anything');
    expect(await collect([chunk], '')).toEqual([chunk]);
  });

  it('blanks every upstream’s token, each split across chunks at every offset', async () => {
    const other = 'sk-local-OTHER-9876';
    const whole = encoder.encode(`data: {"echo":"${other} and ${SECRET}"}\n\n`);
    for (let at = 1; at < whole.length; at++) {
      const out = await collect([whole.subarray(0, at), whole.subarray(at)], [SECRET, other]);
      expect(text(out)).toBe('data: {"echo":"[redacted] and [redacted]"}\n\n');
    }
    const redactor = createRedactor([SECRET, undefined, other]);
    expect(redactor.text(`${SECRET}/${other}`)).toBe('[redacted]/[redacted]');
  });
});
