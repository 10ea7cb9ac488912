// SIGTERM: the gateway stops accepting, lets the streams in flight finish within the grace period,
// cuts what outlives it, flushes its rows and exits 0.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { HttpResponse, http } from 'msw';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureText } from '../helpers/fixtures.ts';
import { ADMIN_KEY, builtServer, type GatewayChild, startGatewayChild } from '../helpers/gateway-child.ts';
import { type MockUpstream, startMockUpstream } from '../helpers/mock-upstream.ts';

const encoder = new TextEncoder();
const GRACE_MS = 1500;

describe('SIGTERM', { timeout: 60_000 }, () => {
  let upstream: MockUpstream;
  let finishSlowStream: () => void = () => {};
  let gw: GatewayChild;

  beforeAll(async () => {
    builtServer();
    const events = fixtureText('stream/hf-groq-gpt-oss-120b.include-usage.sse').split(/(?<=\n\n)/);
    upstream = await startMockUpstream(
      http.post('*/chat/completions', async ({ request: req }) => {
        const { user } = (await req.json()) as { user?: string };
        const body = new ReadableStream<Uint8Array>({
          async start(controller) {
            for (const event of events.slice(0, 5)) controller.enqueue(encoder.encode(event));
            // the rest of the generation comes after the gateway was told to stop, or never
            await new Promise<void>((resolve) => {
              if (user === 'finishes') finishSlowStream = resolve;
            });
            for (const event of events.slice(5)) controller.enqueue(encoder.encode(event));
            controller.close();
          },
        });
        return new HttpResponse(body, { headers: { 'content-type': 'text/event-stream' } });
      }),
    );
  }, 120_000);
  afterAll(() => upstream?.close());

  /** Opens a stream and reads its first chunk; `rest()` reads on to the end or the cut. */
  async function openStream(user: string) {
    const res = await request(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'openai/gpt-oss-120b:groq',
        stream: true,
        user,
        messages: [{ role: 'user', content: 'hi' }],
      }),
    });
    const reader = res.body[Symbol.asyncIterator]();
    let received = String((await reader.next()).value);
    return {
      requestId: String(res.headers['x-request-id']),
      async rest() {
        try {
          for (let chunk = await reader.next(); !chunk.done; chunk = await reader.next())
            received += String(chunk.value);
        } catch {
          // cut by the gateway
        }
        return received;
      },
    };
  }

  it('finishes a stream in flight and records it, refuses new connections, cuts what outlives the grace, exits 0', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-sigterm-'));
    gw = await startGatewayChild({
      DATA_DIR: dataDir,
      UPSTREAM_BASE_URL: upstream.url,
      SHUTDOWN_GRACE_MS: String(GRACE_MS),
    });
    const finishing = await openStream('finishes');
    const hanging = await openStream('hangs');

    gw.child.kill('SIGTERM');
    // the listener closes: a new connection is refused (each probe on a connection of its own)
    let refused = false;
    for (let i = 0; i < 200 && !refused; i++) {
      const probe = new Agent();
      refused = await request(`${gw.url}/healthz`, { dispatcher: probe }).then(
        async (res) => {
          await res.body.dump();
          return false;
        },
        () => true,
      );
      await probe.destroy();
      if (!refused) await new Promise((r) => setTimeout(r, 25));
    }
    expect(refused).toBe(true);

    finishSlowStream();
    expect(await finishing.rest()).toContain('data: [DONE]');
    // the other one never ends upstream: the grace period ends it
    expect(await hanging.rest()).not.toContain('data: [DONE]');
    expect(await gw.kill('SIGTERM')).toBe(0);

    // the finished stream's row is in the embedded database the process left behind
    const pg = await PGlite.create(join(dataDir, 'pglite'));
    const { rows } = await pg.query<{ request_id: string; status: string; prompt_tokens: number }>(
      'select request_id, status, prompt_tokens from usage_logs where request_id = $1',
      [finishing.requestId],
    );
    await pg.close();
    expect(rows).toEqual([{ request_id: finishing.requestId, status: 'ok', prompt_tokens: 84 }]);
  });
});
