// What keeps one key in check on every replica: revocation that holds when a notification is lost
// (the key cache's TTL), and max_concurrent requests in flight per gateway process.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpResponse, http } from 'msw';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { type Database, openDatabase } from '../../src/db/client.ts';
import { createGateway, type Gateway } from '../../src/gateway.ts';
import { createLogger } from '../../src/logger.ts';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { fixtureText } from '../helpers/fixtures.ts';
import { ADMIN_KEY, gatewaySuite, type TestGateway } from '../helpers/gateway.ts';
import { type MockUpstream, startMockUpstream } from '../helpers/mock-upstream.ts';

const body = { model: 'openai/gpt-oss-120b:groq', messages: [{ role: 'user', content: 'hi' }] };
const usage = { usage: { prompt_tokens: 10, completion_tokens: 5 } };
const TTL_MS = 300;

type KeyView = { id: string; key: string; max_concurrent: number | null };

const call = (on: Gateway, path: string, init: { method?: string; json?: unknown; key?: string } = {}) =>
  Promise.resolve(
    on.app.request(path, {
      method: init.method ?? 'GET',
      headers: {
        authorization: `Bearer ${init.key ?? ADMIN_KEY}`,
        ...(init.json === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }),
    }),
  );

describe.each(BACKENDS)('revocation with a lost notification on %s', (backend) => {
  let upstream: MockUpstream;
  let test: TestDatabase;
  let deaf: Database | undefined;
  const replicas: Gateway[] = [];

  beforeAll(async () => {
    upstream = await startMockUpstream(http.post('*/chat/completions', () => HttpResponse.json(usage)));
    test = await createTestDatabase(backend);
    const config = () =>
      loadConfig({
        ADMIN_API_KEY: ADMIN_KEY,
        UPSTREAM_BASE_URL: upstream.url,
        DATA_DIR: mkdtempSync(join(tmpdir(), 'tollgate-guards-')),
        LOG_LEVEL: 'silent',
        KEY_CACHE_TTL_MS: String(TTL_MS),
      });
    const logger = createLogger({ level: 'silent' });
    replicas.push(await createGateway(config(), { database: test.database, logger }));
    // the second replica never hears a NOTIFY: its own connection (on PostgreSQL), its listen a no-op
    deaf = test.url ? await openDatabase({ databaseUrl: test.url }) : undefined;
    const base = deaf ?? test.database;
    const database: Database = { ...base, listen: async () => async () => {} };
    replicas.push(await createGateway(config(), { database, logger }));
  });
  afterAll(async () => {
    for (const replica of replicas) await replica.close();
    await deaf?.close();
    await test.drop();
    await upstream.close();
  });

  it('refuses a key revoked on another replica within the cache TTL', async () => {
    const [a, b] = replicas as [Gateway, Gateway];
    const key = (await (
      await call(a, '/admin/keys', { method: 'POST', json: { name: 'soon revoked' } })
    ).json()) as KeyView;
    expect((await call(b, '/v1/chat/completions', { method: 'POST', json: body, key: key.key })).status).toBe(
      200,
    );

    expect((await call(a, `/admin/keys/${key.id}`, { method: 'DELETE' })).status).toBe(200);
    expect((await call(a, '/v1/chat/completions', { method: 'POST', json: body, key: key.key })).status).toBe(
      401,
    );
    const revokedAt = performance.now();
    let status = 200;
    while (status === 200 && performance.now() - revokedAt < 10 * TTL_MS) {
      status = (await call(b, '/v1/chat/completions', { method: 'POST', json: body, key: key.key })).status;
      if (status === 200) await new Promise((r) => setTimeout(r, 25));
    }
    expect(status).toBe(401);
    // the TTL, plus one request's time and a timer's lateness on a loaded machine
    expect(performance.now() - revokedAt).toBeLessThan(TTL_MS + 1000);
  });
});

describe.each(BACKENDS)('max_concurrent on %s', (backend) => {
  let upstream: MockUpstream;
  let gw: TestGateway;
  gatewaySuite(
    { backend, handlers: [http.post('*/chat/completions', () => HttpResponse.json(usage))] },
    (suite) => ({ gw, upstream } = suite),
  );

  const createKey = async (maxConcurrent: number) =>
    (await (
      await gw.call('/admin/keys', {
        method: 'POST',
        json: { name: 'narrow', max_concurrent: maxConcurrent },
      })
    ).json()) as KeyView;
  const chat = (key: string, json: unknown = body) =>
    gw.call('/v1/chat/completions', { method: 'POST', json, key });

  /** an upstream that holds every request until open() */
  const gate = () => {
    let open = () => {};
    const opened = new Promise<void>((resolve) => {
      open = resolve;
    });
    upstream.use(
      http.post('*/chat/completions', async () => {
        await opened;
        return HttpResponse.json(usage);
      }),
    );
    return open;
  };

  it('refuses the request past max_concurrent with 429 and retry-after, and frees the slot at the end', async () => {
    const key = await createKey(2);
    expect(key.max_concurrent).toBe(2);
    const open = gate();
    const held = [chat(key.key), chat(key.key)];
    while (upstream.requests.length < 2) await new Promise((r) => setTimeout(r, 10));
    const refused = await chat(key.key);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe(
      'concurrency_limit_exceeded',
    );
    open();
    for (const res of await Promise.all(held)) expect(res.status).toBe(200);
    expect(gw.deps.limits.inFlight(key.id)).toBe(0);
    expect((await chat(key.key)).status).toBe(200);
  });

  it('frees the slot of a failed request and of a finished stream', async () => {
    const key = await createKey(1);
    upstream.use(
      http.post('*/chat/completions', () => HttpResponse.json({ error: { message: 'x' } }, { status: 500 })),
    );
    expect((await chat(key.key)).status).toBe(502);
    upstream.reset();
    upstream.use(
      http.post(
        '*/chat/completions',
        () =>
          new HttpResponse(fixtureText('stream/hf-groq-gpt-oss-120b.include-usage.sse'), {
            headers: { 'content-type': 'text/event-stream' },
          }),
      ),
    );
    const stream = await chat(key.key, { ...body, stream: true });
    expect(stream.status).toBe(200);
    expect(gw.deps.limits.inFlight(key.id)).toBe(1);
    await stream.text();
    expect(gw.deps.limits.inFlight(key.id)).toBe(0);
    upstream.reset();
    expect((await chat(key.key)).status).toBe(200);
  });

  it('shows max_concurrent in GET /admin/keys and clears it with PATCH null', async () => {
    const key = await createKey(3);
    const listed = async () =>
      ((await (await gw.call('/admin/keys')).json()) as { data: KeyView[] }).data.find(
        (k) => k.id === key.id,
      );
    expect((await listed())?.max_concurrent).toBe(3);
    const patched = await gw.call(`/admin/keys/${key.id}`, {
      method: 'PATCH',
      json: { max_concurrent: null },
    });
    expect(((await patched.json()) as KeyView).max_concurrent).toBeNull();
    expect((await listed())?.max_concurrent).toBeNull();
    const bad = await gw.call('/admin/keys', { method: 'POST', json: { name: 'x', max_concurrent: 0 } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { param: string } }).error.param).toBe('max_concurrent');
  });
});
