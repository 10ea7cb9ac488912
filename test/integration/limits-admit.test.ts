// Admission in one call (tollgate_admit, drizzle/0020): one statement per admitted or refused request,
// and a refusal by any part leaves nothing of the others taken.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { add, formatDecimal, parseDecimal, times } from '../../src/billing/money.ts';
import { createPriceBook } from '../../src/billing/pricing.ts';
import { insertAccount } from '../../src/db/accounts-repo.ts';
import type { Database } from '../../src/db/client.ts';
import { admitRequest } from '../../src/db/limits-repo.ts';
import { migrate } from '../../src/db/migrate.ts';
import { GatewayError } from '../../src/errors.ts';
import { estimatePromptTokens } from '../../src/metering/tokens.ts';
import { type AdmissionInput, createLimits, type KeyLimits } from '../../src/services/admission/limits.ts';
import type { Refusal } from '../../src/services/admission/refusals.ts';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/databases.ts';

const MAX_TOKENS = 50;
const body = {
  model: 'openai/gpt-oss-120b:groq',
  messages: [{ role: 'user', content: 'hi' }],
  max_tokens: MAX_TOKENS,
};
const PROMPT = await estimatePromptTokens(body);
/** one request's worst case at the prices below */
const ONE = formatDecimal(
  add(times(PROMPT, parseDecimal('0.000001')), times(MAX_TOKENS, parseDecimal('0.000003'))),
);
const NO_LIMITS: KeyLimits = {
  monthlyBudgetUsd: null,
  budgetPeriod: 'month',
  softBudget: false,
  rpm: null,
  tpm: null,
  maxConcurrent: null,
};

/** the tests that wait out a minute's edge (up to 5 s) */
const EDGE_TIMEOUT_MS = 15_000;

/** Waits out the last seconds of a minute, so a test's admissions share one rate window. */
async function awayFromMinuteEdge() {
  const intoMinute = Date.now() % 60_000;
  if (intoMinute > 55_000) await new Promise((r) => setTimeout(r, 60_000 - intoMinute + 50));
}

/** The database, counting the statements it is sent. */
function counting(database: Database): { database: Database; statements: () => number } {
  let n = 0;
  const counted = new Proxy(database, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      // every way a statement is sent: through drizzle, or as the driver's own text (hot paths)
      if (prop === 'rows' || prop === 'query' || prop === 'execute')
        return (...args: unknown[]) => {
          n++;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      return value;
    },
  });
  return { database: counted, statements: () => n };
}

