import { sql } from 'drizzle-orm';
import type { PgInsertValue } from 'drizzle-orm/pg-core';
import { HttpResponse, http } from 'msw';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { add, compare, type Decimal, formatDecimal, parseDecimal, ZERO } from '../../src/billing/money.ts';
import { usageLogs } from '../../src/db/schema.ts';
import { BACKENDS } from '../helpers/databases.ts';
import { fixtureText } from '../helpers/fixtures.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { type MockUpstream, startMockUpstream } from '../helpers/mock-upstream.ts';

type Totals = {
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cost_usd: string;
  unpriced_requests: number;
  /** issue 25: these rows' keys have no account, so each is charged its cost */
  charge_usd: string;
};
type Row = Record<string, unknown> & { id: number; request_id: string; created_at: string };
type List = { object: string; data: Row[]; totals: Totals; next_cursor: string | null };
type Group = { group: string } & Omit<Totals, 'unpriced_requests'>;
type Summary = { object: string; group_by: string; data: Group[]; totals: Totals };
type ErrorReply = { error: { message: string; type: string; param: string | null; code: string | null } };

/** The columns of usage_logs a row carries, in the table's order (DESIGN §4). */
const COLUMNS = [
  'id request_id created_at api_key_id provider model upstream_model served_by endpoint end_user tags',
  'stream status http_status',
  'prompt_tokens completion_tokens total_tokens cached_tokens reasoning_tokens usage_source usage_raw',
  'pricing_id input_token_cost cached_input_token_cost output_token_cost pricing_source',
  'cost_input cost_output cost_total',
  'latency_ms ttft_ms upstream_request_id error',
  // issue 25: the key's account, the markup applied and the charge
  'account_id markup charge_usd',
  // issue 15: the row's corrections added up, and its cost with them (and its charge, issue 25)
  'corrections_usd corrected_cost_total corrected_charge_usd',
]
  .join(' ')
  .split(' ');

type Seed = {
  name: string;
  /** created_at to the microsecond, UTC */
  at: string;
  key: string | null;
  model: string;
  status: 'ok' | 'upstream_error' | 'client_aborted' | 'gateway_error';
  prompt: number;
  completion: number;
  cost: string;
  pricing: string;
  error?: string;
  raw?: unknown;
};

type SeedTuple = [string, string, string | null, string, Seed['status'], number, number, string, string];
const seed = (
  [name, at, key, model, status, prompt, completion, cost, pricing]: SeedTuple,
  more: Pick<Seed, 'error' | 'raw'> = {},
): Seed => ({ name, at, key, model, status, prompt, completion, cost, pricing, ...more });

/** Everything in WINDOW: ties at one instant, two rows a few microseconds apart within one millisecond. */
const SEED: Seed[] = [
  // name, created_at (UTC, to the µs), api_key_id, model, status, prompt, completion, cost_total, pricing_source
  seed(['a1', '2024-03-01T00:00:00.000000Z', 'key_a', 'm-a', 'ok', 100, 10, '0.1', 'env']),
  seed(['a2', '2024-03-01T05:30:00.000000Z', 'key_a', 'm-b', 'upstream_error', 200, 20, '0.2', 'env']),
  seed(['m1', '2024-03-02T23:59:59.999000Z', null, 'm-a', 'ok', 300, 30, '0.0000000001', 'builtin'], {
    error: 'said "no", then, left\nearly',
    raw: { note: 'a, "b"', prompt_tokens: 300 },
  }),
  seed(['t1', '2024-03-03T12:00:00.000000Z', 'key_b', 'm-c', 'ok', 1, 1, '0.000001', 'db:exact']),
  seed(['t2', '2024-03-03T12:00:00.000000Z', 'key_b', 'm-c', 'ok', 2, 1, '0.000001', 'db:exact']),
  seed(['t3', '2024-03-03T12:00:00.000000Z', 'key_b', 'm-c', 'ok', 3, 1, '0.000001', 'db:exact']),
  seed(['t4', '2024-03-03T12:00:00.000000Z', 'key_b', 'm-c', 'ok', 4, 1, '0.000001', 'db:exact']),
  seed(['t5', '2024-03-03T12:00:00.000000Z', 'key_b', 'm-c', 'ok', 5, 1, '0.000001', 'db:exact']),
  seed(['u1', '2024-03-03T12:00:00.000250Z', 'key_c', 'm-d', 'client_aborted', 7, 0, '0', 'env']),
  seed(['u2', '2024-03-03T12:00:00.000750Z', 'key_c', 'm-d', 'client_aborted', 8, 0, '0', 'env']),
  seed(['m2', '2024-03-04T08:00:00.000000Z', null, 'm-b', 'gateway_error', 0, 0, '0', 'builtin']),
];
/** Just outside WINDOW: `from` is inclusive, `to` exclusive. */
const OUTSIDE: Seed[] = [
  seed(['o1', '2024-02-29T23:59:59.999999Z', 'key_a', 'm-a', 'ok', 1, 1, '5', 'env']),
  seed(['o2', '2024-03-05T00:00:00.000000Z', 'key_a', 'm-a', 'ok', 1, 1, '7', 'env']),
];
const WINDOW = 'from=2024-03-01&to=2024-03-05';

