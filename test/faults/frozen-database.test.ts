// A PostgreSQL that hangs instead of refusing (SIGSTOP: sockets open, nothing answers). Every request
// still gets an answer within a bounded time: unknown keys and closed-mode limits a 503, open-mode
// limits an admission, admin reads a 503 database_unavailable in OpenAI's shape.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpResponse, http } from 'msw';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createGateway, type Gateway } from '../../src/gateway.ts';
import { createLogger } from '../../src/logger.ts';
import { ADMIN_KEY } from '../helpers/gateway.ts';
import { type MockUpstream, startMockUpstream } from '../helpers/mock-upstream.ts';
import {
  type PostgresInstance,
  postgresUnavailable,
  startPostgresInstance,
} from '../helpers/postgres-instance.ts';

const body = {
  model: 'openai/gpt-oss-120b:groq',
  messages: [{ role: 'user', content: 'hi' }],
  max_tokens: 10,
};
const DEADLINE_MS = 500;
const STATEMENT_MS = 1000;

type KeyView = { id: string; key: string };
type ErrorBody = { error: { message: string; type: string; param: string | null; code: string | null } };

const call = async (
  on: Gateway,
  path: string,
  init: { method?: string; json?: unknown; key?: string } = {},
) => {
  const started = performance.now();
  const res = await on.app.request(path, {
    method: init.method ?? 'GET',
    headers: {
      authorization: `Bearer ${init.key ?? ADMIN_KEY}`,
      ...(init.json === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }),
  });
  return { res, ms: performance.now() - started };
};
const chat = (on: Gateway, key: string) =>
  call(on, '/v1/chat/completions', { method: 'POST', json: body, key });

async function expectUnavailable(res: Response, code: string) {
  expect(res.status).toBe(503);
  expect(res.headers.get('retry-after')).toBe('1');
  const { error } = (await res.json()) as ErrorBody;
  expect(error).toEqual({ message: expect.any(String), type: 'api_error', param: null, code });
}

describe.skipIf(postgresUnavailable())('a frozen PostgreSQL', () => {
  let pg: PostgresInstance;
  let upstream: MockUpstream;
  let closed: Gateway;
  let open: Gateway;
  let limited: KeyView;
  let unseen: KeyView;

  const gateway = (failMode: 'open' | 'closed') =>
    createGateway(
      loadConfig({
        DATABASE_URL: pg.url,
        ADMIN_API_KEY: ADMIN_KEY,
        UPSTREAM_BASE_URL: upstream.url,
        DATA_DIR: mkdtempSync(join(tmpdir(), 'tollgate-frozen-')),
        LIMITS_FAIL_MODE: failMode,
        DATABASE_TIMEOUT_MS: String(DEADLINE_MS),
        DATABASE_STATEMENT_TIMEOUT_MS: String(STATEMENT_MS),
        // cached keys stay cached: what is measured here is the limits' and lookups' own deadline
        KEY_CACHE_TTL_MS: '600000',
      }),
      { logger: createLogger({ level: 'silent' }) },
    );

  beforeAll(async () => {
    upstream = await startMockUpstream(
      http.post('*/chat/completions', () =>
        HttpResponse.json({ usage: { prompt_tokens: 5, completion_tokens: 5 } }),
      ),
    );
    pg = await startPostgresInstance();
    closed = await gateway('closed');
    open = await gateway('open');
    const create = async (name: string, json: Record<string, unknown>) =>
      (await (
        await call(closed, '/admin/keys', { method: 'POST', json: { name, ...json } })
      ).res.json()) as KeyView;
    limited = await create('limited', { monthly_budget_usd: '10', rpm_limit: 1000 });
    unseen = await create('unseen', {});
    // both gateways know the limited key before the freeze
    expect((await chat(closed, limited.key)).res.status).toBe(200);
    expect((await chat(open, limited.key)).res.status).toBe(200);
    pg.freeze();
  }, 120_000);
  afterAll(async () => {
    pg?.thaw();
    await closed?.close();
    await open?.close();
    pg?.destroy();
    await upstream?.close();
  }, 60_000);

  it('answers a key it has never seen with 503 database_unavailable, in either mode', async () => {
    for (const on of [closed, open]) {
      const { res, ms } = await chat(on, unseen.key);
      await expectUnavailable(res, 'database_unavailable');
      expect(ms).toBeLessThan(DEADLINE_MS + 1500);
    }
  }, 30_000);

  it('refuses a limited key with 503 limits_unavailable when failing closed', async () => {
    const { res, ms } = await chat(closed, limited.key);
    await expectUnavailable(res, 'limits_unavailable');
    expect(ms).toBeLessThan(DEADLINE_MS + 1500);
  }, 30_000);

  it('admits a limited key when failing open (the row goes to the spool)', async () => {
    const { res, ms } = await chat(open, limited.key);
    expect(res.status).toBe(200);
    // the limits' deadline, then the recorder's insert deadline (3 s) before the spool takes the row
    expect(ms).toBeLessThan(DEADLINE_MS + 3000 + 2000);
  }, 30_000);

  it.each(['/usage', '/usage/summary?group_by=model', '/admin/keys', '/admin/pricing'])(
    'answers GET %s with 503 database_unavailable',
    async (path) => {
      const { res, ms } = await call(closed, path);
      await expectUnavailable(res, 'database_unavailable');
      expect(ms).toBeLessThan(STATEMENT_MS + 2000);
    },
    30_000,
  );

  it('serves again once the database is back', async () => {
    pg.thaw();
    const deadline = performance.now() + 20_000;
    let status = 0;
    while (status !== 200 && performance.now() < deadline) {
      status = (await chat(closed, unseen.key)).res.status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(200);
    expect((await call(closed, '/usage')).res.status).toBe(200);
  }, 30_000);
});
