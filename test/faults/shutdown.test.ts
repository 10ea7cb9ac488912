// SIGTERM: the gateway stops accepting, lets an in-flight stream finish, flushes its rows, exits 0.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { HttpResponse, http } from 'msw';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureText } from '../helpers/fixtures.ts';
import { ADMIN_KEY } from '../helpers/gateway.ts';
import { startGatewayProcess } from '../helpers/gateway-process.ts';
import { type MockUpstream, startMockUpstream } from '../helpers/mock-upstream.ts';

const encoder = new TextEncoder();

describe('SIGTERM', { timeout: 60_000 }, () => {
  let upstream: MockUpstream;
  let releaseRest: () => void = () => {};

  beforeAll(async () => {
    const events = fixtureText('stream/hf-groq-gpt-oss-120b.include-usage.sse').split(/(?<=\n\n)/);
    upstream = await startMockUpstream(
      http.post('*/chat/completions', () => {
        const body = new ReadableStream<Uint8Array>({
          async start(controller) {
            for (const event of events.slice(0, 5)) controller.enqueue(encoder.encode(event));
            // the rest of the generation comes only after the gateway was told to stop
            await new Promise<void>((resolve) => {
              releaseRest = resolve;
            });
            for (const event of events.slice(5)) controller.enqueue(encoder.encode(event));
            controller.close();
          },
        });
        return new HttpResponse(body, { headers: { 'content-type': 'text/event-stream' } });
      }),
    );
  });
  afterAll(() => upstream.close());

  it('finishes the stream in flight, records its row, refuses new work and exits 0', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-sigterm-'));
    const gw = await startGatewayProcess({ DATA_DIR: dataDir, UPSTREAM_BASE_URL: upstream.url });
    const res = await request(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'openai/gpt-oss-120b:groq',
        stream: true,
        messages: [{ role: 'user', content: 'hi' }],
      }),
    });
    const requestId = res.headers['x-request-id'];
    const reader = res.body[Symbol.asyncIterator]();
    let received = String((await reader.next()).value);

    gw.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    // no new connections once draining
    await expect(request(`${gw.url}/healthz`)).rejects.toThrow();
    releaseRest();
    for (let chunk = await reader.next(); !chunk.done; chunk = await reader.next())
      received += String(chunk.value);
    expect(received).toContain('data: [DONE]');
    expect(await gw.kill('SIGTERM')).toBe(0);

    // the row is in the embedded database the process left behind
    const pg = await PGlite.create(join(dataDir, 'pglite'));
    const { rows } = await pg.query<{ status: string; prompt_tokens: number }>(
      'select status, prompt_tokens from usage_logs where request_id = $1',
      [requestId],
    );
    await pg.close();
    expect(rows).toEqual([{ status: 'ok', prompt_tokens: 84 }]);
  });
});