/** 2,345 rows on three instants, for CSV batches of 1,000 that start and end inside a tie. */
const BULK_ROWS = 2345;
const BULK_WINDOW = 'from=2023-06-01&to=2023-06-02';

function insertable(seed: Seed): PgInsertValue<typeof usageLogs> {
  return {
    requestId: `req_${seed.name}`,
    // through SQL, so microseconds survive (a JS Date has milliseconds only)
    createdAt: sql`${seed.at}::timestamptz`,
    apiKeyId: seed.key,
    provider: 'huggingface',
    model: seed.model,
    upstreamModel: 'openai/gpt-oss-120b',
    stream: false,
    status: seed.status,
    httpStatus: seed.status === 'ok' ? 200 : 502,
    promptTokens: seed.prompt,
    completionTokens: seed.completion,
    totalTokens: seed.prompt + seed.completion,
    usageSource: 'upstream',
    usageRaw: seed.raw ?? null,
    inputTokenCost: '0.000001000',
    outputTokenCost: '0.000003',
    pricingSource: seed.pricing,
    costInput: '0',
    costOutput: seed.cost,
    costTotal: seed.cost,
    latencyMs: 120,
    error: seed.error ?? null,
  };
}

const seedNamed = new Map([...SEED, ...OUTSIDE].map((s) => [`req_${s.name}`, s]));

/** What the totals of these rows must be, added up here with exact decimals. */
/** A summary's `other` when every group is on the page. */
const NO_OTHER = {
  groups: 0,
  requests: 0,
  prompt_tokens: 0,
  completion_tokens: 0,
  total_tokens: 0,
  cost_usd: '0',
  charge_usd: '0',
};

function totalsOf(rows: Seed[]): Totals {
  const sum = (f: (s: Seed) => number) => rows.reduce((n, s) => n + f(s), 0);
  return {
    requests: rows.length,
    prompt_tokens: sum((s) => s.prompt),
    completion_tokens: sum((s) => s.completion),
    total_tokens: sum((s) => s.prompt + s.completion),
    cost_usd: formatDecimal(rows.reduce<Decimal>((acc, s) => add(acc, parseDecimal(s.cost)), ZERO)),
    // env (for a model other than the default) and builtin prices are guesses (DESIGN §5)
    unpriced_requests: rows.filter((s) => s.pricing === 'builtin' || s.pricing === 'env').length,
    charge_usd: formatDecimal(rows.reduce<Decimal>((acc, s) => add(acc, parseDecimal(s.cost)), ZERO)),
  };
}

