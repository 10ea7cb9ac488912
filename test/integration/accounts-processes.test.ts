// Two gateway processes on one PostgreSQL (each its own pool, key cache, recorder, reaper and alert
// deliverer), 50 concurrent requests of two keys of one account split across both: the balance plus its
// credit limit is never overdrawn, the rest get 402, the balance agrees with the ledger to the last digit,
// and the account's credits.low and credits.exhausted are each raised and POSTed once.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { HttpResponse, http } from 'msw';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addExact, compareExact, multiplyExact, negateExact } from '../../src/billing/charge.ts';
import { add, formatDecimal, parseDecimal, times } from '../../src/billing/money.ts';
import { type Database, openDatabase } from '../../src/db/client.ts';
import { estimatePromptTokens } from '../../src/metering/tokens.ts';
import { createPostgresDatabase } from '../helpers/databases.ts';
import { ADMIN_KEY, builtServer, type GatewayChild, startGatewayChild } from '../helpers/gateway-child.ts';
import { type MockUpstream, startMockUpstream } from '../helpers/mock-upstream.ts';
import { type Receiver, startReceiver } from '../helpers/webhook-receiver.ts';

const body = {
  model: 'openai/gpt-oss-120b:groq',
  messages: [{ role: 'user', content: 'hi' }],
  max_tokens: 20,
};
const PROMPT = await estimatePromptTokens(body);
/** one request's cost at the default prices: its worst case, which the upstream reports as its usage */
const ONE = formatDecimal(add(times(PROMPT, parseDecimal('0.000001')), times(20, parseDecimal('0.000003'))));
const SECRET = 'whsec_processes_0123456789';

