// A stream's events are parsed at most once, and only when they matter: after the first token, an event
// with nothing for the row but its text waits unparsed, and is read only when an estimate needs it.
// Whichever way an event is read, the row gets the same usage, estimate and end.
import { describe, expect, it } from 'vitest';
import type { EndpointAdapter } from '../../src/endpoints/adapter.ts';
import { chatCompletions } from '../../src/endpoints/chat-completions.ts';
import { responses } from '../../src/endpoints/responses.ts';
import { createSseSplitter } from '../../src/metering/sse.ts';
import type { MeteredCall } from '../../src/services/pipeline/call.ts';
import { estimateTokens } from '../../src/services/pipeline/meter.ts';
import { StreamEvents } from '../../src/services/pipeline/stream-events.ts';
import { fixtureText } from '../helpers/fixtures.ts';

const encoder = new TextEncoder();
const chatEvents = fixtureText('stream/hf-groq-gpt-oss-120b.include-usage.sse').split(/(?<=\n\n)/);
const withoutUsage = chatEvents.filter((event) => !event.includes('"usage"'));

const call = (adapter: EndpointAdapter): MeteredCall => ({
  adapter,
  body: { model: 'openai/gpt-oss-120b:groq', messages: [{ role: 'user', content: 'hi' }], stream: true },
  raw: encoder.encode('{}'),
  requestId: 'req_1',
  apiKeyId: 'key_1',
  startedAt: new Date(),
  startedAtMs: performance.now(),
  signal: new AbortController().signal,
  endUser: null,
  tags: null,
});

/** Feeds `sse` in one chunk; returns the reader and every event's action kind. */
function readAll(adapter: EndpointAdapter, sse: string, clientAskedUsage = true) {
  const events = new StreamEvents(call(adapter), clientAskedUsage);
  const kinds = createSseSplitter()
    .push(encoder.encode(sse))
    .map((event) => events.read(event).kind);
  return { events, kinds };
}

/** The chat deltas' text, every event parsed. */
function chatText(sse: string[]): string {
  let text = '';
  for (const event of sse) {
    const data = event.replace(/^data: /, '').trim();
    if (data === '[DONE]') continue;
    const chunk = JSON.parse(data) as { choices: Array<{ delta: Record<string, unknown> }> };
    for (const choice of chunk.choices) {
      for (const field of ['reasoning', 'reasoning_content', 'content']) {
        const value = choice.delta[field];
        if (typeof value === 'string') text += value;
      }
    }
  }
  return text;
}

describe('stream events', () => {
  it('bills the usage chunk: text events are never needed', async () => {
    const { events, kinds } = readAll(chatCompletions as EndpointAdapter, chatEvents.join(''));
    expect(kinds.at(-1)).toBe('done');
    expect(events.finished).toBe(true);
    expect(events.model).toBe('openai/gpt-oss-120b');
    expect(events.ttftMs).toBeGreaterThanOrEqual(0);
    expect(await events.tokens(true)).toMatchObject({
      source: 'upstream',
      usage: { promptTokens: 84, completionTokens: 34 },
    });
  });

  it('estimates from every delta’s text, in order, when the usage never comes', async () => {
    const adapter = chatCompletions as EndpointAdapter;
    const { events } = readAll(adapter, withoutUsage.join(''));
    expect(events.finished).toBe(true);
    const expected = await estimateTokens(call(adapter), chatText(withoutUsage));
    expect(await events.tokens(true)).toEqual(expected);
  });

  it('still reads a finish written with spaces, and hides the usage chunk the client did not ask for', () => {
    const spaced =
      'data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}\n\n' +
      'data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"!"},"finish_reason" :  "stop"}]}\n\n' +
      'data: {"id":"c","model":"m","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}\n\n';
    const { events, kinds } = readAll(chatCompletions as EndpointAdapter, spaced, false);
    expect(events.finished).toBe(true);
    expect(kinds).toEqual(['forward', 'forward', 'hide']);
  });

  it('bills usage and a finish whose keys are written with escapes', async () => {
    const escaped =
      'data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}\n\n' +
      'data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"!"},"fin\\u0069sh_reason":"stop"}]}\n\n' +
      'data: {"id":"c","model":"m","choices":[],"us\\u0061ge":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}}\n\n';
    const { events } = readAll(chatCompletions as EndpointAdapter, escaped);
    expect(events.finished).toBe(true);
    expect(await events.tokens(true)).toMatchObject({
      source: 'upstream',
      usage: { promptTokens: 7, completionTokens: 2 },
    });
  });

  it('fails on an event that is not JSON after the first token too', () => {
    const sse = `${withoutUsage.slice(0, 3).join('')}data: <html>502 Bad Gateway</html>\n\n`;
    const { kinds } = readAll(chatCompletions as EndpointAdapter, sse);
    expect(kinds.at(-1)).toBe('failed');
  });

  it('estimates a Responses stream from its deltas, and ends on its terminal event', async () => {
    const adapter = responses as EndpointAdapter;
    const delta = (text: string) =>
      `event: response.output_text.delta\ndata: ${JSON.stringify({ type: 'response.output_text.delta', delta: text })}\n\n`;
    const sse = [
      `event: response.created\ndata: {"type":"response.created","response":{"id":"r1","model":"m"}}\n\n`,
      delta('Hello'),
      delta(', "world"'),
      delta(' again'),
      `event: response.completed\ndata: {"type":"response.completed","response":{"id":"r1","model":"m","usage":{"input_tokens":0,"output_tokens":0}}}\n\n`,
    ].join('');
    const { events, kinds } = readAll(adapter, sse);
    expect(kinds.at(-1)).toBe('done');
    expect(events.model).toBe('m');
    const expected = await estimateTokens(call(adapter), 'Hello, "world" again');
    expect(await events.tokens(true)).toEqual(expected);
  });
});
