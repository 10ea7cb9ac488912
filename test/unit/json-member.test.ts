// A streamed request goes upstream as the client's own bytes with only `stream_options` set: numbers
// beyond 2^53, whitespace, key order and escapes survive, whatever the body looks like.
import { describe, expect, it } from 'vitest';
import { chatCompletions } from '../../src/endpoints/chat-completions.ts';
import { setTopLevelMember } from '../../src/endpoints/json-member.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const set = (body: string, value = '{"include_usage":true}') =>
  decoder.decode(setTopLevelMember(encoder.encode(body), 'stream_options', value));

describe('setTopLevelMember', () => {
  it('appends the member and leaves every other byte as sent', () => {
    const body = '{ "model" : "m ", "seed": 9007199254740993, "messages":[{"content":"a\\"}b"}] }';
    const out = set(body);
    expect(out).toBe(
      '{ "model" : "m ", "seed": 9007199254740993, "messages":[{"content":"a\\"}b"}],"stream_options":{"include_usage":true} }',
    );
    expect(JSON.parse(out).stream_options).toEqual({ include_usage: true });
  });

  it('replaces an existing value of any shape, and every duplicate of it', () => {
    expect(set('{"stream_options":null,"a":1}')).toBe('{"stream_options":{"include_usage":true},"a":1}');
    expect(set('{"a":[1,{"stream_options":2}],"stream_options":{"x":"}"}}')).toBe(
      '{"a":[1,{"stream_options":2}],"stream_options":{"include_usage":true}}',
    );
    expect(set('{"stream_options":1,"stream_options":2}')).toBe(
      '{"stream_options":{"include_usage":true},"stream_options":{"include_usage":true}}',
    );
    // a key written with an escape is the same key
    expect(set('{"stream\\u005foptions":false}')).toBe('{"stream\\u005foptions":{"include_usage":true}}');
  });

  it('handles an empty object and deep nesting without recursion', () => {
    expect(set('{}')).toBe('{"stream_options":{"include_usage":true}}');
    const deep = `{"x":${'['.repeat(50_000)}${']'.repeat(50_000)}}`;
    expect(set(deep).endsWith(',"stream_options":{"include_usage":true}}')).toBe(true);
  });
});

describe('the chat adapter’s stream body', () => {
  it('keeps the client’s other options and says whether the client asked for usage', () => {
    const raw = encoder.encode(
      '{"model":"m","messages":[],"stream":true,"stream_options":{"continuous_usage_stats":true}}',
    );
    const body = JSON.parse(decoder.decode(raw));
    const { bytes, clientAskedUsage } = chatCompletions.streamBody(raw, body);
    expect(clientAskedUsage).toBe(false);
    expect(decoder.decode(bytes)).toBe(
      '{"model":"m","messages":[],"stream":true,"stream_options":{"continuous_usage_stats":true,"include_usage":true}}',
    );
    const asked = encoder.encode('{"model":"m","stream_options":{"include_usage":true}}');
    expect(chatCompletions.streamBody(asked, JSON.parse(decoder.decode(asked)))).toEqual({
      bytes: asked,
      clientAskedUsage: true,
    });
  });
});