describe.each(BACKENDS)('admission in one call on %s', (backend) => {
  let test: TestDatabase;
  let count: ReturnType<typeof counting>;
  const refusals: Refusal[] = [];
  let limits: ReturnType<typeof createLimits>;
  let seq = 0;

  beforeAll(async () => {
    test = await createTestDatabase(backend);
    await migrate(test.database);
    count = counting(test.database);
    limits = createLimits({
      database: count.database,
      priceTarget: (model) => ({ provider: 'huggingface', model }),
      priceBook: createPriceBook({
        envProvider: 'huggingface',
        envInputTokenCost: parseDecimal('0.000001'),
        envOutputTokenCost: parseDecimal('0.000003'),
      }),
      failMode: 'closed',
      // the floor equals the bound, so every hold is exactly ONE
      defaultMaxTokens: MAX_TOKENS,
      onRefusal: (refusal) => {
        refusals.push(refusal);
      },
    });
  });
  afterAll(() => test?.drop());

  const input = (keyId: string, keyLimits: Partial<KeyLimits>): AdmissionInput => ({
    requestId: `req_${++seq}`,
    keyId,
    limits: { ...NO_LIMITS, ...keyLimits },
    body,
    at: new Date(),
  });
  const refusalOf = (work: Promise<unknown>) =>
    work.then(
      () => undefined,
      (err: unknown) => {
        if (err instanceof GatewayError) return err;
        throw err;
      },
    );
  const keyFigures = async (keyId: string) => {
    const [row] = await test.database.rows<{ reserved: string | null; holds: number }>(sql`
      select (select sum(reserved_usd) from key_spend where api_key_id = ${keyId})::text as reserved,
             (select count(*) from budget_reservations where api_key_id = ${keyId})::int as holds`);
    return { reserved: formatDecimal(parseDecimal(row?.reserved ?? '0')), holds: row?.holds };
  };
  const accountWith = async (id: string, credit: string, budget: string | null = null) => {
    await insertAccount(test.database, {
      id,
      name: id,
      plan_id: null,
      credit_limit_usd: '0',
      low_balance_usd: null,
      budget_usd: budget,
      budget_period: 'month',
    });
    await test.database.rows(sql`
      insert into account_credits (account_id, kind, amount_usd, idempotency_key, request_fingerprint, actor)
      values (${id}, 'grant', ${credit}::numeric, ${`${id}-grant`}, 'f', 'test')`);
    return { id, markup: '1' };
  };
  const accountFigures = async (id: string) => {
    const [row] = await test.database.rows<{ reserved: string; spend_reserved: string | null }>(sql`
      select (select reserved_usd from account_balance where account_id = ${id})::text as reserved,
             (select sum(reserved_usd) from account_spend where account_id = ${id})::text as spend_reserved`);
    return {
      reserved: formatDecimal(parseDecimal(row?.reserved ?? '0')),
      spendReserved: formatDecimal(parseDecimal(row?.spend_reserved ?? '0')),
    };
  };

  it(
    'admits a budgeted, rate-limited key in one statement; a rate refusal leaves the budget untouched, in one statement',
    async () => {
      const key = { monthlyBudgetUsd: parseDecimal('5'), rpm: 1, tpm: 1_000_000 };
      await awayFromMinuteEdge();
      let before = count.statements();
      const first = await limits.admit(input('key_rate', key));
      expect(count.statements() - before).toBe(1);
      expect(first.reservedUsd).toBe(ONE);
      expect(first.headers['x-ratelimit-remaining-requests']).toBe('0');
      expect(await keyFigures('key_rate')).toEqual({ reserved: ONE, holds: 1 });

      before = count.statements();
      const refused = await refusalOf(limits.admit(input('key_rate', key)));
      // no release round trip: the call that refused took nothing
      expect(count.statements() - before).toBe(1);
      expect(refused).toMatchObject({ status: 429, code: 'rate_limit_exceeded' });
      expect(refused?.headers['x-ratelimit-remaining-requests']).toBe('0');
      expect(refusals.at(-1)).toMatchObject({ keyId: 'key_rate', reason: 'rpm' });
      // the budget part held for the second request inside the call and gave it back there
      expect(await keyFigures('key_rate')).toEqual({ reserved: ONE, holds: 1 });
      await first.finish({ metered: false });
      expect(await keyFigures('key_rate')).toEqual({ reserved: '0', holds: 0 });
    },
    EDGE_TIMEOUT_MS,
  );

  it('a request alone past the TPM takes nothing, in a new window too', async () => {
    const key = { monthlyBudgetUsd: parseDecimal('5'), tpm: PROMPT + MAX_TOKENS - 1 };
    const refused = await refusalOf(limits.admit(input('key_tpm', key)));
    expect(refused).toMatchObject({ status: 429, code: 'rate_limit_exceeded' });
    expect(refused?.message).toContain('this request alone is larger');
    expect(await keyFigures('key_tpm')).toEqual({ reserved: '0', holds: 0 });
    const [window] = await test.database.rows<{ n: number }>(
      sql`select count(*)::int as n from key_rate_windows where api_key_id = 'key_tpm'`,
    );
    expect(window?.n).toBe(0);
  });

  it(
    "a rate refusal of an account's key leaves its balance, its budget and the key's budget untouched",
    async () => {
      const account = await accountWith('acct_rate', formatDecimal(times(10, parseDecimal(ONE))), '1');
      const key = { monthlyBudgetUsd: parseDecimal('5'), rpm: 1, account };
      await awayFromMinuteEdge();
      const first = await limits.admit(input('key_acct_rate', key));
      expect(first.reservedUsd).toBe(ONE);
      expect(await accountFigures('acct_rate')).toEqual({ reserved: ONE, spendReserved: ONE });
      const before = count.statements();
      const refused = await refusalOf(limits.admit(input('key_acct_rate', key)));
      expect(count.statements() - before).toBe(1);
      expect(refused).toMatchObject({ status: 429, code: 'rate_limit_exceeded' });
      expect(await accountFigures('acct_rate')).toEqual({ reserved: ONE, spendReserved: ONE });
      expect(await keyFigures('key_acct_rate')).toEqual({ reserved: ONE, holds: 1 });
      await first.finish({ metered: false });
      expect(await accountFigures('acct_rate')).toEqual({ reserved: '0', spendReserved: '0' });
    },
    EDGE_TIMEOUT_MS,
  );

  it(
    'a credits refusal takes no rate slot and leaves the key budget untouched',
    async () => {
      const account = await accountWith('acct_poor', formatDecimal(times(1, parseDecimal(ONE))));
      const key = { monthlyBudgetUsd: parseDecimal('5'), rpm: 5, account };
      await awayFromMinuteEdge();
      const held = await limits.admit(input('key_poor', key));
      expect(held.headers['x-ratelimit-remaining-requests']).toBe('4');
      const refused = await refusalOf(limits.admit(input('key_poor', key)));
      expect(refused).toMatchObject({ status: 402, code: 'insufficient_credits' });
      expect(refusals.at(-1)).toMatchObject({ keyId: 'key_poor', reason: 'credits', accountId: 'acct_poor' });
      expect(await keyFigures('key_poor')).toEqual({ reserved: ONE, holds: 1 });
      await held.finish({ metered: false });
      // the refused request counted nothing in the window: the next one is the window's second
      const next = await limits.admit(input('key_poor', key));
      expect(next.headers['x-ratelimit-remaining-requests']).toBe('3');
      await next.finish({ metered: false });
    },
    EDGE_TIMEOUT_MS,
  );

  it('serves exactly the affordable count of 50 concurrent requests against a balance, with rate limits', async () => {
    const account = await accountWith('acct_50', formatDecimal(times(10, parseDecimal(ONE))));
    const key = { rpm: 1000, tpm: 10_000_000, account };
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, () => limits.admit(input('key_50', key))),
    );
    const admitted = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected');
    expect(admitted).toHaveLength(10);
    for (const r of refused) expect(r.reason).toMatchObject({ status: 402, code: 'insufficient_credits' });
    expect(await accountFigures('acct_50')).toMatchObject({
      reserved: formatDecimal(times(10, parseDecimal(ONE))),
    });
    // only the admitted took rate slots
    const [window] = await test.database.rows<{ requests: number }>(
      sql`select sum(requests)::int as requests from key_rate_windows where api_key_id = 'key_50'`,
    );
    expect(window?.requests).toBe(10);
    for (const r of admitted) await r.value.finish({ metered: false });
    expect(await accountFigures('acct_50')).toMatchObject({ reserved: '0' });
  });

  it("admits a key's concurrent requests in batches, each decided as it would be alone", async () => {
    // a hard budget for exactly 7 holds of ONE
    const key = { monthlyBudgetUsd: times(7, parseDecimal(ONE)), rpm: 1000 };
    await awayFromMinuteEdge();
    const before = count.statements();
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => limits.admit(input('key_batch', key))),
    );
    // the first call goes alone, the 19 that came while it was in flight in one more
    expect(count.statements() - before).toBe(2);
    const admitted = results.filter((r) => r.status === 'fulfilled');
    expect(admitted).toHaveLength(7);
    for (const r of results)
      if (r.status === 'rejected') expect(r.reason).toMatchObject({ status: 429, code: 'budget_exceeded' });
    expect(await keyFigures('key_batch')).toEqual({
      reserved: formatDecimal(times(7, parseDecimal(ONE))),
      holds: 7,
    });
    const [window] = await test.database.rows<{ requests: number }>(
      sql`select sum(requests)::int as requests from key_rate_windows where api_key_id = 'key_batch'`,
    );
    expect(window?.requests).toBe(7);
    for (const r of admitted) await r.value.finish({ metered: false });
    expect(await keyFigures('key_batch')).toEqual({ reserved: '0', holds: 0 });
  });

  it("a request whose values the database rejects fails alone, not its batch's others", async () => {
    const request = (i: number, amount = '0.001') => ({
      id: `req_err_${i}`,
      keyId: 'key_err',
      period: '2026-12-01',
      amount,
      floor: '0',
      trackKey: true,
      budget: '1',
      account: null,
      rate: null,
    });
    const results = await Promise.allSettled([
      admitRequest(test.database, request(0)),
      admitRequest(test.database, request(1)),
      admitRequest(test.database, request(2, 'not a number')),
      admitRequest(test.database, request(3)),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect((results[2] as PromiseRejectedResult).reason).toMatchObject({ code: '22P02' });
    expect(await keyFigures('key_err')).toEqual({ reserved: '0.003', holds: 3 });
  });
});