describe.skipIf(!process.env.TEST_DATABASE_URL)(
  'an account on two gateway processes of one PostgreSQL',
  { timeout: 180_000 },
  () => {
    let upstream: MockUpstream;
    let drop: () => Promise<void>;
    let database: Database;
    let receiver: Receiver;
    const replicas: GatewayChild[] = [];

    beforeAll(async () => {
      builtServer();
      upstream = await startMockUpstream(
        http.post('*/chat/completions', () =>
          HttpResponse.json({
            model: 'openai/gpt-oss-120b',
            usage: { prompt_tokens: PROMPT, completion_tokens: 20, total_tokens: PROMPT + 20 },
          }),
        ),
      );
      receiver = await startReceiver();
      const created = await createPostgresDatabase();
      drop = created.drop;
      for (let i = 0; i < 2; i++) {
        replicas.push(
          await startGatewayChild({
            DATABASE_URL: created.url,
            DATA_DIR: mkdtempSync(join(tmpdir(), `tollgate-accounts-process-${i}-`)),
            UPSTREAM_BASE_URL: upstream.url,
            BUDGET_DEFAULT_MAX_TOKENS: String(body.max_tokens),
            // atomicity is under test, not the fail mode: a loaded machine gets time to answer
            DATABASE_TIMEOUT_MS: '30000',
            ALERT_WEBHOOK_URL: receiver.url,
            ALERT_WEBHOOK_SECRET: SECRET,
            ALERT_POLL_MS: '20',
          }),
        );
      }
      database = await openDatabase({ databaseUrl: created.url });
    }, 180_000);

    afterAll(async () => {
      for (const replica of replicas) await replica.kill('SIGTERM');
      await database?.close();
      await receiver?.close();
      await upstream?.close();
      await drop?.();
    });

    async function call(replica: GatewayChild, path: string, init: { json?: unknown; key?: string } = {}) {
      const res = await request(`${replica.url}${path}`, {
        method: init.json === undefined ? 'GET' : 'POST',
        headers: { authorization: `Bearer ${init.key ?? ADMIN_KEY}`, 'content-type': 'application/json' },
        ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }),
      });
      return { status: res.statusCode, json: (await res.body.json()) as Record<string, string> };
    }

    it('admits only what balance + credit limit cover across both processes; the rest get 402; balance and ledger agree; each credit alert raised and sent once', async () => {
      const [a, b] = replicas as [GatewayChild, GatewayChild];
      const markup = '1.1';
      const charge = multiplyExact(ONE, markup);
      const plan = (await call(a, '/admin/plans', { json: { name: 'resell', markup } })).json;
      // a balance of 10 requests' charge and a credit limit of 2 more: 12 fit
      const limit = multiplyExact(charge, '2');
      const account = (
        await call(b, '/admin/accounts', {
          json: {
            name: 'two-processes',
            plan_id: plan.id,
            credit_limit_usd: limit,
            low_balance_usd: multiplyExact(charge, '5'),
          },
        })
      ).json;
      const keys = [
        (await call(a, '/admin/keys', { json: { name: 'k1', account_id: account.id } })).json,
        (await call(b, '/admin/keys', { json: { name: 'k2', account_id: account.id } })).json,
      ] as { key: string }[];
      const balance = multiplyExact(charge, '10');
      const top = await call(a, `/admin/accounts/${account.id}/credits`, {
        json: { amount_usd: balance, idempotency_key: 'invoice-1' },
      });
      expect(top.status).toBe(201);

      const replies = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          call(replicas[i % 2] as GatewayChild, '/v1/chat/completions', {
            json: body,
            key: keys[Math.floor(i / 2) % 2]?.key,
          }),
        ),
      );
      const statuses = replies.map((r) => r.status);
      expect(statuses.filter((s) => s === 200)).toHaveLength(12);
      expect(statuses.filter((s) => s === 402)).toHaveLength(38);
      expect(upstream.requests).toHaveLength(12);
      const refused = replies.find((r) => r.status === 402)?.json as unknown as { error: { code: string } };
      expect(refused.error.code).toBe('insufficient_credits');

      // each reply's row was committed before the reply: the ledger is final now
      const [ledger] = await database.rows<{
        credits: string;
        charges: string;
        rows: string;
        balance: string;
        reserved: string;
      }>(sql`
        select (select sum(amount_usd) from account_credits where account_id = ${account.id})::text as credits,
               (select coalesce(sum(charge_usd), 0) from usage_logs where account_id = ${account.id})::text as charges,
               (select count(*) from usage_logs where account_id = ${account.id})::text as rows,
               b.balance_usd::text as balance, b.reserved_usd::text as reserved
        from account_balance b where b.account_id = ${account.id}`);
      expect(ledger?.rows).toBe('12');
      // the upstream reports exactly the worst case, so the true overshoot is 0: charges ≤ balance + limit
      expect(compareExact(ledger?.charges ?? '', addExact(balance, limit))).toBeLessThanOrEqual(0);
      expect(addExact(ledger?.charges ?? '', '0')).toBe(multiplyExact(charge, '12'));
      expect(addExact(ledger?.balance ?? '', '0')).toBe(
        addExact(ledger?.credits ?? '', negateExact(ledger?.charges ?? '')),
      );
      expect(addExact(ledger?.balance ?? '', '0')).toBe(negateExact(limit));
      expect(addExact(ledger?.reserved ?? '', '0')).toBe('0');
      // and as the admin API shows it, from the other process
      const shown = (await call(b, `/admin/accounts/${account.id}`)).json;
      expect(shown.balance_usd).toBe(negateExact(limit));

      // one fall below the low threshold and one run of 38 refusals, on two processes: one alert each,
      // POSTed once (both processes deliver)
      const mine = () =>
        receiver.received.filter((r) => (r.json as { account_id?: string }).account_id === account.id);
      const end = Date.now() + 60_000;
      while (mine().length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      // time for a duplicate to show up, if either process were to send one
      await new Promise((r) => setTimeout(r, 1000));
      expect(
        mine()
          .map((r) => r.json.type)
          .sort(),
      ).toEqual(['credits.exhausted', 'credits.low']);
      expect(mine().every((r) => receiver.verify(r, SECRET))).toBe(true);
      const listed = (await call(a, `/admin/alerts?account_id=${account.id}&state=delivered`)).json;
      expect(listed.data).toHaveLength(2);
    });
  },
);
