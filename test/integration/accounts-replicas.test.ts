// Two gateways on one PostgreSQL (each its own pool, key cache and recorder), 50 concurrent requests of
// two keys of one account across both: the balance is never overdrawn and the ledger agrees with it.
import { sql } from 'drizzle-orm';
import { HttpResponse, http } from 'msw';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addExact, multiplyExact, negateExact } from '../../src/billing/charge.ts';
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
const ONE = formatDecimal(add(times(PROMPT, parseDecimal('0.000001')), times(20, parseDecimal('0.000003'))));

describe.skipIf(!process.env.TEST_DATABASE_URL)('an account on two replicas of one PostgreSQL', () => {
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
        DATA_DIR: `/tmp/tollgate-accounts-replica-${i}-${process.pid}`,
        BUDGET_DEFAULT_MAX_TOKENS: String(body.max_tokens),
        // on a loaded machine a 2 s admission deadline fails open (admits unreserved): this test is
        // about atomicity, not the fail mode, so the database gets time to answer
        DATABASE_TIMEOUT_MS: '30000',
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

  const call = async (replica: Gateway, path: string, json?: unknown, key = ADMIN_KEY) =>
    replica.app.request(path, {
      method: json === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      ...(json === undefined ? {} : { body: JSON.stringify(json) }),
    });
  const made = async (res: Response | Promise<Response>) =>
    (await (await res).json()) as Record<string, string>;

  it('admits only what the balance covers across both replicas; the rest get 402; balance and ledger agree', async () => {
    const [a, b] = replicas as [Gateway, Gateway];
    const markup = '1.1';
    const plan = await made(call(a, '/admin/plans', { name: 'resell', markup }));
    const account = await made(call(a, '/admin/accounts', { name: 'two-replicas', plan_id: plan.id }));
    const keys = [
      await made(call(a, '/admin/keys', { name: 'k1', account_id: account.id })),
      await made(call(b, '/admin/keys', { name: 'k2', account_id: account.id })),
    ];
    const balance = multiplyExact(multiplyExact(ONE, markup), '10');
    const top = await call(b, `/admin/accounts/${account.id}/credits`, {
      amount_usd: balance,
      idempotency_key: 'x',
    });
    expect(top.status).toBe(201);

    const replies = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        call(replicas[i % 2]!, '/v1/chat/completions', body, keys[Math.floor(i / 2) % 2]!.key),
      ),
    );
    const statuses = replies.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    expect(statuses.filter((s) => s === 402)).toHaveLength(40);

    const [ledger] = await a.deps.database.rows<{
      credits: string;
      charges: string;
      balance: string;
      reserved: string;
    }>(sql`
      select (select sum(amount_usd) from account_credits where account_id = ${account.id})::text as credits,
             (select coalesce(sum(charge_usd), 0) from usage_logs where account_id = ${account.id})::text as charges,
             b.balance_usd::text as balance, b.reserved_usd::text as reserved
      from account_balance b where b.account_id = ${account.id}`);
    // settled charges never pass balance + credit limit (0): here they use it exactly
    expect(addExact(ledger!.charges, '0')).toBe(balance);
    expect(addExact(ledger!.balance, '0')).toBe(addExact(ledger!.credits, negateExact(ledger!.charges)));
    expect(addExact(ledger!.balance, '0')).toBe('0');
    expect(addExact(ledger!.reserved, '0')).toBe('0');
  });
});
