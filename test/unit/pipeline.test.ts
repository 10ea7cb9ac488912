// The call record owns a call's row and its reservation: whatever ends a call, exactly one row is
// written and the reservation is settled exactly once — a bug in the gateway's own code included.
import { describe, expect, it } from 'vitest';
import { parseDecimal } from '../../src/billing/money.ts';
import { createPriceBook } from '../../src/billing/pricing.ts';
import type { UsageLogInsert } from '../../src/db/schema.ts';
import type { EndpointAdapter } from '../../src/endpoints/adapter.ts';
import { chatCompletions } from '../../src/endpoints/chat-completions.ts';
import { GatewayError } from '../../src/errors.ts';
import type { Recorder } from '../../src/ledger/recorder.ts';
import type { MeteredCall, Ticket } from '../../src/services/pipeline/call.ts';
import { createPipeline } from '../../src/services/pipeline/pipeline.ts';
import type { UpstreamClient, UpstreamResponse } from '../../src/upstream/client.ts';
import { singleUpstream } from '../../src/upstream/upstreams.ts';
import { fixtureText } from '../helpers/fixtures.ts';

const encoder = new TextEncoder();
const reply = fixtureText('nonstream/hf-groq-gpt-oss-120b.response.json');
const events = fixtureText('stream/hf-groq-gpt-oss-120b.include-usage.sse').split(/(?<=\n\n)/);

/** An upstream that answers `chunks` (held open after them when `hold` is set). */
function fakeUpstream(chunks: string[], { hold = false } = {}): UpstreamClient {
  return {
    provider: 'huggingface',
    async send({ signal }) {
      async function* body() {
        for (const chunk of chunks) yield encoder.encode(chunk);
        if (hold)
          await new Promise((_, reject) =>
            signal.addEventListener('abort', () => reject(new Error('aborted'))),
          );
      }
      return { status: 200, headers: {}, servedBy: 'groq', body: body() } satisfies UpstreamResponse;
    },
    async readAll(response) {
      const parts: Uint8Array[] = [];
      for await (const part of response.body) parts.push(part);
      return Buffer.concat(parts);
    },
    get: async () => ({ status: 404, body: new Uint8Array() }),
    redactText: (text) => text,
    close: async () => {},
  };
}

function setup(upstream: UpstreamClient, { failRecord = false } = {}) {
  const rows: UsageLogInsert[] = [];
  const recorder = {
    record: async (row: UsageLogInsert) => {
      if (failRecord) throw new Error('disk and database both gone');
      rows.push(row);
    },
  } as unknown as Recorder;
  const priceBook = createPriceBook({
    envProvider: 'huggingface',
    envInputTokenCost: parseDecimal('0.000001'),
    envOutputTokenCost: parseDecimal('0.000003'),
  });
  const pipeline = createPipeline({
    upstreams: singleUpstream(upstream),
    priceBook,
    recorder,
    maxEventBytes: 1 << 20,
  });
  const settled: boolean[] = [];
  const ticket: Ticket = {
    reservedUsd: '0.01',
    headers: {},
    finish: async ({ metered }) => {
      settled.push(metered);
    },
  };
  return { rows, pipeline, settled, admit: async () => ticket };
}

const call = (
  stream: boolean,
  adapter: EndpointAdapter = chatCompletions as EndpointAdapter,
): MeteredCall => ({
  adapter,
  body: { model: 'openai/gpt-oss-120b:groq', messages: [{ role: 'user', content: 'hi' }], stream },
  raw: encoder.encode(
    `{"model":"openai/gpt-oss-120b:groq","messages":[{"role":"user","content":"hi"}],"stream":${stream}}`,
  ),
  requestId: `req_${Math.random()}`,
  apiKeyId: 'key_1',
  startedAt: new Date(),
  startedAtMs: performance.now(),
  signal: new AbortController().signal,
  endUser: null,
  tags: null,
});

async function readAll(body: ReadableStream<Uint8Array>): Promise<string> {
  const parts: Uint8Array[] = [];
  for await (const part of body) parts.push(part);
  return new TextDecoder().decode(Buffer.concat(parts));
}

