// Admin keys and auth, models, health, and bad input to chat completions (pricing: pricing.test.ts).
import { HttpResponse, http } from 'msw';
import { describe, expect, it } from 'vitest';
import { sha256 } from '../../src/services/admission/keys.ts';
import { BACKENDS } from '../helpers/databases.ts';
import { fixtureText } from '../helpers/fixtures.ts';
import { ADMIN_KEY, gatewaySuite, HF_TOKEN, type TestGateway } from '../helpers/gateway.ts';
import type { MockUpstream } from '../helpers/mock-upstream.ts';
import { chatWithRow, expectError, json, type Row, chatRequest as request } from '../helpers/requests.ts';

const DEFAULT_MODEL = 'openai/gpt-oss-120b:groq';
// the fixture's usage: 81 prompt and 76 completion tokens; at the env prices 0.000309
const responseText = fixtureText('nonstream/hf-groq-gpt-oss-120b.response.json');

type CreatedKey = { id: string; key: string; name: string; key_prefix: string; revoked_at: string | null };

describe.each(BACKENDS)('admin, auth, models and health routes on %s', (backend) => {
  let upstream: MockUpstream;
  let gw: TestGateway;

  gatewaySuite(
    {
      backend,
      env: { MAX_BODY_BYTES: '2048' },
      handlers: [
        http.post(
          '*/chat/completions',
          () => new HttpResponse(responseText, { headers: { 'content-type': 'application/json' } }),
        ),
      ],
    },
    (suite) => ({ gw, upstream } = suite),
  );

  const createKey = (name = 'app') =>
    json<CreatedKey>(gw.call('/admin/keys', { method: 'POST', json: { name } }));
  const chat = (model: string, { key, on = gw }: { key?: string; on?: TestGateway } = {}) =>
    chatWithRow(on, model, key);

  describe('keys and auth', () => {
    it('shows a new key’s secret once, and never its secret or hash in the list', async () => {
      const res = await gw.call('/admin/keys', { method: 'POST', json: { name: 'billing-app' } });
      expect(res.status).toBe(201);
      const created = (await res.json()) as CreatedKey;
      expect(created.key).toMatch(/^tg-[A-Za-z0-9_-]{20,}$/);
      expect(created.key.startsWith(created.key_prefix)).toBe(true);

      const listed = await gw.call('/admin/keys');
      const text = await listed.text();
      expect(text).not.toContain(created.key);
      expect(text).not.toContain(sha256(created.key).toString('hex'));
      const entry = (JSON.parse(text) as { data: Row[] }).data.find((k) => k.id === created.id);
      expect(entry).toMatchObject({ name: 'billing-app', key_prefix: created.key_prefix, revoked_at: null });
      expect(entry).not.toHaveProperty('key');
      expect(entry).not.toHaveProperty('key_hash');
    });

    it('lets a new key list models and meters its chat completions under its id', async () => {
      const { id, key } = await createKey();
      expect((await gw.call('/v1/models', { key })).status).toBe(200);
      const { res, row } = await chat(DEFAULT_MODEL, { key });
      expect(res.status).toBe(200);
      expect(row).toMatchObject({ api_key_id: id, status: 'ok', cost_total: '0.000309' });
      // the client's key stays at the gateway
      expect(upstream.requests.map((r) => r.headers.authorization)).toEqual([`Bearer ${HF_TOKEN}`]);
    });

    it.each([
      ['GET', '/admin/keys'],
      ['POST', '/admin/keys'],
      ['DELETE', '/admin/keys/key_anything'],
      ['GET', '/admin/pricing'],
      ['PUT', '/admin/pricing'],
      ['GET', '/usage'],
      ['GET', '/usage/summary?group_by=day'],
    ])('refuses a client key on %s %s with 403', async (method, path) => {
      const { key } = await createKey();
      const res = await gw.call(path, { method, key, ...(method === 'GET' ? {} : { json: { name: 'x' } }) });
      expect(await expectError(res, 403, 'insufficient_permissions')).not.toContain(key);
    });

    it.each([
      ['no key', null],
      ['an unknown gateway key', 'tg-not-a-key-0123456789abcdefghij'],
      ['a foreign key', 'sk-proj-0123456789abcdefghij'],
    ])('answers 401 invalid_api_key to %s on client and admin routes', async (_what, key) => {
      for (const path of ['/v1/models', '/v1/chat/completions', '/admin/keys', '/usage']) {
        const method = path === '/v1/chat/completions' ? 'POST' : 'GET';
        const res = await gw.call(path, { method, key, ...(method === 'POST' ? { json: request } : {}) });
        const text = await expectError(res, 401, 'invalid_api_key');
        if (key) expect(text).not.toContain(key);
      }
      expect(
        await expectError(
          await gw.call('/v1/models', { headers: { authorization: `Basic ${ADMIN_KEY}` } }),
          401,
          'invalid_api_key',
        ),
      ).not.toContain(ADMIN_KEY);
      expect(upstream.requests).toHaveLength(0);
    });

    it('revokes a key: its next call is refused and nothing reaches the upstream', async () => {
      const { id, key } = await createKey();
      expect((await gw.call('/v1/models', { key })).status).toBe(200);
      const res = await gw.call(`/admin/keys/${id}`, { method: 'DELETE' });
      expect(res.status).toBe(200);
      expect(((await res.json()) as CreatedKey).revoked_at).not.toBeNull();
      await expectError(await gw.call('/v1/models', { key }), 401, 'invalid_api_key');
      await expectError((await chat(DEFAULT_MODEL, { key })).res, 401, 'invalid_api_key');
      expect(upstream.requests).toHaveLength(0);
    });

    it('answers 404 to revoking an unknown key', async () => {
      await expectError(await gw.call('/admin/keys/key_nope', { method: 'DELETE' }), 404, 'not_found');
    });
  });

  describe('models and health', () => {
    it('lists the default model in OpenAI’s list format', async () => {
      const res = await gw.call('/v1/models');
      expect(res.status).toBe(200);
      const body = (await res.json()) as { object: string; data: Row[] };
      expect(body.object).toBe('list');
      expect(body.data).toContainEqual({
        id: DEFAULT_MODEL,
        object: 'model',
        created: expect.any(Number),
        owned_by: 'openai',
      });
      for (const model of body.data) expect(model).toMatchObject({ id: expect.any(String), object: 'model' });
    });

    it('answers /healthz and /readyz without a key while the database is up', async () => {
      const health = await gw.call('/healthz', { key: null });
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: 'ok' });
      const ready = await gw.call('/readyz', { key: null });
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'ready', database: 'up' });
    });
  });

  describe('bad input to chat completions', () => {
    const post = (key: string, body: string) =>
      gw.call('/v1/chat/completions', {
        method: 'POST',
        key,
        body,
        headers: { 'content-type': 'application/json' },
      });

    it.each([
      [
        'a body over MAX_BODY_BYTES',
        JSON.stringify({ ...request, pad: 'x'.repeat(4096) }),
        413,
        'payload_too_large',
        null,
      ],
      ['a body that is not JSON', '{"model": "openai/gpt-oss-120b:groq",', 400, 'invalid_json', null],
      ['no model', JSON.stringify({ messages: request.messages }), 400, 'invalid_parameter', 'model'],
      [
        'messages that are not an array',
        JSON.stringify({ model: DEFAULT_MODEL, messages: 'hi' }),
        400,
        'invalid_parameter',
        'messages',
      ],
      [
        'stream that is not a boolean',
        JSON.stringify({ ...request, stream: 'yes' }),
        400,
        'invalid_parameter',
        'stream',
      ],
    ])(
      'refuses %s without calling the upstream or echoing the key',
      async (_what, body, status, code, param) => {
        const { key } = await createKey();
        const text = await expectError(await post(key, body), status, code, param);
        expect(text).not.toContain(key);
        expect(upstream.requests).toHaveLength(0);
      },
    );

    it('answers an unknown route with a 404 in OpenAI’s shape', async () => {
      const { key } = await createKey();
      const text = await expectError(await gw.call('/v1/engines', { key }), 404, 'not_found');
      expect(text).not.toContain(key);
      await expectError(await gw.call('/nowhere', { key: null }), 404, 'not_found');
      expect(upstream.requests).toHaveLength(0);
    });
  });
});
