// /metrics labels never carry client text: a model the price book does not name is `other`, so
// thousands of unique long model names leave /metrics small and answering.
import { describe, expect, it } from 'vitest';
import type { UsageLogInsert } from '../../src/db/schema.ts';
import { modelLabel, OTHER_MODEL } from '../../src/metrics.ts';
import { gatewaySuite, type TestGateway } from '../helpers/gateway.ts';

const DEFAULT_MODEL = 'openai/gpt-oss-120b:groq';

/** A metered row as the pipeline hands it to metrics, priced the way the price book resolved it. */
const row = (model: string, pricingSource: string): UsageLogInsert =>
  ({
    requestId: `req_${Math.random()}`,
    model,
    pricingSource,
    status: 'ok',
    stream: false,
    promptTokens: 10,
    completionTokens: 5,
    costTotal: '0.000025',
  }) as UsageLogInsert;

describe('model labels on /metrics', () => {
  let gw: TestGateway;
  gatewaySuite({ backend: 'pglite' }, (suite) => ({ gw } = suite));

  it('stays small and answers 200 after thousands of unique 20 KB model names', async () => {
    for (let i = 0; i < 3_000; i++) {
      const model = `${i}-${'m'.repeat(20_000)}`;
      gw.deps.metrics.usage(row(model, i % 2 === 0 ? 'env' : 'builtin'));
    }
    gw.deps.metrics.usage(row(DEFAULT_MODEL, 'db:exact'));
    const res = await gw.call('/metrics', { key: null });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text.length).toBeLessThan(100_000);
    expect(text).toContain('tollgate_completions_total{model="other",status="ok",stream="false"} 3000');
    expect(text).toContain(
      `tollgate_completions_total{model="${DEFAULT_MODEL}",status="ok",stream="false"} 1`,
    );
    expect(text).toContain('tollgate_cost_usd_total{model="other"} 0.075');
  });

  it.each([
    ['a model priced by its exact name', 'acme/model-x', 'db:exact', 'acme/model-x'],
    ['any org and suffix around a priced short name', 'evil/model-x:anything', 'db:short', 'model-x'],
    ['the default model priced from the env', DEFAULT_MODEL, 'env', DEFAULT_MODEL],
    ['another model priced from the env', 'client/whatever', 'env', OTHER_MODEL],
    ['a model priced by a default row', 'client/whatever', 'db:default', OTHER_MODEL],
    ['a model with the built-in price', 'client/whatever', 'builtin', OTHER_MODEL],
  ])('labels %s', (_what, model, source, label) => {
    expect(modelLabel({ model, pricingSource: source }, DEFAULT_MODEL)).toBe(label);
  });
});
