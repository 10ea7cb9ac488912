import { describe, expect, it } from 'vitest';
import { costOf } from '../../src/billing/cost.ts';
import { type Decimal, formatDecimal, parseDecimal } from '../../src/billing/money.ts';
import {
  type AppliedPrice,
  canonicalProvider,
  createPriceBook,
  type PriceVersion,
  shortModelName,
} from '../../src/billing/pricing.ts';

const MODEL = 'openai/gpt-oss-120b:groq';
const T0 = new Date('2020-01-01T00:00:00Z');

let nextId = 1;
/** A version of (provider, model_name); ids grow in creation order, as the database's do. */
function version(
  modelName: string,
  input: string,
  output: string,
  extra: Partial<Omit<PriceVersion, 'inputTokenCost' | 'outputTokenCost' | 'cachedInputTokenCost'>> & {
    cachedInputTokenCost?: Decimal | null;
  } = {},
): PriceVersion {
  return {
    id: nextId++,
    provider: 'huggingface',
    modelName,
    inputTokenCost: parseDecimal(input),
    cachedInputTokenCost: null,
    outputTokenCost: parseDecimal(output),
    source: 'env',
    retired: false,
    effectiveFrom: T0,
    ...extra,
  };
}

function book(versions: PriceVersion[]) {
  const priceBook = createPriceBook({
    envProvider: 'huggingface',
    envInputTokenCost: parseDecimal('0.000001'),
    envOutputTokenCost: parseDecimal('0.000003'),
  });
  priceBook.replace(versions);
  return priceBook;
}

/** An applied price with its decimals as strings, for readable assertions. */
const shown = (price: AppliedPrice) => ({
  source: price.source,
  pricingId: price.pricingId,
  input: formatDecimal(price.inputTokenCost),
  output: formatDecimal(price.outputTokenCost),
});

describe('short model names', () => {
  it.each([
    ['openai/gpt-oss-120b:groq', 'gpt-oss-120b'],
    ['meta-llama/Llama-3.3-70B-Instruct', 'Llama-3.3-70B-Instruct'],
    ['gpt-oss-120b', 'gpt-oss-120b'],
    ['gpt-oss-120b:cerebras', 'gpt-oss-120b'],
  ])('%s → %s', (model, short) => {
    expect(shortModelName(model)).toBe(short);
  });

  it('treats mistral as the HuggingFace provider, whatever the case', () => {
    expect(canonicalProvider('mistral')).toBe('huggingface');
    expect(canonicalProvider(' HuggingFace ')).toBe('huggingface');
    expect(canonicalProvider('openrouter')).toBe('openrouter');
  });
});

