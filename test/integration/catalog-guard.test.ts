// Issue 23 item 7, the sync's side: one sync never retires more than CATALOG_MAX_RETIRE_SHARE of the
// stored catalog prices without an admin's say (`{"data":[]}`, a router glitch, retires nothing and
// says why), and a hostile entry (a 200,000-digit price, 1e40 per million) skips itself, not the sync.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { type CatalogSync, createCatalogSync } from '../../src/services/pricing/catalog-sync.ts';
import type { CurrentPriceView } from '../../src/services/pricing/pricing.ts';
import { BACKENDS } from '../helpers/databases.ts';
import { gatewaySuite, type TestGateway } from '../helpers/gateway.ts';
import { json } from '../helpers/requests.ts';

let body = '';
let server: Server;
let catalogUrl: string;

beforeAll(async () => {
  server = createServer(
    (_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end(body),
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  catalogUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const live = (provider: string, input: unknown = 0.1) => ({
  provider,
  status: 'live',
  pricing: { input, output: 0.2 },
});
const catalogOf = (...providers: string[]) =>
  JSON.stringify({ data: [{ id: 'guard/model', providers: providers.map((p) => live(p)) }] });

describe.each(BACKENDS)('the catalog sync guard on %s', (backend) => {
  let gw: TestGateway;
  let sync: CatalogSync;
  const lines: Array<Record<string, unknown>> = [];
  gatewaySuite({ backend }, (suite) => {
    gw = suite.gw;
    sync = createCatalogSync({
      database: gw.deps.database,
      pricing: gw.deps.pricing,
      baseUrl: catalogUrl,
      timeoutMs: 5000,
      maxRetireShare: 0.5,
      logger: createLogger({
        level: 'info',
        destination: { write: (line: string) => lines.push(JSON.parse(line)) },
      }),
    });
  });
  const stored = async () =>
    (await json<{ data: CurrentPriceView[] }>(gw.call('/admin/pricing'))).data
      .filter((p) => p.sources.catalog && !p.sources.catalog.retired)
      .map((p) => p.model_name)
      .sort();

  it('retires at most the configured share in one sync unless an admin allows more', async () => {
    body = catalogOf('a', 'b', 'c', 'd');
    expect((await sync.syncOnce()).written).toHaveLength(4);

    // a router glitch: an empty catalog retires nothing, and says why
    body = JSON.stringify({ data: [] });
    lines.length = 0;
    const glitch = await sync.syncOnce();
    expect(glitch).toMatchObject({ ok: true, retired: [] });
    expect(glitch.retireHeld).toHaveLength(4);
    expect(await stored()).toHaveLength(4);
    expect(lines.some((l) => String(l.msg).includes('--allow-retire') && l.held === 4)).toBe(true);

    // three of four gone: over half, held back too
    body = catalogOf('a');
    expect(await sync.syncOnce()).toMatchObject({
      retired: [],
      retireHeld: expect.arrayContaining(['guard/model:b']),
    });
    // half is allowed: two of four
    body = catalogOf('a', 'b');
    expect((await sync.syncOnce()).retired.sort()).toEqual(['guard/model:c', 'guard/model:d']);
    // an admin's say retires past the share
    body = JSON.stringify({ data: [] });
    expect((await sync.syncOnce({ allowRetire: true })).retired.sort()).toEqual([
      'guard/model:a',
      'guard/model:b',
    ]);
    expect(await stored()).toEqual([]);
  });

  it('skips a 200,000-digit price and a price of 1e40 per million alone; the rest is written', async () => {
    body = `{"data":[{"id":"hostile/model","providers":[
      {"provider":"long","status":"live","pricing":{"input":${'9'.repeat(200_000)},"output":1}},
      {"provider":"huge","status":"live","pricing":{"input":1e40,"output":1}},
      {"provider":"fine","status":"live","pricing":{"input":0.5,"output":1}}]}]}`;
    const result = await sync.syncOnce();
    expect(result).toMatchObject({ ok: true, written: ['hostile/model:fine'] });
    expect(result.problems).toHaveLength(2);
    expect(await stored()).toContain('hostile/model:fine');
  });
});
