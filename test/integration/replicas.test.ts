// Two gateways on one PostgreSQL, as two replicas behind a load balancer: each has its own connections,
// caches and recorder; prices, keys and budgets must agree through the database alone.
import { HttpResponse, http } from 'msw';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { add, formatDecimal, parseDecimal, times } from '../../src/billing/money.ts';
import { loadConfig } from '../../src/config.ts';
import { openDatabase } from '../../src/db/client.ts';
import { createGateway, type Gateway } from '../../src/gateway.ts';
import { createLogger } from '../../src/logger.ts';
import { estimatePromptTokens } from '../../src/metering/tokens.ts';
import { createPostgresDatabase } from '../helpers/databases.ts';
import { ADMIN_KEY } from '../helpers/gateway.ts';
import { type MockUpstream, startMockUpstream } from '../helpers/mock-upstream.ts';

const body = {
  model: 'openai/gpt-oss-120b:groq',
  messages: [{ role: 'user', content: 'hi' }],
  max_tokens: 20,
};
const PROMPT = await estimatePromptTokens(body);

describe.skipIf(!process.env.TEST_DATABASE_URL)('two replicas on one PostgreSQL', () => {
  let upstream: MockUpstream;
  let drop: () => Promise<void>;
  const replicas: Gateway[] = [];

  beforeAll(async () => {
    upstream = await startMockUpstream(
      http.post('*/chat/completions', () =>
        HttpResponse.json({
          model: 'openai/gpt-oss-120b',
          usage: { prompt_tokens: PROMPT, completion_tokens: 20 },
        }),
      ),
    );
    const created = await createPostgresDatabase();
    drop = created.drop;
    for (let i = 0; i < 2; i++) {
      const config = loadConfig({
        DATABASE_URL: created.url,
        ADMIN_API_KEY: ADMIN_KEY,
        UPSTREAM_BASE_URL: upstream.url,
        DATA_DIR: `/tmp/tollgate-replica-${i}-${process.pid}`,
        // the floor a reservation holds while others are in flight: this suite's max_tokens
        BUDGET_DEFAULT_MAX_TOKENS: String(body.max_tokens),
      });
      const database = await openDatabase({ databaseUrl: created.url });
      replicas.push(await createGateway(config, { database, logger: createLogger({ level: 'silent' }) }));
    }
  });
  afterAll(async () => {
    for (const replica of replicas) {
      await replica.close();
      await replica.deps.database.close();
    }
    await drop();
    await upstream.close();
  });

  const call = (
    replica: Gateway,
    path: string,
    init: { method?: string; json?: unknown; key?: string } = {},
  ) =>
    replica.app.request(path, {
      method: init.method ?? 'GET',
      headers: { authorization: `Bearer ${init.key ?? ADMIN_KEY}`, 'content-type': 'application/json' },
      ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }),
    });

  async function eventually(check: () => Promise<boolean>) {
    for (let i = 0; i < 100; i++) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error('never became true');
  }

  it('prices the next request on replica B with a price just PUT on replica A', async () => {
    const [a, b] = replicas as [Gateway, Gateway];
    const put = await call(a, '/admin/pricing', {
      method: 'PUT',
      json: {
        model_name: 'openai/gpt-oss-120b:groq',
        input_token_cost: '0.00000015',
        output_token_cost: '0.0000006',
      },
    });
    const version = (await put.json()) as { id: number };
    // NOTIFY is asynchronous: B reloads within moments, without a restart
    await eventually(
      async () =>
        b.deps.pricing.priceBook.resolve('huggingface', 'openai/gpt-oss-120b:groq').pricingId === version.id,
    );
    const res = await call(b, '/v1/chat/completions', { method: 'POST', json: body });
    const expected = formatDecimal(
      add(times(PROMPT, parseDecimal('0.00000015')), times(20, parseDecimal('0.0000006'))),
    );
    expect(res.headers.get('x-usage-cost-usd')).toBe(expected);
  });

  it('holds one budget across both replicas under 50 concurrent requests', async () => {
    const [a, b] = replicas as [Gateway, Gateway];
    const price = a.deps.pricing.priceBook.resolve('huggingface', body.model);
    const one = add(times(PROMPT, price.inputTokenCost), times(20, price.outputTokenCost));
    const created = (await (
      await call(a, '/admin/keys', {
        method: 'POST',
        json: { name: 'shared', monthly_budget_usd: formatDecimal(times(10, one)) },
      })
    ).json()) as { id: string; key: string };
    const before = upstream.requests.length;
    const replies = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        call(i % 2 ? a : b, '/v1/chat/completions', { method: 'POST', json: body, key: created.key }),
      ),
    );
    expect(replies.filter((r) => r.status === 200)).toHaveLength(10);
    expect(replies.filter((r) => r.status === 429)).toHaveLength(40);
    expect(upstream.requests.length - before).toBe(10);
  });

  it('refuses a key revoked on replica A at replica B', async () => {
    const [a, b] = replicas as [Gateway, Gateway];
    const created = (await (
      await call(a, '/admin/keys', { method: 'POST', json: { name: 'soon gone' } })
    ).json()) as {
      id: string;
      key: string;
    };
    expect((await call(b, '/v1/models', { key: created.key })).status).toBe(200);
    await call(a, `/admin/keys/${created.id}`, { method: 'DELETE' });
    await eventually(async () => (await call(b, '/v1/models', { key: created.key })).status === 401);
  });
});