describe('the price resolver', () => {
  it('walks exact → short → default → env, naming the source and the version at each step', () => {
    const exact = version(MODEL, '0.000002', '0.000004');
    const short = version('gpt-oss-120b', '0.0000005', '0.0000015');
    const fallback = version('default', '0.00000015', '0.0000006');
    const at = new Date('2020-02-01T00:00:00Z');
    const retire = (v: PriceVersion) => version(v.modelName, '0', '0', { retired: true, effectiveFrom: at });

    const all = [exact, short, fallback];
    expect(shown(book(all).resolve('huggingface', MODEL))).toEqual({
      source: 'db:exact',
      pricingId: exact.id,
      input: '0.000002',
      output: '0.000004',
    });
    all.push(retire(exact));
    expect(shown(book(all).resolve('huggingface', MODEL))).toEqual({
      source: 'db:short',
      pricingId: short.id,
      input: '0.0000005',
      output: '0.0000015',
    });
    all.push(retire(short));
    expect(shown(book(all).resolve('huggingface', MODEL))).toEqual({
      source: 'db:default',
      pricingId: fallback.id,
      input: '0.00000015',
      output: '0.0000006',
    });
    all.push(retire(fallback));
    expect(shown(book(all).resolve('huggingface', MODEL))).toEqual({
      source: 'env',
      pricingId: null,
      input: '0.000001',
      output: '0.000003',
    });
  });

  it('prices another provider with no rows at the built-in 0.000001, flagged builtin', () => {
    const priceBook = book([version(MODEL, '0.000002', '0.000004')]);
    expect(shown(priceBook.resolve('openrouter', MODEL))).toEqual({
      source: 'builtin',
      pricingId: null,
      input: '0.000001',
      output: '0.000001',
    });
  });

  it('uses another provider’s own rows before the built-in price', () => {
    const own = version(MODEL, '0.000007', '0.000008', { provider: 'openrouter' });
    expect(shown(book([own]).resolve('openrouter', MODEL))).toMatchObject({
      source: 'db:exact',
      pricingId: own.id,
    });
  });

  it('serves huggingface requests from rows stored under the mistral alias', () => {
    const seeded = version('gpt-oss-120b', '0.0000009', '0.0000027', { provider: 'mistral' });
    const priceBook = book([seeded]);
    expect(shown(priceBook.resolve('huggingface', MODEL))).toEqual({
      source: 'db:short',
      pricingId: seeded.id,
      input: '0.0000009',
      output: '0.0000027',
    });
    expect(priceBook.resolve('mistral', MODEL).pricingId).toBe(seeded.id);
  });

  it('applies the newest version in effect', () => {
    const old = version(MODEL, '0.000001', '0.000003', { effectiveFrom: T0 });
    const newer = version(MODEL, '0.000002', '0.000006', { effectiveFrom: new Date('2020-03-01T00:00:00Z') });
    // listed out of order: the book sorts by effective_from, not by position
    const priceBook = book([newer, old]);
    expect(priceBook.resolve('huggingface', MODEL).pricingId).toBe(newer.id);
    expect(priceBook.resolve('huggingface', MODEL, new Date('2020-02-01T00:00:00Z')).pricingId).toBe(old.id);
  });

  it('breaks a tie in effective_from by the later version', () => {
    const first = version(MODEL, '0.000001', '0.000003');
    const second = version(MODEL, '0.000005', '0.000005');
    expect(book([second, first]).resolve('huggingface', MODEL).pricingId).toBe(second.id);
  });

  it('does not use a version before its effective_from', () => {
    const from = new Date('2020-06-01T00:00:00Z');
    const current = version(MODEL, '0.000001', '0.000003');
    const scheduled = version(MODEL, '0.000009', '0.000009', { effectiveFrom: from });
    const priceBook = book([current, scheduled]);
    expect(priceBook.resolve('huggingface', MODEL, new Date(from.getTime() - 1)).pricingId).toBe(current.id);
    expect(priceBook.resolve('huggingface', MODEL, from).pricingId).toBe(scheduled.id);
  });

  it('falls through to the next step while the only version is scheduled for later', () => {
    const scheduled = version(MODEL, '0.000009', '0.000009', {
      effectiveFrom: new Date('2020-06-01T00:00:00Z'),
    });
    const short = version('gpt-oss-120b', '0.0000005', '0.0000015');
    const priceBook = book([scheduled, short]);
    expect(priceBook.resolve('huggingface', MODEL, new Date('2020-05-01T00:00:00Z'))).toMatchObject({
      source: 'db:short',
      pricingId: short.id,
    });
  });

  it('falls through while a retirement is in effect, and takes a price set after it', () => {
    const set = version(MODEL, '0.000002', '0.000004');
    const retired = version(MODEL, '0', '0', {
      retired: true,
      effectiveFrom: new Date('2020-02-01T00:00:00Z'),
    });
    const again = version(MODEL, '0.000003', '0.000005', { effectiveFrom: new Date('2020-03-01T00:00:00Z') });
    const priceBook = book([set, retired, again]);
    expect(priceBook.resolve('huggingface', MODEL, new Date('2020-01-15T00:00:00Z')).pricingId).toBe(set.id);
    expect(priceBook.resolve('huggingface', MODEL, new Date('2020-02-15T00:00:00Z')).source).toBe('env');
    expect(priceBook.resolve('huggingface', MODEL, new Date('2020-03-15T00:00:00Z')).pricingId).toBe(
      again.id,
    );
  });

  it('prices by who served first (db:served), then walks the seed chain unchanged', () => {
    const served = version('openai/gpt-oss-120b:cerebras', '0.00000025', '0.00000069');
    const exact = version(MODEL, '0.00000015', '0.00000075');
    const priceBook = book([served, exact]);
    expect(
      shown(priceBook.resolve('huggingface', 'openai/gpt-oss-120b:fastest', undefined, 'cerebras')),
    ).toEqual({
      source: 'db:served',
      pricingId: served.id,
      input: '0.00000025',
      output: '0.00000069',
    });
    // served by the provider the request named: that is step 1
    expect(priceBook.resolve('huggingface', MODEL, undefined, 'groq')).toMatchObject({
      source: 'db:exact',
      pricingId: exact.id,
    });
    // requested groq, served by cerebras (a fallback): the price of who served
    expect(priceBook.resolve('huggingface', MODEL, undefined, 'Cerebras').source).toBe('db:served');
    // no price for who served: the chain goes on from step 1
    expect(priceBook.resolve('huggingface', MODEL, undefined, 'sambanova').pricingId).toBe(exact.id);
    expect(
      priceBook.resolve('huggingface', 'openai/gpt-oss-120b:fastest', undefined, 'sambanova').source,
    ).toBe('env');
    // a header that is not a provider name is not a model-name fragment
    expect(priceBook.resolve('huggingface', MODEL, undefined, 'x:y/../z').source).toBe('db:exact');
  });

  it('lets an admin version win over catalog and env versions of the same name, whenever written', () => {
    const admin = version(MODEL, '0.000002', '0.000004', { source: 'admin' });
    const catalog = version(MODEL, '0.00000015', '0.00000075', { source: 'catalog' });
    const env = version(MODEL, '0.000001', '0.000003', { source: 'env' });
    expect(book([admin, catalog, env]).resolve('huggingface', MODEL).pricingId).toBe(admin.id);
    // without an admin version, the one written last
    expect(book([catalog, env]).resolve('huggingface', MODEL).pricingId).toBe(env.id);
  });

  it('applies a backdated correction from its effective_from on, over a later-dated older version', () => {
    const mistaken = version(MODEL, '0.00001', '0.00003', {
      effectiveFrom: new Date('2020-02-01T00:00:00Z'),
    });
    const correction = version(MODEL, '0.000001', '0.000003', {
      effectiveFrom: new Date('2020-01-15T00:00:00Z'),
    });
    const priceBook = book([mistaken, correction]);
    expect(priceBook.resolve('huggingface', MODEL, new Date('2020-03-01T00:00:00Z')).pricingId).toBe(
      correction.id,
    );
    expect(priceBook.resolve('huggingface', MODEL, new Date('2020-01-20T00:00:00Z')).pricingId).toBe(
      correction.id,
    );
    expect(priceBook.resolve('huggingface', MODEL, new Date('2020-01-10T00:00:00Z')).source).toBe('env');
  });

  it('applies a version’s cached input price, else its input price, else the env cached price', () => {
    const cached = version(MODEL, '0.000001', '0.000003', {
      cachedInputTokenCost: parseDecimal('0.0000005'),
    });
    const plain = version('gpt-oss-20b', '0.0000002', '0.0000008');
    const priceBook = createPriceBook({
      envProvider: 'huggingface',
      envInputTokenCost: parseDecimal('0.000001'),
      envOutputTokenCost: parseDecimal('0.000003'),
      envCachedInputTokenCost: parseDecimal('0.0000004'),
    });
    priceBook.replace([cached, plain]);
    expect(formatDecimal(priceBook.resolve('huggingface', MODEL).cachedInputTokenCost)).toBe('0.0000005');
    expect(formatDecimal(priceBook.resolve('huggingface', 'openai/gpt-oss-20b').cachedInputTokenCost)).toBe(
      '0.0000002',
    );
    expect(priceBook.resolve('huggingface', 'acme/other')).toMatchObject({ source: 'env' });
    expect(formatDecimal(priceBook.resolve('huggingface', 'acme/other').cachedInputTokenCost)).toBe(
      '0.0000004',
    );
    // unset env cached price: the env input price
    expect(formatDecimal(book([]).resolve('huggingface', 'acme/other').cachedInputTokenCost)).toBe(
      '0.000001',
    );
  });

  it('swaps in a whole new set of versions', () => {
    const priceBook = book([version(MODEL, '0.000002', '0.000004')]);
    priceBook.replace([]);
    expect(priceBook.resolve('huggingface', MODEL).source).toBe('env');
    expect(priceBook.versions()).toEqual([]);
  });
});

