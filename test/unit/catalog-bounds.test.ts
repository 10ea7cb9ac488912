// Issue 23 item 7: the catalog is trusted only so far. Its size, its models, its providers per model
// and its prices are bounded; an entry past a bound (a price of 1e40, a 200,000-digit price, a
// non-number, a huge nested object) skips itself alone, and the rest of the catalog still applies.
import { describe, expect, it } from 'vitest';
import { CatalogError, DEFAULT_CATALOG_BOUNDS, parseCatalog } from '../../src/billing/catalog.ts';
import { formatDecimal } from '../../src/billing/money.ts';

const good = { provider: 'groq', status: 'live', pricing: { input: 0.15, output: 0.75 } };
const model = (id: string, ...providers: unknown[]) => ({ id, providers: [good, ...providers] });
const names = (text: string, bounds = DEFAULT_CATALOG_BOUNDS) =>
  parseCatalog(text, bounds).prices.map((p) => `${p.modelName}=${formatDecimal(p.inputTokenCost)}`);

describe('the catalog bounds', () => {
  it('skips a price above CATALOG_MAX_PRICE_PER_MILLION and keeps its name from retiring', () => {
    const text = `{"data":[${JSON.stringify(model('a/b'))},{"id":"c/d","providers":[{"provider":"x","status":"live","pricing":{"input":1e40,"output":1}},{"provider":"y","status":"live","pricing":{"input":1000,"output":1000.000001}},{"provider":"z","status":"live","pricing":{"input":1000,"output":0}}]}]}`;
    const catalog = parseCatalog(text);
    expect(catalog.prices.map((p) => p.modelName)).toEqual(['a/b:groq', 'c/d:z']);
    expect(catalog.problems).toEqual([
      'c/d:x: 1e40 per million is above the highest accepted price',
      'c/d:y: 1000.000001 per million is above the highest accepted price',
    ]);
    expect(catalog.retires('c/d:x')).toBe(false);
    // the bound is configurable
    expect(names(text, { ...DEFAULT_CATALOG_BOUNDS, maxPricePerMillion: '2000' })).toContain('c/d:y=0.001');
  });

  it('skips a 200,000-digit price, a non-number and a huge nested object alone', () => {
    const digits = '9'.repeat(200_000);
    const deep = `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`;
    const text = `{"data":[${JSON.stringify(model('a/b'))},{"id":"c/d","providers":[
      {"provider":"long","status":"live","pricing":{"input":${digits},"output":1}},
      {"provider":"word","status":"live","pricing":{"input":"cheap","output":1}},
      {"provider":"deep","status":"live","pricing":{"input":${deep},"output":1}},
      {"provider":"fine","status":"live","pricing":{"input":0.5,"output":1}}]}]}`;
    const catalog = parseCatalog(text);
    expect(catalog.prices.map((p) => p.modelName)).toEqual(['a/b:groq', 'c/d:fine']);
    expect(catalog.problems).toEqual([
      'c/d:long: longer than 40 characters',
      'c/d:word: not a non-negative number: "cheap"',
      'c/d:deep: not a number',
    ]);
  });

  it('leaves a model with more than CATALOG_MAX_PROVIDERS_PER_MODEL providers unchanged', () => {
    const many = Array.from({ length: 100 }, (_, i) => ({ ...good, provider: `p${i}` }));
    const text = JSON.stringify({ data: [{ id: 'big/model', providers: many }, model('a/b')] });
    const catalog = parseCatalog(text);
    expect(catalog.prices.map((p) => p.modelName)).toEqual(['a/b:groq']);
    expect(catalog.problems).toEqual(['big/model: more than 64 providers']);
    expect(catalog.retires('big/model:groq')).toBe(false);
    expect(names(text, { ...DEFAULT_CATALOG_BOUNDS, maxProvidersPerModel: 100 })).toHaveLength(101);
  });

  it('refuses a catalog with more models or bytes than allowed, whole', () => {
    const text = JSON.stringify({ data: [model('a/b'), model('c/d'), model('e/f')] });
    expect(() => parseCatalog(text, { ...DEFAULT_CATALOG_BOUNDS, maxModels: 2 })).toThrow(
      new CatalogError('the catalog lists more than 2 models'),
    );
    expect(() => parseCatalog(text, { ...DEFAULT_CATALOG_BOUNDS, maxBytes: 100 })).toThrow(
      new CatalogError('the catalog is larger than 100 bytes'),
    );
    expect(names(text)).toHaveLength(3);
  });

  it('keeps a long list of problems short', () => {
    const bad = Array.from({ length: 500 }, (_, i) => ({
      provider: `p${i}`,
      status: 'live',
      pricing: { input: 'x' },
    }));
    const text = JSON.stringify({ data: [{ id: 'a/b', providers: bad }] });
    const { problems } = parseCatalog(text, { ...DEFAULT_CATALOG_BOUNDS, maxProvidersPerModel: 500 });
    expect(problems).toHaveLength(101);
    expect(problems.at(-1)).toBe('… and 400 more');
  });
});
