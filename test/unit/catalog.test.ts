// The router's catalog read into per-token prices: exact conversion, live providers only, and a
// malformed entry that leaves only itself unchanged.
import { describe, expect, it } from 'vitest';
import { CatalogError, parseCatalog } from '../../src/billing/catalog.ts';
import { formatDecimal } from '../../src/billing/money.ts';

const prices = (text: string) =>
  parseCatalog(text).prices.map((p) => [
    p.modelName,
    formatDecimal(p.inputTokenCost),
    formatDecimal(p.outputTokenCost),
  ]);

describe('the router catalog', () => {
  it('prices each live provider of each model from its USD-per-million prices, exactly', () => {
    const text = JSON.stringify({
      object: 'list',
      data: [
        {
          id: 'openai/gpt-oss-120b',
          providers: [
            { provider: 'groq', status: 'live', pricing: { input: 0.15, output: 0.75 } },
            { provider: 'cerebras', status: 'live', pricing: { input: 0.25, output: 0.69 } },
            { provider: 'novita', status: 'staging', pricing: { input: 0.1, output: 0.5 } },
            { provider: 'nebius', status: 'live' },
          ],
        },
      ],
    });
    expect(prices(text)).toEqual([
      ['openai/gpt-oss-120b:groq', '0.00000015', '0.00000075'],
      ['openai/gpt-oss-120b:cerebras', '0.00000025', '0.00000069'],
    ]);
  });

  it('reads numbers from their text, scientific notation included, never through a float', () => {
    const text =
      '{"data":[{"id":"a/b","providers":[{"provider":"p","status":"live","pricing":{"input":1.1e-1,"output":"0.300000000004"}}]}]}';
    expect(prices(text)).toEqual([['a/b:p', '0.00000011', '0.000000300000000004']]);
  });

  it('skips a malformed entry, says why, and keeps it from being retired', () => {
    const catalog = parseCatalog(
      JSON.stringify({
        data: [
          {
            id: 'a/m',
            providers: [
              { provider: 'good', status: 'live', pricing: { input: 1, output: 2 } },
              { provider: 'bad', status: 'live', pricing: { input: 'free', output: 2 } },
              { provider: 'neg', status: 'live', pricing: { input: -1, output: 2 } },
              { provider: 'gone', status: 'offline', pricing: { input: 1, output: 2 } },
            ],
          },
        ],
      }),
    );
    expect(catalog.prices.map((p) => p.modelName)).toEqual(['a/m:good']);
    expect(catalog.problems).toEqual([
      expect.stringMatching(/^a\/m:bad: /),
      expect.stringMatching(/^a\/m:neg: /),
    ]);
    expect(catalog.retires('a/m:bad')).toBe(false);
    expect(catalog.retires('a/m:neg')).toBe(false);
    // not live, or no longer listed under a listed model: the catalog prices it no more
    expect(catalog.retires('a/m:gone')).toBe(true);
    expect(catalog.retires('a/m:removed')).toBe(true);
    // a model absent from a complete catalog
    expect(catalog.retires('x/absent:groq')).toBe(true);
  });

  it('retires nothing of a model whose providers it cannot read, nor of unlisted models when an entry has no id', () => {
    const catalog = parseCatalog(
      JSON.stringify({
        data: [{ id: 'a/m', providers: [{ status: 'live' }] }, { providers: [] }, 'garbage'],
      }),
    );
    expect(catalog.prices).toEqual([]);
    expect(catalog.problems).toHaveLength(3);
    expect(catalog.retires('a/m:groq')).toBe(false);
    expect(catalog.retires('x/absent:groq')).toBe(false);
  });

  it('refuses a document that is not JSON or has no data array, as a whole', () => {
    expect(() => parseCatalog('<html>502</html>')).toThrow(CatalogError);
    expect(() => parseCatalog('{"models":[]}')).toThrow(/no `data` array/);
  });
});