describe('the cost of a request', () => {
  const env: AppliedPrice = {
    pricingId: null,
    inputTokenCost: parseDecimal('0.000001'),
    cachedInputTokenCost: parseDecimal('0.000001'),
    outputTokenCost: parseDecimal('0.000003'),
    source: 'env',
  };
  const halfPriceCache: AppliedPrice = { ...env, cachedInputTokenCost: parseDecimal('0.0000005') };

  it('is prompt × input price + completion × output price, exactly', () => {
    const cost = costOf({ promptTokens: 1000, completionTokens: 500 }, env);
    expect(formatDecimal(cost.input)).toBe('0.001');
    expect(formatDecimal(cost.output)).toBe('0.0015');
    expect(formatDecimal(cost.total)).toBe('0.0025');
  });

  it('stays exact at fractional-cent prices', () => {
    const price = {
      ...env,
      inputTokenCost: parseDecimal('0.00000015'),
      outputTokenCost: parseDecimal('0.0000006'),
    };
    const cost = costOf({ promptTokens: 123_457, completionTokens: 76 }, price);
    expect(formatDecimal(cost.input)).toBe('0.01851855');
    expect(formatDecimal(cost.output)).toBe('0.0000456');
    expect(formatDecimal(cost.total)).toBe('0.01856415');
  });

  it('prices cached prompt tokens at the cached input price: 1000 in (400 cached) + 500 out is 0.0023', () => {
    const cost = costOf({ promptTokens: 1000, cachedTokens: 400, completionTokens: 500 }, halfPriceCache);
    // 600 × 0.000001 + 400 × 0.0000005 = 0.0008; 500 × 0.000003 = 0.0015
    expect(formatDecimal(cost.input)).toBe('0.0008');
    expect(formatDecimal(cost.output)).toBe('0.0015');
    expect(formatDecimal(cost.total)).toBe('0.0023');
  });

  it('keeps 0.0025 for the same request when cached tokens have no price of their own', () => {
    const cost = costOf({ promptTokens: 1000, cachedTokens: 400, completionTokens: 500 }, env);
    expect(formatDecimal(cost.total)).toBe('0.0025');
  });

  it('never counts reasoning tokens twice: they are inside completion_tokens', () => {
    const tokens = { promptTokens: 1000, completionTokens: 500, reasoningTokens: 300 };
    expect(formatDecimal(costOf(tokens, env).total)).toBe('0.0025');
  });

  it('caps cached tokens at the prompt tokens, so a bad count cannot make a negative cost', () => {
    const cost = costOf({ promptTokens: 100, cachedTokens: 500, completionTokens: 0 }, halfPriceCache);
    expect(formatDecimal(cost.input)).toBe('0.00005');
  });

  it('costs nothing for no tokens', () => {
    expect(formatDecimal(costOf({ promptTokens: 0, completionTokens: 0 }, env).total)).toBe('0');
  });
});