/** Fails unless rows come in (created_at desc, id desc) order, created_at read to the microsecond. */
function expectNewestFirst(rows: Row[]) {
  for (let i = 1; i < rows.length; i += 1) {
    const [a, b] = [rows[i - 1], rows[i]];
    const [atA, atB] = [
      seedNamed.get(String(a?.request_id))?.at ?? '',
      seedNamed.get(String(b?.request_id))?.at ?? '',
    ];
    expect(
      atA > atB || (atA === atB && Number(a?.id) > Number(b?.id)),
      `${a?.request_id} before ${b?.request_id}`,
    ).toBe(true);
  }
}

/** RFC 4180 records: quoted cells may hold commas, doubled quotes and line breaks; records end in CRLF. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i += 1;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      record.push(cell);
      cell = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      record.push(cell);
      records.push(record);
      record = [];
      cell = '';
      i += 1;
    } else cell += ch;
  }
  expect(cell === '' && record.length === 0, 'the file ends with a CRLF').toBe(true);
  return records;
}

/** A JSON row's value as its CSV cell should read: tags joined by ';', usage_raw as JSON. */
const asCell = (value: unknown) =>
  value === null
    ? ''
    : Array.isArray(value)
      ? value.join(';')
      : typeof value === 'object'
        ? JSON.stringify(value)
        : String(value);

