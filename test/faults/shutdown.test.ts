// SIGTERM: the gateway stops accepting, lets the streams in flight finish within the grace period,
// cuts what outlives it, flushes its rows and exits 0. Every stream answered or cut has its row after the
// exit, in the database or the spool: the cut one metered with what it served (estimated).
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
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

type Ledgered = {
  request_id: string;
  status: string;
  http_status: number;
  usage_source: string;
  prompt_tokens: number;
  completion_tokens: number;
  error: string | null;
};
type Spooled = {
  requestId: string;
  status: string;
  httpStatus: number;
  usageSource: string;
  promptTokens: number;
  completionTokens: number;
  error: string | null;
};

describe('SIGTERM', { timeout: 120_000 }, () => {
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

    expect(gw.output()).not.toContain('did not settle');

    // both rows are in the embedded database the process left behind, or in its spool
    const pg = await PGlite.create(join(dataDir, 'pglite'));
    const { rows: stored } = await pg.query<Ledgered>(
      `select request_id, status, http_status, usage_source, prompt_tokens, completion_tokens, error
       from usage_logs where request_id = any($1)`,
      [[finishing.requestId, hanging.requestId]],
    );
    await pg.close();
    const spool = join(dataDir, 'usage-spool.ndjson');
    const spooled = existsSync(spool)
      ? readFileSync(spool, 'utf8')
          .split('\n')
          .filter((line) => line.trim() !== '')
          .map((line) => JSON.parse(line) as Spooled)
          .map((r) => ({
            request_id: r.requestId,
            status: r.status,
            http_status: r.httpStatus,
            usage_source: r.usageSource,
            prompt_tokens: r.promptTokens,
            completion_tokens: r.completionTokens,
            error: r.error,
          }))
      : [];
    const rowOf = (id: string) => [...stored, ...spooled].filter((r) => r.request_id === id);
    expect(rowOf(finishing.requestId)).toEqual([
      expect.objectContaining({
        status: 'ok',
        http_status: 200,
        usage_source: 'upstream',
        prompt_tokens: 84,
      }),
    ]);
    // the cut stream: the gateway's decision, metered with what it had served, estimated, and why it ended
    expect(rowOf(hanging.requestId)).toEqual([
      {
        request_id: hanging.requestId,
        status: 'gateway_error',
        http_status: 503,
        usage_source: 'estimated',
        prompt_tokens: expect.any(Number),
        completion_tokens: expect.any(Number),
        error: expect.stringContaining('SHUTDOWN_GRACE_MS'),
      },
    ]);
    const [cut] = rowOf(hanging.requestId);
    expect(cut?.prompt_tokens).toBeGreaterThan(0);
    // "User asks for the": the reasoning it streamed before the cut
    expect(cut?.completion_tokens).toBeGreaterThan(0);
  });
});
