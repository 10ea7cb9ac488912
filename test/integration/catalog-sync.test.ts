// The router's catalog synced into `catalog` prices (issue 15), against a local catalog server
// (node:http on port 0): several models and providers, a changed price, a removed provider, an admin
// price that wins, and garbage (not JSON, a timeout, a malformed entry) that changes nothing.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { type CatalogSync, createCatalogSync } from '../../src/services/pricing/catalog-sync.ts';
import type { CurrentPriceView } from '../../src/services/pricing/pricing.ts';
import { BACKENDS } from '../helpers/databases.ts';
import { fixtureText } from '../helpers/fixtures.ts';
import { gatewaySuite, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { json } from '../helpers/requests.ts';

type CatalogModel = { id: string; providers: Array<Record<string, unknown>> };
const original = JSON.parse(fixtureText('catalog/hf-router.models.json')) as { data: CatalogModel[] };

/** What the catalog server answers next: a body, or nothing at all (a hang). */
let answer: { body: string } | 'hang' = { body: JSON.stringify(original) };
let server: Server;
let catalogUrl: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url !== '/v1/models') return void res.writeHead(404).end();
    if (answer === 'hang') return;
    res.writeHead(200, { 'content-type': 'application/json' }).end(answer.body);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  catalogUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe.each(BACKENDS)('pricing sync from the router catalog on %s', (backend) => {
  let gw: TestGateway;
  let sync: CatalogSync;
  const lines: Array<Record<string, unknown>> = [];

  gatewaySuite({ backend }, (suite) => {
    gw = suite.gw;
    sync = createCatalogSync({
      database: gw.deps.database,
      pricing: gw.deps.pricing,
      baseUrl: catalogUrl,
      timeoutMs: 500,
      logger: createLogger({
        level: 'info',
        destination: { write: (line: string) => lines.push(JSON.parse(line)) },
      }),
    });
  });

  const current = async () => (await json<{ data: CurrentPriceView[] }>(gw.call('/admin/pricing'))).data;
  const catalogPrices = async () =>
    Object.fromEntries(
      (await current())
        .filter((p) => p.sources.catalog && !p.sources.catalog.retired)
        .map((p) => [
          p.model_name,
          `${p.sources.catalog?.input_token_cost}/${p.sources.catalog?.output_token_cost}`,
        ]),
    );
  const withCatalog = (edit: (data: CatalogModel[]) => void) => {
    const data = structuredClone(original.data);
    edit(data);
    answer = { body: JSON.stringify({ object: 'list', data }) };
  };

  it('writes a catalog version per live priced provider, per token exactly, then only what changed', async () => {
    answer = { body: JSON.stringify(original) };
    const first = await sync.syncOnce();
    expect(first).toMatchObject({ ok: true, retired: [], problems: [] });
    expect(first.written.sort()).toEqual([
      'meta-llama/Llama-3.3-70B-Instruct:sambanova',
      'openai/gpt-oss-120b:cerebras',
      'openai/gpt-oss-120b:groq',
      'openai/gpt-oss-120b:novita',
      'openai/gpt-oss-20b:groq',
    ]);
    expect(await catalogPrices()).toMatchObject({
      'openai/gpt-oss-120b:groq': '0.00000015/0.00000075',
      'openai/gpt-oss-120b:cerebras': '0.00000025/0.00000069',
      'openai/gpt-oss-20b:groq': '0.000000075/0.0000003',
    });
    // /v1/models lists the synced models, with the bare ids the router routes itself
    const ids = (await json<{ data: Array<{ id: string }> }>(gw.call('/v1/models'))).data.map((m) => m.id);
    expect(ids).toEqual(
      expect.arrayContaining(['openai/gpt-oss-120b:cerebras', 'openai/gpt-oss-20b', 'openai/gpt-oss-120b']),
    );

    const again = await sync.syncOnce();
    expect(again).toMatchObject({ ok: true, written: [], retired: [], unchanged: 5 });

    // a changed price and a removed provider
    withCatalog((data) => {
      const gpt = data[0] as CatalogModel;
      gpt.providers = gpt.providers.filter((p) => p.provider !== 'novita');
      (gpt.providers[1] as { pricing: unknown }).pricing = { input: 0.3, output: 0.69 };
    });
    expect(await sync.syncOnce()).toMatchObject({
      written: ['openai/gpt-oss-120b:cerebras'],
      retired: ['openai/gpt-oss-120b:novita'],
      unchanged: 3,
    });
    const prices = await catalogPrices();
    expect(prices['openai/gpt-oss-120b:cerebras']).toBe('0.0000003/0.00000069');
    expect(prices['openai/gpt-oss-120b:novita']).toBeUndefined();
    expect(
      gw.deps.pricing.priceBook.resolve('huggingface', 'openai/gpt-oss-120b:fastest', undefined, 'novita')
        .source,
    ).toBe('env');
  });

  it('never lets a catalog price override an admin price of the same name, and shows both side by side', async () => {
    answer = { body: JSON.stringify(original) };
    await sync.syncOnce();
    const model = 'openai/gpt-oss-20b:groq';
    await gw.call('/admin/pricing', {
      method: 'PUT',
      json: { model_name: model, input_token_cost: '0.0000001', output_token_cost: '0.0000004' },
    });
    withCatalog((data) => {
      ((data[1] as CatalogModel).providers[0] as { pricing: unknown }).pricing = { input: 0.05, output: 0.2 };
    });
    expect((await sync.syncOnce()).written).toContain(model);
    const shown = (await current()).find((p) => p.model_name === model);
    expect(shown).toMatchObject({
      source: 'admin',
      input_token_cost: '0.0000001',
      sources: {
        admin: expect.objectContaining({ input_token_cost: '0.0000001' }),
        catalog: expect.objectContaining({ input_token_cost: '0.00000005' }),
        env: null,
      },
    });
    expect(gw.deps.pricing.priceBook.resolve('huggingface', model).inputTokenCost).toBe(100_000_000_000n);
  });

  it.each([
    ['is not JSON', { body: '<html>502 Bad Gateway</html>' }, /not JSON/],
    ['times out', 'hang' as const, /timed out/],
    ['has no data array', { body: '{"models":[]}' }, /no `data` array/],
  ])('changes nothing when the catalog %s, and says so in one log line', async (_, next, reason) => {
    answer = { body: JSON.stringify(original) };
    await sync.syncOnce();
    const before = await json<{ data: unknown[] }>(gw.call('/admin/pricing?history=true'));
    answer = next;
    lines.length = 0;
    expect(await sync.syncOnce()).toMatchObject({ ok: false, written: [], retired: [] });
    expect(lines).toEqual([expect.objectContaining({ reason: expect.stringMatching(reason) })]);
    expect(await json(gw.call('/admin/pricing?history=true'))).toEqual(before);
  });

  it('leaves a malformed entry as it was while the rest of the catalog applies', async () => {
    answer = { body: JSON.stringify(original) };
    await sync.syncOnce();
    withCatalog((data) => {
      const gpt = (data[0] as CatalogModel).providers;
      (gpt[0] as { pricing: unknown }).pricing = { input: 'cheap', output: 0.75 };
      (gpt[1] as { pricing: unknown }).pricing = { input: 0.2, output: 0.69 };
    });
    lines.length = 0;
    const result = await sync.syncOnce();
    expect(result).toMatchObject({ ok: true, written: ['openai/gpt-oss-120b:cerebras'], retired: [] });
    expect(result.problems).toEqual([expect.stringMatching(/^openai\/gpt-oss-120b:groq: /)]);
    expect(lines).toEqual([expect.objectContaining({ problems: result.problems })]);
    expect((await catalogPrices())['openai/gpt-oss-120b:groq']).toBe('0.00000015/0.00000075');
  });
});

describe.each(BACKENDS)('the periodic pricing sync on %s', (backend) => {
  it('reads the catalog at start when PRICING_SYNC_INTERVAL_S > 0, with no command run', async () => {
    answer = { body: JSON.stringify(original) };
    const gw = await startTestGateway({
      backend,
      upstreamUrl: catalogUrl,
      env: { PRICING_SYNC_INTERVAL_S: '3600' },
    });
    try {
      await expect
        .poll(() => gw.deps.pricing.priceBook.resolve('huggingface', 'openai/gpt-oss-120b:cerebras').source, {
          timeout: 10_000,
        })
        .toBe('db:exact');
    } finally {
      await gw.close();
    }
  });
});