describe.each(BACKENDS)('GET /usage and /usage/summary on %s', (backend) => {
  let gw: TestGateway;
  let upstream: MockUpstream;
  let client: { key: string; id: string };

  beforeAll(async () => {
    upstream = await startMockUpstream(
      http.post(
        '*/chat/completions',
        () =>
          new HttpResponse(fixtureText('nonstream/hf-groq-gpt-oss-120b.response.json'), {
            headers: { 'content-type': 'application/json' },
          }),
      ),
    );
    gw = await startTestGateway({ backend, upstreamUrl: upstream.url });
    client = (await (await gw.call('/admin/keys', { method: 'POST', json: { name: 'reader' } })).json()) as {
      key: string;
      id: string;
    };
    const { db } = gw.deps.database;
    await db.insert(usageLogs).values([...SEED, ...OUTSIDE].map(insertable));
    const bulk = Array.from({ length: BULK_ROWS }, (_, i) =>
      insertable(
        seed([
          `bulk${i}`,
          `2023-06-01T0${i % 3}:00:00.000000Z`,
          'key_bulk',
          'm-bulk',
          'ok',
          1,
          1,
          '0.000004',
          'env',
        ]),
      ),
    );
    for (let i = 0; i < bulk.length; i += 500) await db.insert(usageLogs).values(bulk.slice(i, i + 500));
  });
  afterAll(async () => {
    await gw.close();
    await upstream.close();
  });

  const list = async (query: string) => {
    const res = await gw.call(`/usage?${query}`);
    expect(res.status).toBe(200);
    return (await res.json()) as List;
  };
  const summary = async (query: string) => {
    const res = await gw.call(`/usage/summary?${query}`);
    expect(res.status).toBe(200);
    return (await res.json()) as Summary;
  };
  const names = (rows: Row[]) => rows.map((r) => r.request_id.replace(/^req_/, ''));

  it('adds costs exactly: 0.1 + 0.2 + 0.0000000001 is 0.3000000001, not a float', async () => {
    const page = await list('from=2024-03-01&to=2024-03-03');
    expect(page.totals).toEqual({
      requests: 3,
      prompt_tokens: 600,
      completion_tokens: 60,
      total_tokens: 660,
      cost_usd: '0.3000000001',
      unpriced_requests: 3,
      charge_usd: '0.3000000001',
    });
  });

  it('returns rows newest first, with totals of the whole selection rather than the page', async () => {
    const page = await list(`${WINDOW}&limit=2`);
    expect(page.object).toBe('list');
    expect(names(page.data)).toEqual(['m2', 'u2']);
    expect(page.totals).toEqual(totalsOf(SEED));
    expect(page.totals.cost_usd).toBe('0.3000050001');
    expect(page.next_cursor).toEqual(expect.any(String));
  });

  it('serves each row with the usage_logs columns under their own names, money as canonical decimals', async () => {
    const { data } = await list(`${WINDOW}&model=m-a&key_id=master`);
    expect(data).toHaveLength(1);
    const [row] = data;
    expect(Object.keys(row ?? {})).toEqual([...COLUMNS, 'corrections']);
    expect(row).toMatchObject({
      request_id: 'req_m1',
      created_at: '2024-03-02T23:59:59.999Z',
      api_key_id: null,
      stream: false,
      status: 'ok',
      prompt_tokens: 300,
      total_tokens: 330,
      usage_raw: { note: 'a, "b"', prompt_tokens: 300 },
      pricing_id: null,
      input_token_cost: '0.000001',
      pricing_source: 'builtin',
      cost_total: '0.0000000001',
      ttft_ms: null,
      error: 'said "no", then, left\nearly',
    });
    expect(row?.id).toEqual(expect.any(Number));
  });

  it.each<[string, (s: Seed) => boolean]>([
    ['model=m-a', (s) => s.model === 'm-a'],
    ['key_id=key_a', (s) => s.key === 'key_a'],
    ['key_id=master', (s) => s.key === null],
    ['status=upstream_error', (s) => s.status === 'upstream_error'],
    ['status=client_aborted', (s) => s.status === 'client_aborted'],
    ['model=m-b&key_id=master', (s) => s.model === 'm-b' && s.key === null],
    ['model=nope', () => false],
  ])('narrows to %s', async (filter, keep) => {
    const page = await list(`${WINDOW}&${filter}&limit=1000`);
    const expected = SEED.filter(keep);
    expect(names(page.data).sort()).toEqual(expected.map((s) => s.name).sort());
    expectNewestFirst(page.data);
    expect(page.totals).toEqual(totalsOf(expected));
  });

  it.each([
    ['from=2024-03-01&to=2024-03-05', SEED.map((s) => s.name)],
    ['from=2024-02-29T23:59:59.999999Z&to=2024-03-01', ['o1']],
    ['from=2024-03-05&to=2024-03-06', ['o2']],
    ['from=2024-03-02&to=2024-03-03', ['m1']],
    ['from=2024-03-01&to=2024-03-01T05:30:00%2B00:00', ['a1']],
    ['from=2024-03-01&to=2024-03-01T07:30:00%2B02:00', ['a1']],
    ['from=2024-03-01&to=2024-03-01T05:30:00+00:00', ['a1']],
    ['from=2024-03-01T05:30:00Z&to=2024-03-02', ['a2']],
    ['from=2024-03-03T12:00:00.000Z&to=2024-03-03T12:00:00.001Z', ['t1', 't2', 't3', 't4', 't5', 'u1', 'u2']],
  ])('takes %s as from inclusive, to exclusive', async (range, expected) => {
    const page = await list(`${range}&limit=1000`);
    expect(names(page.data).sort()).toEqual([...expected].sort());
  });

  it('walks every row exactly once across pages, ties and microseconds included', async () => {
    const all = await list(`${WINDOW}&limit=1000`);
    expect(all.next_cursor).toBeNull();
    expectNewestFirst(all.data);
    for (const limit of [1, 2, 5]) {
      const seen: Row[] = [];
      let cursor: string | null = null;
      do {
        const page: List = await list(`${WINDOW}&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
        expect(page.data.length).toBeLessThanOrEqual(limit);
        expect(page.totals).toEqual(all.totals);
        seen.push(...page.data);
        cursor = page.next_cursor;
      } while (cursor);
      expect(names(seen)).toEqual(names(all.data));
    }
    expect(all.data).toHaveLength(SEED.length);
  });

  it.each([
    ['day', (s: Seed) => `${s.at.slice(0, 10)}T00:00:00.000Z`],
    ['hour', (s: Seed) => `${s.at.slice(0, 13)}:00:00.000Z`],
    ['model', (s: Seed) => s.model],
    ['key', (s: Seed) => s.key ?? 'master'],
    ['status', (s: Seed) => s.status],
  ])('summarizes by %s with exact sums, in its order', async (groupBy, groupOf) => {
    const reply = await summary(`${WINDOW}&group_by=${groupBy}`);
    const groups = new Map<string, Seed[]>();
    for (const s of SEED) groups.set(groupOf(s), [...(groups.get(groupOf(s)) ?? []), s]);
    const expected = [...groups].map(([group, rows]) => {
      const { unpriced_requests: _, ...sums } = totalsOf(rows);
      return { group, ...sums };
    });
    const bytewise = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
    const spend = (a: Group, b: Group) => compare(parseDecimal(b.cost_usd), parseDecimal(a.cost_usd));
    expected.sort(
      groupBy === 'day' || groupBy === 'hour'
        ? (a, b) => bytewise(a.group, b.group)
        : (a, b) => spend(a, b) || bytewise(a.group, b.group),
    );
    // every group fits the default page of 100: nothing is left for `other` (issue 23 added it)
    expect(reply).toEqual({
      object: 'list',
      group_by: groupBy,
      data: expected,
      other: NO_OTHER,
      totals: totalsOf(SEED),
      next_cursor: null,
    });
  });

  it('summarizes by key and status spend first, ties by name', async () => {
    expect((await summary(`${WINDOW}&group_by=key`)).data.map((g) => g.group)).toEqual([
      'key_a',
      'key_b',
      'master',
      'key_c',
    ]);
    expect((await summary(`${WINDOW}&group_by=status`)).data.map((g) => g.group)).toEqual([
      'upstream_error',
      'ok',
      'client_aborted',
      'gateway_error',
    ]);
  });

  it('summarizes an empty selection as no groups and zero totals', async () => {
    expect(await summary('model=nope&group_by=day')).toEqual({
      object: 'list',
      group_by: 'day',
      data: [],
      other: NO_OTHER,
      totals: totalsOf([]),
      next_cursor: null,
    });
  });

  it('streams the selection as CSV: a header, then each JSON row as one RFC 4180 record', async () => {
    const res = await gw.call(`/usage?${WINDOW}`, { headers: { accept: 'text/csv' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="usage.csv"');
    const text = await res.text();
    // error, then (issue 25) no account, markup 1, charged its cost, then corrections and corrected figures
    expect(text).toContain(
      ',"said ""no"", then, left\nearly",,1,0.0000000001,0,0.0000000001,0.0000000001\r\n',
    );
    const [header, ...records] = parseCsv(text);
    expect(header).toEqual(COLUMNS);
    const { data } = await list(`${WINDOW}&limit=1000`);
    expect(records).toEqual(data.map((row) => COLUMNS.map((c) => asCell(row[c]))));
    expect(await (await gw.call(`/usage?${WINDOW}&format=csv`)).text()).toBe(text);
  });

  it('streams CSV past one database batch without losing or repeating a row', async () => {
    const csv = parseCsv(await (await gw.call(`/usage?${BULK_WINDOW}&format=csv`)).text());
    const ids = csv.slice(1).map((record) => record[1]);
    expect(ids).toHaveLength(BULK_ROWS);
    expect(new Set(ids).size).toBe(BULK_ROWS);
    const first = await list(`${BULK_WINDOW}&limit=1000`);
    expect(first.totals).toMatchObject({ requests: BULK_ROWS, cost_usd: '0.00938' });
    expect(ids.slice(0, 1000)).toEqual(first.data.map((r) => r.request_id));
  });

  it('answers JSON when format=json, whatever Accept says', async () => {
    const res = await gw.call(`/usage?${WINDOW}&format=json`, { headers: { accept: 'text/csv' } });
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(((await res.json()) as List).totals.requests).toBe(SEED.length);
  });

  it('finds a real metered request by the x-request-id its client got, and by its key', async () => {
    const before = new Date(Date.now() - 1000).toISOString();
    const res = await gw.call('/v1/chat/completions', {
      method: 'POST',
      key: client.key,
      json: { model: 'openai/gpt-oss-120b:groq', messages: [{ role: 'user', content: 'hi' }] },
    });
    expect(res.status).toBe(200);
    const page = await list(`from=${encodeURIComponent(before)}&key_id=${client.id}`);
    expect(page.data).toHaveLength(1);
    expect(page.data[0]).toMatchObject({
      request_id: res.headers.get('x-request-id'),
      api_key_id: client.id,
      model: 'openai/gpt-oss-120b:groq',
      status: 'ok',
      prompt_tokens: 81,
      completion_tokens: 76,
      total_tokens: 157,
      reasoning_tokens: 30,
      usage_source: 'upstream',
      usage_raw: expect.objectContaining({ prompt_tokens: 81, completion_tokens: 76 }),
      cost_input: '0.000081',
      cost_output: '0.000228',
      cost_total: '0.000309',
    });
    expect(res.headers.get('x-usage-cost-usd')).toBe('0.000309');
    expect(page.totals).toMatchObject({ requests: 1, cost_usd: '0.000309', unpriced_requests: 0 });
  });

  it.each([
    ['limit=0', 'limit'],
    ['limit=1001', 'limit'],
    ['limit=abc', 'limit'],
    ['limit=1.5', 'limit'],
    ['limit=-1', 'limit'],
    ['limit=1e2', 'limit'],
    ['limit=', 'limit'],
    ['limit=5&limit=6', 'limit'],
    ['from=yesterday', 'from'],
    ['from=2024-03-01T00:00:00', 'from'],
    ['to=2024-02-30', 'to'],
    ['from=0001-01-01T00:00:00%2B01:00', 'from'],
    ['from=2024-03-05&to=2024-03-01', 'to'],
    ['model=', 'model'],
    ['key_id=', 'key_id'],
    ['status=bogus', 'status'],
    ['cursor=garbage', 'cursor'],
    [`cursor=${Buffer.from('2024-03-01T00:00:00.000000Z,1;drop').toString('base64url')}`, 'cursor'],
    ['format=xml', 'format'],
    ['format=csv&limit=10', 'limit'],
    ['format=csv&cursor=abc', 'cursor'],
    ['modle=m-a', 'modle'],
    ['group_by=day', 'group_by'],
  ])('refuses %s with a 400 naming the parameter', async (query, param) => {
    const res = await gw.call(`/usage?${query}`);
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as ErrorReply;
    expect(error).toMatchObject({ type: 'invalid_request_error', param });
    expect(error.message).toMatch(new RegExp(`^Invalid query parameter '${param}': `));
  });

  it.each([
    ['', 'group_by'],
    ['group_by=week', 'group_by'],
    ['group_by=day&group_by=hour', 'group_by'],
    // summaries are paged since issue 23: a limit is taken, a bad one refused
    ['group_by=day&limit=0', 'limit'],
    ['group_by=day&limit=1001', 'limit'],
    ['group_by=day&cursor=bm9wZQ', 'cursor'],
    ['group_by=day&status=bogus', 'status'],
    ['group_by=day&from=2024-03-02&to=2024-03-02', 'to'],
  ])('refuses the summary of %s with a 400 naming the parameter', async (query, param) => {
    const res = await gw.call(`/usage/summary?${query}`);
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as ErrorReply;
    expect(error).toMatchObject({ type: 'invalid_request_error', param });
    expect(error.message).toMatch(new RegExp(`^Invalid query parameter '${param}': `));
  });

  it('is for the admin key only: 403 for a client key, 401 for none', async () => {
    for (const path of ['/usage', '/usage?format=csv', '/usage/summary?group_by=day']) {
      const forbidden = await gw.call(path, { key: client.key });
      expect(forbidden.status).toBe(403);
      expect(((await forbidden.json()) as ErrorReply).error.code).toBe('insufficient_permissions');
      expect((await gw.call(path, { key: null })).status).toBe(401);
    }
  });
});
