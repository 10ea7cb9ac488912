import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { HttpResponse, http } from 'msw';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createGateway } from '../../src/gateway.ts';
import { createLogger } from '../../src/logger.ts';
import { sha256 } from '../../src/services/keys.ts';
import type { PriceView } from '../../src/services/pricing.ts';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { fixtureJson, fixtureText } from '../helpers/fixtures.ts';
import { ADMIN_KEY, gatewaySuite, HF_TOKEN, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import type { MockUpstream } from '../helpers/mock-upstream.ts';

const DEFAULT_MODEL = 'openai/gpt-oss-120b:groq';
// the fixture's usage: 81 prompt and 76 completion tokens; at the env prices 0.000309
const responseText = fixtureText('nonstream/hf-groq-gpt-oss-120b.response.json');
const request = fixtureJson<Record<string, unknown>>('nonstream/hf-groq-gpt-oss-120b.request.json');

type ErrorBody = { error: { message: string; type: string; param: string | null; code: string | null } };
type CreatedKey = { id: string; key: string; name: string; key_prefix: string; revoked_at: string | null };
type Row = Record<string, unknown>;

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

  const json = async <T>(res: Response | Promise<Response>) => (await (await res).json()) as T;
  const createKey = (name = 'app') =>
    json<CreatedKey>(gw.call('/admin/keys', { method: 'POST', json: { name } }));
  const putPrice = (body: Record<string, unknown>, on: TestGateway = gw) =>
    on.call('/admin/pricing', { method: 'PUT', json: body });
  const prices = async (query = '', on: TestGateway = gw) =>
    (await json<{ data: PriceView[] }>(on.call(`/admin/pricing${query}`))).data;

  const modelIds = async () => (await json<{ data: Row[] }>(gw.call('/v1/models'))).data.map((m) => m.id);

  /** A chat completion for model; resolves to the reply and its committed usage row. */
  async function chat(model: string, { key = ADMIN_KEY, on = gw }: { key?: string; on?: TestGateway } = {}) {
    const res = await on.call('/v1/chat/completions', { method: 'POST', json: { ...request, model }, key });
    const [row] = await on.deps.database.rows<Row>(
      sql`select * from usage_logs where request_id = ${res.headers.get('x-request-id')}`,
    );
    return { res, row };
  }

  /** An OpenAI-shaped error of the given status and code; returns its body text. */
  async function expectError(res: Response, status: number, code: string, param: string | null = null) {
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const text = await res.text();
    const body = JSON.parse(text) as ErrorBody;
    expect(body).toEqual({
      error: { message: expect.any(String), type: 'invalid_request_error', param, code },
    });
    return text;
  }

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

  describe('pricing', () => {
    it('shows the env price of the default model after start', async () => {
      const current = (await prices()).find((p) => p.model_name === DEFAULT_MODEL);
      expect(current).toMatchObject({
        provider: 'huggingface',
        input_token_cost: '0.000001',
        output_token_cost: '0.000003',
        source: 'env',
        retired: false,
      });
    });

    it('applies a PUT to the very next request, without a restart', async () => {
      const model = 'acme/exact-price:groq';
      expect((await chat(model)).row).toMatchObject({ pricing_source: 'env', pricing_id: null });
      const res = await putPrice({
        model_name: model,
        input_token_cost: '0.000002',
        output_token_cost: '0.000004',
      });
      expect(res.status).toBe(200);
      const version = (await res.json()) as PriceView;
      expect(version).toMatchObject({ provider: 'huggingface', model_name: model, source: 'admin' });

      const { res: reply, row } = await chat(model);
      // 81 × 0.000002 + 76 × 0.000004 = 0.000162 + 0.000304
      expect(reply.headers.get('x-usage-cost-usd')).toBe('0.000466');
      expect(row).toMatchObject({
        pricing_source: 'db:exact',
        input_token_cost: '0.000002',
        output_token_cost: '0.000004',
        cost_input: '0.000162',
        cost_output: '0.000304',
        cost_total: '0.000466',
      });
      expect(Number(row?.pricing_id)).toBe(version.id);
    });

    const good = {
      model_name: 'acme/bad-price',
      input_token_cost: '0.000001',
      output_token_cost: '0.000003',
    };
    it.each([
      ['input_token_cost', { ...good, input_token_cost: 0.000001 }],
      ['output_token_cost', { ...good, output_token_cost: 3e-6 }],
      ['input_token_cost', { ...good, input_token_cost: '-0.000001' }],
      ['output_token_cost', { ...good, output_token_cost: '-1' }],
      ['input_token_cost', { ...good, input_token_cost: '1e-6' }],
      ['model_name', { input_token_cost: '0.000001', output_token_cost: '0.000003' }],
    ])('refuses a price with a bad %s (400), writing nothing', async (field, body) => {
      const before = (await prices('?history=true')).length;
      const res = await putPrice(body);
      const text = await expectError(res, 400, 'invalid_parameter', field);
      expect(text).toContain(field);
      expect(await prices('?history=true')).toHaveLength(before);
    });

    it('retires a price with DELETE: the next request falls to the next step', async () => {
      const model = 'acme/retired-price:groq';
      const version = await json<PriceView>(
        putPrice({ model_name: model, input_token_cost: '0.000002', output_token_cost: '0.000004' }),
      );
      expect((await chat(model)).row).toMatchObject({ pricing_source: 'db:exact', cost_total: '0.000466' });
      expect(await modelIds()).toContain(model);
      const res = await gw.call(`/admin/pricing/${version.id}`, { method: 'DELETE' });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ model_name: model, retired: true });

      expect((await chat(model)).row).toMatchObject({
        pricing_source: 'env',
        pricing_id: null,
        cost_total: '0.000309',
      });
      expect((await prices()).map((p) => p.model_name)).not.toContain(model);
      expect(await modelIds()).not.toContain(model);
    });

    it('does not use or list a price before its effective_from', async () => {
      const model = 'acme/scheduled-price:groq';
      const scheduled = { model_name: model, input_token_cost: '0.000002', output_token_cost: '0.000004' };
      const res = await putPrice({ ...scheduled, effective_from: '2999-01-01T00:00:00Z' });
      expect(res.status).toBe(200);
      expect((await chat(model)).row).toMatchObject({ pricing_source: 'env', cost_total: '0.000309' });
      expect((await prices()).map((p) => p.model_name)).not.toContain(model);
      expect((await prices('?history=true')).map((p) => p.model_name)).toContain(model);
      expect(await modelIds()).not.toContain(model);
    });

    it('answers 404 to retiring an unknown price, and 400 to a malformed id', async () => {
      await expectError(await gw.call('/admin/pricing/987654', { method: 'DELETE' }), 404, 'not_found');
      await expectError(
        await gw.call('/admin/pricing/abc', { method: 'DELETE' }),
        400,
        'invalid_parameter',
        'id',
      );
    });

    it('lists the current versions, and every version with ?history=true', async () => {
      const model = 'acme/history-price';
      const first = await json<PriceView>(
        putPrice({ model_name: model, input_token_cost: '0.1', output_token_cost: '0.2' }),
      );
      const second = await json<PriceView>(
        putPrice({ model_name: model, input_token_cost: '0.3', output_token_cost: '0.4' }),
      );
      const current = (await prices()).filter((p) => p.model_name === model);
      expect(current.map((p) => p.id)).toEqual([second.id]);
      const history = (await prices('?history=true')).filter((p) => p.model_name === model);
      expect(history.map((p) => [p.id, p.input_token_cost, p.output_token_cost])).toEqual([
        [first.id, '0.1', '0.2'],
        [second.id, '0.3', '0.4'],
      ]);
      await expectError(await gw.call('/admin/pricing?history=yes'), 400, 'invalid_parameter', 'history');
    });

    it('uses short-name and default prices for other models, in the chain order', async () => {
      // `default` applies to every model: this test has a gateway of its own
      const fresh = await startTestGateway({ backend, upstreamUrl: upstream.url });
      try {
        const on = fresh;
        const short = await json<PriceView>(
          putPrice(
            { model_name: 'gpt-oss-120b', input_token_cost: '0.0000005', output_token_cost: '0.0000015' },
            on,
          ),
        );
        const fallback = await json<PriceView>(
          putPrice(
            { model_name: 'default', input_token_cost: '0.00000015', output_token_cost: '0.0000006' },
            on,
          ),
        );
        const envVersion = (await prices('', on)).find((p) => p.model_name === DEFAULT_MODEL);
        const priced = async (model: string) => {
          const { row } = await chat(model, { on });
          return [
            row?.pricing_source,
            row?.pricing_id === null ? null : Number(row?.pricing_id),
            row?.cost_total,
          ];
        };
        // 81 × 0.0000005 + 76 × 0.0000015 = 0.0001545; 81 × 0.00000015 + 76 × 0.0000006 = 0.00005775
        expect(await priced(DEFAULT_MODEL)).toEqual(['db:exact', envVersion?.id, '0.000309']);
        expect(await priced('openai/gpt-oss-120b:cerebras')).toEqual(['db:short', short.id, '0.0001545']);
        expect(await priced('meta-llama/Llama-3.3-70B-Instruct')).toEqual([
          'db:default',
          fallback.id,
          '0.00005775',
        ]);

        await on.call(`/admin/pricing/${short.id}`, { method: 'DELETE' });
        expect(await priced('openai/gpt-oss-120b:cerebras')).toEqual([
          'db:default',
          fallback.id,
          '0.00005775',
        ]);
        await on.call(`/admin/pricing/${fallback.id}`, { method: 'DELETE' });
        expect(await priced('meta-llama/Llama-3.3-70B-Instruct')).toEqual(['env', null, '0.000309']);
      } finally {
        await fresh.close();
      }
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

describe.each(BACKENDS)('pricing initialized from the env at each start on %s', (backend) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(backend);
  });
  afterAll(() => database.drop());

  /** Builds a gateway on the shared database, runs fn against it, and closes it (a restart). */
  async function start<T>(model: string, prices: [string, string], fn: (app: Gateway) => Promise<T>) {
    const config = loadConfig({
      ADMIN_API_KEY: ADMIN_KEY,
      UPSTREAM_BASE_URL: 'http://127.0.0.1:9/v1',
      DATA_DIR: mkdtempSync(join(tmpdir(), 'tollgate-test-')),
      DEFAULT_MODEL: model,
      HUGGINGFACE_INPUT_TOKEN_COST: prices[0],
      HUGGINGFACE_OUTPUT_TOKEN_COST: prices[1],
      LOG_LEVEL: 'silent',
    });
    const gateway = await createGateway(config, {
      database: database.database,
      logger: createLogger({ level: 'silent' }),
    });
    try {
      return await fn(gateway);
    } finally {
      await gateway.close();
    }
  }
  type Gateway = Awaited<ReturnType<typeof createGateway>>;
  const admin = { authorization: `Bearer ${ADMIN_KEY}` };
  const history = async (gateway: Gateway, model: string) =>
    (
      (await (await gateway.app.request('/admin/pricing?history=true', { headers: admin })).json()) as {
        data: PriceView[];
      }
    ).data
      .filter((p) => p.model_name === model)
      .map((p) => [p.source, p.input_token_cost, p.output_token_cost]);

  it('adds no version when restarted with the same env prices', async () => {
    const model = 'acme/same-env';
    await start(model, ['0.000001', '0.000003'], async () => {});
    // the same prices, written differently
    const versions = await start(model, ['0.0000010', '0.000003000'], (gateway) => history(gateway, model));
    expect(versions).toEqual([['env', '0.000001', '0.000003']]);
  });

  it('adds a version when restarted with different env prices, and prices with it', async () => {
    const model = 'acme/changed-env';
    await start(model, ['0.000001', '0.000003'], async () => {});
    await start(model, ['0.000002', '0.000005'], async (gateway) => {
      expect(await history(gateway, model)).toEqual([
        ['env', '0.000001', '0.000003'],
        ['env', '0.000002', '0.000005'],
      ]);
      const price = gateway.deps.pricing.priceBook.resolve('huggingface', model);
      expect(price.source).toBe('db:exact');
    });
  });

  it('never overrides an admin price for the default model on restart', async () => {
    const model = 'acme/admin-owned';
    await start(model, ['0.000001', '0.000003'], async (gateway) => {
      const res = await gateway.app.request('/admin/pricing', {
        method: 'PUT',
        headers: { ...admin, 'content-type': 'application/json' },
        body: JSON.stringify({
          model_name: model,
          input_token_cost: '0.000004',
          output_token_cost: '0.000008',
        }),
      });
      expect(res.status).toBe(200);
    });
    await start(model, ['0.000002', '0.000005'], async (gateway) => {
      expect(await history(gateway, model)).toEqual([
        ['env', '0.000001', '0.000003'],
        ['admin', '0.000004', '0.000008'],
      ]);
      const current = (
        (await (await gateway.app.request('/admin/pricing', { headers: admin })).json()) as {
          data: PriceView[];
        }
      ).data.find((p) => p.model_name === model);
      expect(current).toMatchObject({ source: 'admin', input_token_cost: '0.000004' });
    });
  });
});
