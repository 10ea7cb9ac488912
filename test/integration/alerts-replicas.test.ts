// Two gateway processes on one PostgreSQL, settling spend for the same keys at once and both running
// the alert deliverer against one slow receiver: every (key, period, threshold) is raised once and
// POSTed once.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpResponse, http } from 'msw';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresDatabase } from '../helpers/databases.ts';
import { ADMIN_KEY, builtServer, type GatewayChild, startGatewayChild } from '../helpers/gateway-child.ts';
import { type MockUpstream, startMockUpstream } from '../helpers/mock-upstream.ts';
import { type Receiver, startReceiver } from '../helpers/webhook-receiver.ts';

const SECRET = 'whsec_replicas_0123456789';
const THRESHOLDS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1];
const KEYS = 3;
const REQUESTS_PER_KEY = 20;

describe.skipIf(!process.env.TEST_DATABASE_URL)(
  'budget alerts from two gateway processes',
  { timeout: 180_000 },
  () => {
    let upstream: MockUpstream;
    let receiver: Receiver;
    let drop: () => Promise<void>;
    const replicas: GatewayChild[] = [];

    beforeAll(async () => {
      builtServer();
      upstream = await startMockUpstream(
        // a fixed cost per request: prompt 0, 1000 completion tokens at the env price ($0.003)
        http.post('*/chat/completions', () =>
          HttpResponse.json({ usage: { prompt_tokens: 0, completion_tokens: 1000, total_tokens: 1000 } }),
        ),
      );
      receiver = await startReceiver();
      // a slow receiver: both deliverers are busy at once, each with alerts the other would also see
      const answer = receiver.answer;
      receiver.answer = (req, earlier) => {
        const until = Date.now() + 30;
        while (Date.now() < until) {
          // the receiver's work, holding the connection
        }
        return answer(req, earlier);
      };
      const created = await createPostgresDatabase();
      drop = created.drop;
      for (let i = 0; i < 2; i++) {
        replicas.push(
          await startGatewayChild({
            DATABASE_URL: created.url,
            DATA_DIR: mkdtempSync(join(tmpdir(), `tollgate-alert-replica-${i}-`)),
            UPSTREAM_BASE_URL: upstream.url,
            ALERT_WEBHOOK_URL: receiver.url,
            ALERT_WEBHOOK_SECRET: SECRET,
            ALERT_POLL_MS: '20',
            ALERT_BACKOFF_BASE_MS: '50',
          }),
        );
      }
    }, 180_000);

    afterAll(async () => {
      for (const replica of replicas) await replica.kill('SIGTERM');
      await receiver?.close();
      await upstream?.close();
      await drop?.();
    });

    async function call(replica: GatewayChild, path: string, init: { json?: unknown; key?: string } = {}) {
      const res = await request(`${replica.url}${path}`, {
        method: init.json === undefined ? 'GET' : 'POST',
        headers: { authorization: `Bearer ${init.key ?? ADMIN_KEY}`, 'content-type': 'application/json' },
        ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }),
      });
      return { status: res.statusCode, json: (await res.body.json()) as Record<string, unknown> };
    }

    it('raises and delivers each threshold of each key exactly once while both settle its spend', async () => {
      const [a, b] = replicas as [GatewayChild, GatewayChild];
      const keys: { id: string; key: string }[] = [];
      for (let i = 0; i < KEYS; i++) {
        const created = await call(a, '/admin/keys', {
          // 20 requests of $0.003 = $0.06: past 100% of $0.03 halfway, soft so none is refused
          json: {
            name: `shared-${i}`,
            monthly_budget_usd: '0.03',
            soft_budget: true,
            alert_thresholds: THRESHOLDS,
          },
        });
        keys.push(created.json as { id: string; key: string });
      }
      const replies = await Promise.all(
        keys.flatMap((key) =>
          Array.from({ length: REQUESTS_PER_KEY }, (_, i) =>
            call(i % 2 ? a : b, '/v1/chat/completions', {
              key: key.key,
              json: {
                model: 'openai/gpt-oss-120b:groq',
                messages: [{ role: 'user', content: 'hi' }],
                max_tokens: 1,
              },
            }),
          ),
        ),
      );
      expect(replies.every((r) => r.status === 200)).toBe(true);

      const expected = KEYS * THRESHOLDS.length;
      const end = Date.now() + 60_000;
      while (receiver.received.length < expected && Date.now() < end)
        await new Promise((r) => setTimeout(r, 50));
      // time for a duplicate to show up, if either replica were to send one
      await new Promise((r) => setTimeout(r, 1000));

      expect(receiver.received).toHaveLength(expected);
      for (const key of keys) {
        expect(
          receiver
            .about(key.id)
            .map((r) => r.json.threshold)
            .sort((x, y) => x - y),
        ).toEqual(THRESHOLDS);
      }
      expect(new Set(receiver.received.map((r) => r.json.id)).size).toBe(expected);
      expect(receiver.received.every((r) => receiver.verify(r, SECRET))).toBe(true);
      const listed = await call(b, `/admin/alerts?state=delivered&limit=1000`);
      expect(listed.json.data).toHaveLength(expected);
    });
  },
);
