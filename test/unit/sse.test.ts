import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createSseSplitter, parseEventJson, type SseEvent } from '../../src/metering/sse.ts';

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

/** Feeds chunks; returns the events, the rest, and every byte the splitter accounted for. */
function split(chunks: Uint8Array[]) {
  const splitter = createSseSplitter();
  const events: SseEvent[] = chunks.flatMap((chunk) => splitter.push(chunk));
  const rest = splitter.rest();
  return { events, rest, raw: Buffer.concat([...events.map((e) => e.raw), rest]) };
}

const fields = (events: SseEvent[]) => events.map((e) => [e.event, e.data]);
const bytewise = (input: Uint8Array) => [...input].map((b) => Uint8Array.of(b));

describe('the SSE splitter', () => {
  it('splits data events on blank lines and keeps each event’s exact bytes', () => {
    const { events, rest } = split([bytes('data: {"a":1}\n\ndata: {"b":2}\n\n')]);
    expect(events.map((e) => e.data)).toEqual(['{"a":1}', '{"b":2}']);
    expect(events.map((e) => text(e.raw))).toEqual(['data: {"a":1}\n\n', 'data: {"b":2}\n\n']);
    expect(rest).toHaveLength(0);
  });

  it('finds the same events when split across chunks at every byte offset', () => {
    const input = bytes('data: {"x":"héllo"}\r\n\r\ndata: [DONE]\r\n\r\n');
    for (let at = 0; at <= input.length; at++) {
      const { events, raw } = split([input.subarray(0, at), input.subarray(at)]);
      expect(
        events.map((e) => text(e.raw)),
        `split at ${at}`,
      ).toEqual(['data: {"x":"héllo"}\r\n\r\n', 'data: [DONE]\r\n\r\n']);
      expect(Buffer.compare(raw, input)).toBe(0);
    }
  });

  it('waits on a CR ending a line until the next byte shows whether an LF follows', () => {
    const splitter = createSseSplitter();
    expect(splitter.push(bytes('data: a\r'))).toEqual([]);
    expect(splitter.push(bytes('\ndata: b'))).toEqual([]);
    const [event] = splitter.push(bytes('\n\n'));
    expect(event?.data).toBe('a\nb');
  });

  it('keeps the LF of a CRLF blank line split from its CR with the event it ends', () => {
    const splitter = createSseSplitter();
    expect(splitter.push(bytes('data: [DONE]\r\n\r'))).toEqual([]);
    const [done] = splitter.push(bytes('\n'));
    expect(done?.isDone).toBe(true);
    expect(text(done!.raw)).toBe('data: [DONE]\r\n\r\n');
    expect(splitter.rest()).toHaveLength(0);
  });

  it('completes an event ending in \\r\\r at once', () => {
    const splitter = createSseSplitter();
    const [event] = splitter.push(bytes('data: a\r\r'));
    expect(event?.data).toBe('a');
    expect(text(event!.raw)).toBe('data: a\r\r');
  });

  it('accepts CR-only, LF-only and CRLF line endings, mixed', () => {
    const { events } = split([bytes('data: a\r\rdata: b\n\ndata: c\r\ndata: d\r\n\r\n')]);
    expect(events.map((e) => e.data)).toEqual(['a', 'b', 'c\nd']);
  });

  it('reads `data:` without a space, and strips only one space', () => {
    const { events } = split([bytes('data:{"a":1}\n\ndata:  two\n\ndata\n\n')]);
    expect(events.map((e) => e.data)).toEqual(['{"a":1}', ' two', '']);
  });

  it('skips comment lines but keeps their bytes, and gives a comment-only event no data', () => {
    const input = ': keep-alive\n\ndata: x\n: note\n\n';
    const { events, raw } = split([bytes(input)]);
    expect(events.map((e) => e.data)).toEqual([undefined, 'x']);
    expect(text(raw)).toBe(input);
  });

  it('ignores fields other than data and event', () => {
    const { events } = split([bytes('id: 7\nretry: 10\ndatum: no\ndata-x: no\nevent: e\ndata: yes\n\n')]);
    expect(fields(events)).toEqual([['e', 'yes']]);
  });

  it('joins multi-line data with newlines', () => {
    const { events } = split([bytes('data: {"a":\ndata: 1}\n\n')]);
    expect(events[0]?.data).toBe('{"a":\n1}');
    expect(parseEventJson(events[0]!)).toEqual({ a: 1 });
  });

  it('names the event type of Groq’s mid-stream `event: error`', () => {
    const folder = new URL('../fixtures/stream/', import.meta.url);
    const input = readFileSync(new URL('groq-gpt-oss-120b.midstream-error.sse', folder));
    const { events } = split([input]);
    const errors = events.filter((e) => e.event === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]?.isDone).toBe(false);
    expect(parseEventJson(errors[0]!)).toMatchObject({ error: { code: 'tool_use_failed' } });
  });

  it('marks an early [DONE] and keeps what follows as the rest', () => {
    const { events, rest } = split([bytes('data: [DONE]\n\ndata: late')]);
    expect(events.map((e) => e.isDone)).toEqual([true]);
    expect(text(rest)).toBe('data: late');
  });

  it('gives an event with no data field no data', () => {
    const { events } = split([bytes('event: ping\n\n')]);
    expect(events[0]).toMatchObject({ event: 'ping', data: undefined, isDone: false });
    expect(parseEventJson(events[0]!)).toBeUndefined();
  });

  it('returns undefined JSON for [DONE] and for data that is not JSON', () => {
    const { events } = split([bytes('data: [DONE]\n\ndata: nope\n\n')]);
    expect(events.map(parseEventJson)).toEqual([undefined, undefined]);
  });

  it('keeps a UTF-8 character split across chunks whole', () => {
    const input = bytes('data: "€"\n\n');
    const at = input.indexOf(0xe2) + 1; // inside the 3-byte sequence of €
    const { events } = split([input.subarray(0, at), input.subarray(at)]);
    expect(events[0]?.data).toBe('"€"');
  });

  it('makes no event of extra blank lines, however they are split', () => {
    const input = bytes('\r\n\ndata: a\r\n\r\n\r\n\n\rdata: b\n\n\n');
    const whole = split([input]);
    expect(fields(whole.events)).toEqual([
      [undefined, 'a'],
      [undefined, 'b'],
    ]);
    expect(text(whole.rest)).toBe('\n');
    expect(fields(split(bytewise(input)).events)).toEqual(fields(whole.events));
  });

  it('never changes the bytes of an event it returned, while later chunks arrive', () => {
    const splitter = createSseSplitter();
    const [first] = splitter.push(bytes('data: one\n\ndata: t'));
    const before = Uint8Array.from(first!.raw);
    for (const piece of ['wo\n', '\ndata: three', '\n\n', 'data: four\n\n']) splitter.push(bytes(piece));
    expect(first!.raw).toEqual(before);
  });

  it('takes a 1 MiB event in 64-byte chunks in linear time', () => {
    const input = bytes(`data: ${'x'.repeat(2 ** 20)}\n\n`);
    const splitter = createSseSplitter();
    const events: SseEvent[] = [];
    const started = performance.now();
    for (let at = 0; at < input.length; at += 64) events.push(...splitter.push(input.subarray(at, at + 64)));
    const elapsedMs = performance.now() - started;
    expect(events).toHaveLength(1);
    expect(Buffer.compare(events[0]!.raw, input)).toBe(0);
    // generous: linear takes ~100 ms; re-copying the pending event on every chunk took ~15 s
    expect(elapsedMs).toBeLessThan(3000);
  });

  it('finds the same events for a mixed-ending stream cut into any three chunks', () => {
    const input = bytes(
      ': hi\r\n\r\ndata: a\r\ndata: é\r\n\r\nevent: error\rdata: {}\r\rdata:b\n\ndata: [DONE]\r\n\r\n',
    );
    const expected = fields(split([input]).events);
    expect(expected).toHaveLength(5);
    for (let i = 0; i <= input.length; i++) {
      for (let j = i; j <= input.length; j++) {
        const chunks = [input.subarray(0, i), input.subarray(i, j), input.subarray(j)];
        const { events, raw } = split(chunks);
        expect(fields(events), `split at ${i}, ${j}`).toEqual(expected);
        expect(Buffer.compare(raw, input), `split at ${i}, ${j}`).toBe(0);
      }
    }
  });
});

