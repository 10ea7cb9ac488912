// The dashboard stays the same size whatever the ledger's cardinality (issue 23.6: 20,038 <option>s and
// 2.9 MB with 20,005 tags): its filters suggest the top values by cost in a <datalist> and take any
// other typed, and its breakdowns show the top spenders with how many there are.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { usageLogs } from '../../src/db/schema.ts';
import { BACKENDS } from '../helpers/databases.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { dashboardCookie } from '../helpers/requests.ts';

const ROWS = 2000;
const WINDOW = 'period=custom&from=2025-07-01&to=2025-07-02';

describe.each(BACKENDS)('the dashboard with 2,000 tags, end users and models on %s', (backend) => {
  let gw: TestGateway;
  let cookie: string;
  const dashboard = async (query: string) => {
    const res = await gw.call(`/dashboard?${WINDOW}&${query}`, { key: null, headers: { cookie } });
    expect(res.status).toBe(200);
    return res.text();
  };

  beforeAll(async () => {
    gw = await startTestGateway({ backend, upstreamUrl: 'http://127.0.0.1:9' });
    const rows = Array.from({ length: ROWS }, (_, i) => ({
      requestId: `req_card_${i}`,
      createdAt: new Date(Date.UTC(2025, 6, 1, i % 24, 10)),
      provider: 'huggingface',
      model: `model-${i}`,
      endpoint: 'chat.completions' as const,
      endUser: `user-${i}`,
      tags: [`tag-${i}`],
      stream: false,
      status: 'ok' as const,
      httpStatus: 200,
      promptTokens: 10,
      completionTokens: 5,
      totalTokens: 15,
      usageSource: 'upstream' as const,
      inputTokenCost: '0.000001',
      outputTokenCost: '0.000003',
      pricingSource: 'catalog' as const,
      costInput: '0',
      // tag-1999 spends most, then tag-1998, …
      costOutput: `0.${String(i + 1).padStart(6, '0')}`,
      costTotal: `0.${String(i + 1).padStart(6, '0')}`,
      latencyMs: 10,
    }));
    for (let i = 0; i < rows.length; i += 500)
      await gw.deps.database.db.insert(usageLogs).values(rows.slice(i, i + 500));
    cookie = await dashboardCookie(gw);
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('stays under 200 KB with at most 100 options, suggesting the top spenders', async () => {
    const html = await dashboard('');
    expect(Buffer.byteLength(html)).toBeLessThan(200_000);
    expect(html.match(/<option/g)?.length ?? 0).toBeLessThanOrEqual(100);
    for (const [name, value] of [
      ['tag', 'tag-1999'],
      ['user', 'user-1999'],
      ['model', 'model-1999'],
    ]) {
      expect(html).toContain(`<input name="${name}"`);
      expect(html).toContain(`<option value="${value}">`);
    }
    expect(html).not.toContain('<option value="tag-0">');
    expect(html).toContain('Top 10 of 2,000 by cost.');
    expect(html).toContain('<select name="period">');
  });

  it('filters on a value it does not suggest, and keeps suggesting the others', async () => {
    const html = await dashboard('tag=tag-0');
    expect(html).toMatch(/<input name="tag" value="tag-0"/);
    expect(html).toContain('<div class="value" id="total-requests">1</div>');
    expect(html).toContain('<option value="tag-1999">');
    expect(Buffer.byteLength(html)).toBeLessThan(200_000);
  });
});
