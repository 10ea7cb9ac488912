// Prices: the admin routes, the resolver's chain through real requests, and the env prices written at
// each start.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpResponse, http } from 'msw';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createGateway } from '../../src/gateway.ts';
import { createLogger } from '../../src/logger.ts';
import type { PriceView } from '../../src/services/pricing/pricing.ts';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { fixtureText } from '../helpers/fixtures.ts';
import { ADMIN_KEY, gatewaySuite, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import type { MockUpstream } from '../helpers/mock-upstream.ts';
import { chatWithRow, expectError, json, type Row } from '../helpers/requests.ts';

const DEFAULT_MODEL = 'openai/gpt-oss-120b:groq';
// the fixture's usage: 81 prompt and 76 completion tokens; at the env prices 0.000309
const responseText = fixtureText('nonstream/hf-groq-gpt-oss-120b.response.json');

describe.each(BACKENDS)('pricing on %s', (backend) => {
  let upstream: MockUpstream;
  let gw: TestGateway;

  gatewaySuite(
    {
      backend,
      handlers: [
        http.post(
          '*/chat/completions',
          () => new HttpResponse(responseText, { headers: { 'content-type': 'application/json' } }),
        ),
      ],
    },
    (suite) => ({ gw, upstream } = suite),
  );

  const putPrice = (body: Record<string, unknown>, on: TestGateway = gw) =>
    on.call('/admin/pricing', { method: 'PUT', json: body });
  const prices = async (query = '', on: TestGateway = gw) =>
    (await json<{ data: PriceView[] }>(on.call(`/admin/pricing${query}`))).data;
  const modelIds = async () => (await json<{ data: Row[] }>(gw.call('/v1/models'))).data.map((m) => m.id);
  const chat = (model: string, { key, on = gw }: { key?: string; on?: TestGateway } = {}) =>
    chatWithRow(on, model, key);

  describe('prices', () => {
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
