import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createSseSplitter, parseEventJson, type SseEvent } from '../../src/metering/sse.ts';

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

/** Feeds chunks; returns the events and every byte the splitter accounted for. */
function split(chunks: Uint8Array[]) {
  const splitter = createSseSplitter();
  const events: SseEvent[] = chunks.flatMap((chunk) => splitter.push(chunk));
  const raw = Buffer.concat([...events.map((e) => e.raw), splitter.rest()]);
  return { events, raw, rest: splitter.rest() };
}

describe('the SSE splitter', () => {
  it('splits data events on blank lines and keeps each event’s exact bytes', () => {
    const input = 'data: {"a":1}\n\ndata: {"b":2}\n\n';
    const { events } = split([bytes(input)]);
    expect(events.map((e) => e.data)).toEqual(['{"a":1}', '{"b":2}']);
    expect(events.map((e) => text(e.raw))).toEqual(['data: {"a":1}\n\n', 'data: {"b":2}\n\n']);
  });

  it('finds an event split across chunks at every byte offset', () => {
    const input = bytes('data: {"x":"héllo"}\r\n\r\ndata: [DONE]\r\n\r\n');
    for (let at = 0; at <= input.length; at++) {
      const { events, raw } = split([input.subarray(0, at), input.subarray(at)]);
      expect(
        events.map((e) => e.data),
        `split at ${at}`,
      ).toEqual(['{"x":"héllo"}', '[DONE]']);
      expect(Buffer.compare(raw, input)).toBe(0);
    }
  });

  it('waits on a CR ending a data line until it knows whether an LF follows', () => {
    const splitter = createSseSplitter();
    expect(splitter.push(bytes('data: a\r'))).toEqual([]);
    expect(splitter.push(bytes('\ndata: b'))).toEqual([]);
    const [event] = splitter.push(bytes('\n\n'));
    expect(event?.data).toBe('a\nb');
  });

  it('ends an event on the CR of its blank line at once, and keeps the LF that follows', () => {
    const splitter = createSseSplitter();
    const [first] = splitter.push(bytes('data: a\r\n\r'));
    expect(first?.data).toBe('a');
    const [second] = splitter.push(bytes('\ndata: b\r\n\r\n'));
    expect(second?.data).toBe('b');
    expect(text(first!.raw) + text(second!.raw)).toBe('data: a\r\n\r\ndata: b\r\n\r\n');
  });

  it('accepts CR-only line endings', () => {
    const { events } = split([bytes('data: a\r\rdata: b\r\r')]);
    expect(events.map((e) => e.data)).toEqual(['a', 'b']);
  });

  it('reads `data:` without a space, and strips only one space', () => {
    const { events } = split([bytes('data:{"a":1}\n\ndata:  two\n\n')]);
    expect(events.map((e) => e.data)).toEqual(['{"a":1}', ' two']);
  });

  it('skips comment lines but keeps their bytes', () => {
    const input = ': keep-alive\n\ndata: x\n: note\n\n';
    const { events, raw } = split([bytes(input)]);
    expect(events.map((e) => e.data)).toEqual([undefined, 'x']);
    expect(text(raw)).toBe(input);
  });

  it('joins multi-line data with newlines', () => {
    const { events } = split([bytes('data: {"a":\ndata: 1}\n\n')]);
    expect(events[0]?.data).toBe('{"a":\n1}');
    expect(parseEventJson(events[0]!)).toEqual({ a: 1 });
  });

  it('names event types, as Groq’s `event: error`', () => {
    const { events } = split([bytes('event: error\ndata: {"error":{"message":"m"}}\n\n')]);
    expect(events[0]).toMatchObject({ event: 'error', data: '{"error":{"message":"m"}}', isDone: false });
  });

  it('marks an early [DONE] and keeps what follows', () => {
    const { events, rest } = split([bytes('data: [DONE]\n\ndata: late')]);
    expect(events[0]?.isDone).toBe(true);
    expect(text(rest)).toBe('data: late');
  });

  it('gives an event with no data field no data', () => {
    const { events } = split([bytes('event: ping\n\n')]);
    expect(events[0]).toMatchObject({ event: 'ping', data: undefined });
    expect(parseEventJson(events[0]!)).toBeUndefined();
  });

  it('returns undefined JSON for [DONE] and for data that is not JSON', () => {
    const { events } = split([bytes('data: [DONE]\n\ndata: nope\n\n')]);
    expect(events.map(parseEventJson)).toEqual([undefined, undefined]);
  });

  it('keeps a UTF-8 character split across chunks whole', () => {
    const input = bytes('data: "€"\n\n');
    const at = text(input).indexOf('€') + 1; // inside the 3-byte sequence
    const { events } = split([input.subarray(0, at + 1), input.subarray(at + 1)]);
    expect(events[0]?.data).toBe('"€"');
  });
});

describe('replaying the recorded upstream streams', () => {
  const folder = new URL('../../../shared/fixtures/stream/', import.meta.url);
  const files = readdirSync(folder).filter((name) => name.endsWith('.sse'));

  it.each(files)('%s: the same events and the same bytes, however it is chunked', (name) => {
    const input = readFileSync(new URL(name, folder));
    const whole = split([input]);
    expect(Buffer.compare(whole.raw, input)).toBe(0);
    expect(whole.events.length).toBeGreaterThan(3);
    const datas = whole.events.map((e) => e.data);
    for (let at = 1; at < input.length; at += 7) {
      const twoChunks = split([input.subarray(0, at), input.subarray(at)]);
      expect(twoChunks.events.map((e) => e.data)).toEqual(datas);
      expect(Buffer.compare(twoChunks.raw, input)).toBe(0);
    }
    const bytewise = split([...input].map((b) => Uint8Array.of(b)));
    expect(bytewise.events.map((e) => e.data)).toEqual(datas);
    expect(Buffer.compare(bytewise.raw, input)).toBe(0);
  });
});