describe('the metered pipeline', () => {
  it('writes one row and settles once for an answered call', async () => {
    const { rows, pipeline, settled, admit } = setup(fakeUpstream([reply]));
    const out = await pipeline.run(call(false), admit);
    expect(out.kind).toBe('json');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      status: 'ok',
      servedBy: 'groq',
      endpoint: 'chat.completions',
      reservedUsd: '0.01',
    });
    expect(settled).toEqual([true]);
  });

  it('meters a crash in its own code as gateway_error, and still settles once', async () => {
    const broken = {
      ...chatCompletions,
      usageOfReply: () => {
        throw new TypeError('a bug');
      },
    } as EndpointAdapter;
    const { rows, pipeline, settled, admit } = setup(fakeUpstream([reply]));
    await expect(pipeline.run(call(false, broken), admit)).rejects.toThrow('a bug');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      status: 'gateway_error',
      httpStatus: 500,
      usageSource: 'none',
      costTotal: '0',
    });
    expect(settled).toEqual([true]);
  });

  it('releases the reservation when no row could be written, and answers 503', async () => {
    const { pipeline, settled, admit } = setup(fakeUpstream([reply]), { failRecord: true });
    const err = await pipeline.run(call(false), admit).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe('usage_not_recorded');
    expect(settled).toEqual([false]);
  });

  it('owns nothing when admission refuses', async () => {
    const { rows, pipeline, settled } = setup(fakeUpstream([reply]));
    const refuse = async (): Promise<Ticket> => {
      throw new GatewayError(429, 'over budget');
    };
    await expect(pipeline.run(call(false), refuse)).rejects.toThrow('over budget');
    expect(rows).toEqual([]);
    expect(settled).toEqual([]);
  });

  it('settles a stream once, after its row, when it ends cleanly', async () => {
    const { rows, pipeline, settled, admit } = setup(fakeUpstream(events));
    const out = await pipeline.run(call(true), admit);
    if (out.kind !== 'stream') throw new Error('expected a stream');
    expect(settled).toEqual([]);
    expect(await readAll(out.body)).toContain('data: [DONE]');
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(rows.map((r) => r.status)).toEqual(['ok']);
    expect(settled).toEqual([true]);
  });

  it('meters a stream the client cancels once, as client_aborted', async () => {
    const { rows, pipeline, settled, admit } = setup(fakeUpstream(events.slice(0, 3), { hold: true }));
    const out = await pipeline.run(call(true), admit);
    if (out.kind !== 'stream') throw new Error('expected a stream');
    const reader = out.body.getReader();
    await reader.read();
    await reader.cancel();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(rows.map((r) => [r.status, r.usageSource])).toEqual([['client_aborted', 'estimated']]);
    expect(settled).toEqual([true]);
  });

  it('cuts an open stream at shutdown: an error event for the client, one gateway_error row', async () => {
    const opened: Array<{ abort(reason: string): void; metered: Promise<unknown> }> = [];
    const { rows, settled, admit } = setup(fakeUpstream(events.slice(0, 3), { hold: true }));
    const pipeline = createPipeline({
      upstreams: singleUpstream(fakeUpstream(events.slice(0, 3), { hold: true })),
      priceBook: createPriceBook({
        envProvider: 'huggingface',
        envInputTokenCost: parseDecimal('0.000001'),
        envOutputTokenCost: parseDecimal('0.000003'),
      }),
      recorder: { record: async (row: UsageLogInsert) => void rows.push(row) } as unknown as Recorder,
      maxEventBytes: 1 << 20,
      track: (handle) => {
        opened.push(handle);
        return () => opened.splice(opened.indexOf(handle), 1);
      },
    });
    const out = await pipeline.run(call(true), admit);
    if (out.kind !== 'stream') throw new Error('expected a stream');
    const reader = out.body.getReader();
    await reader.read();
    expect(opened).toHaveLength(1);
    const handle = opened[0];
    handle?.abort('the gateway is shutting down');
    await handle?.metered;
    let rest = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    expect(rest).toMatch(
      /event: error\ndata: \{"error":\{"message":"The gateway ended this stream: the gateway is shutting down\."/,
    );
    expect(rows.map((r) => [r.status, r.httpStatus])).toEqual([['gateway_error', 503]]);
    expect(settled).toEqual([true]);
    expect(opened).toHaveLength(0);
  });
});