describe('replaying the recorded upstream streams', () => {
  const folder = new URL('../fixtures/stream/', import.meta.url);
  const files = readdirSync(folder).filter((name) => name.endsWith('.sse'));

  it('has fixtures to replay', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it.each(files)('%s: the same events and the same bytes, split anywhere or byte by byte', (name) => {
    const input = readFileSync(new URL(name, folder));
    const whole = split([input]);
    expect(Buffer.compare(whole.raw, input)).toBe(0);
    expect(whole.events.length).toBeGreaterThan(3);
    const expected = whole.events.map((e) => e.data);
    for (let at = 0; at <= input.length; at++) {
      const { events, raw } = split([input.subarray(0, at), input.subarray(at)]);
      // compare by hand: expect() per offset would dominate the run time
      if (Buffer.compare(raw, input) !== 0) expect.fail(`raw bytes differ when split at ${at}`);
      const datas = events.map((e) => e.data);
      if (datas.some((d, i) => d !== expected[i]) || datas.length !== expected.length) {
        expect(datas, `split at ${at}`).toEqual(expected);
      }
    }
    const oneByte = split(bytewise(input));
    expect(oneByte.events.map((e) => e.data)).toEqual(expected);
    expect(Buffer.compare(oneByte.raw, input)).toBe(0);
  });
});
