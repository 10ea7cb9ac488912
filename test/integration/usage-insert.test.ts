// The ledger's INSERT sends each column of a batch as one array literal: whatever the text holds, the
// row reads back exactly as it was written, in batch order, and a replayed row is skipped. Values the
// columns cannot hold (counts past int4, NUL, lone surrogates) are fitted and the row says so: an
// answered request is metered, never turned into a 503 by the numbers or text its upstream chose.
import { sql } from 'drizzle-orm';
import { HttpResponse, http } from 'msw';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.ts';
import type { UsageLogInsert } from '../../src/db/schema.ts';
import { insertUsageRows } from '../../src/db/usage-insert.ts';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { fixtureJson, fixtureText } from '../helpers/fixtures.ts';
import { gatewaySuite, type TestGateway } from '../helpers/gateway.ts';
import type { MockUpstream } from '../helpers/mock-upstream.ts';

const AWKWARD = [
  'NULL',
  '',
  'a "quoted" word',
  'back\\slash \\" both',
  '{braces},commas',
  'ünïcødé ✓ 🚀',
  ' spaced ',
];

const row = (i: number, text: string): UsageLogInsert => ({
  requestId: `req_insert_${i}`,
  createdAt: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, i)),
  apiKeyId: null,
  provider: 'huggingface',
  model: `model ${text}`,
  upstreamModel: text,
  stream: i % 2 === 0,
  status: 'ok',
  httpStatus: 200,
  promptTokens: 10 + i,
  completionTokens: 20 + i,
  totalTokens: 30 + 2 * i,
  usageSource: 'upstream',
  usageRaw: { note: text, nested: { list: [text, null, 1.5] } },
  inputTokenCost: '0.000001',
  outputTokenCost: '0.000003',
  pricingSource: 'env',
  costInput: '0.00001',
  costOutput: '0.00006',
  costTotal: `0.${String(i).padStart(18, '0')}`,
  latencyMs: 7,
  ttftMs: i % 2 === 0 ? null : 3,
  upstreamRequestId: i % 3 === 0 ? null : text,
  error: text,
  endpoint: i % 2 === 0 ? 'chat.completions' : 'responses',
  endUser: text,
  tags: i % 3 === 0 ? null : [text, 'b', text],
  servedBy: text,
  cachedInputTokenCost: i % 2 === 0 ? null : '0.0000005',
});

describe.each(BACKENDS)('the usage INSERT on %s', (backend) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase(backend);
    await migrate(db.database);
  });
  afterAll(() => db.drop());

  it('writes awkward text exactly (tags and attribution too), nulls as nulls, in batch order, and skips a replayed row', async () => {
    const rows = AWKWARD.map((text, i) => row(i, text));
    await insertUsageRows(db.database, rows);
    await insertUsageRows(db.database, [row(1, 'replayed'), row(99, 'new')]);
    const stored = await db.database.rows<Record<string, unknown>>(sql`
      select request_id, upstream_model, model, stream, usage_raw, upstream_request_id, error, ttft_ms,
             cost_total::text as cost_total, to_char(created_at at time zone 'UTC', 'SS.MS') as at,
             endpoint, end_user, tags, served_by, cached_input_token_cost::text as cached
      from usage_logs order by id`);
    expect(stored.map((r) => r.request_id)).toEqual([...rows.map((r) => r.requestId), 'req_insert_99']);
    for (const [i, text] of AWKWARD.entries()) {
      expect(stored[i]).toEqual({
        request_id: `req_insert_${i}`,
        upstream_model: text,
        model: `model ${text}`,
        stream: i % 2 === 0,
        usage_raw: { note: text, nested: { list: [text, null, 1.5] } },
        upstream_request_id: i % 3 === 0 ? null : text,
        error: text,
        ttft_ms: i % 2 === 0 ? null : 3,
        cost_total: `0.${String(i).padStart(18, '0')}`,
        at: `05.00${i}`,
        endpoint: i % 2 === 0 ? 'chat.completions' : 'responses',
        end_user: text,
        tags: i % 3 === 0 ? null : [text, 'b', text],
        served_by: text,
        cached: i % 2 === 0 ? null : '0.0000005',
      });
    }
  });
});

describe.each(BACKENDS)('usage values the columns cannot hold, on %s', (backend) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase(backend);
    await migrate(db.database);
  });
  afterAll(() => db.drop());

  const stored = async (requestId: string) =>
    (
      await db.database.rows<Record<string, unknown>>(sql`
        select prompt_tokens, completion_tokens, total_tokens, cached_tokens, latency_ms, usage_raw,
               upstream_model, tags, error, cost_total::text as cost_total
        from usage_logs where request_id = ${requestId}`)
    )[0];

  it('commits counts past int4 clamped to its bounds, the cost as priced, and names each clamp in error', async () => {
    // prompt 2^31 - 1 and completion 5 with no total: the total (prompt + completion) overflows int4
    const big = {
      ...row(200, 'big'),
      promptTokens: 2147483647,
      completionTokens: 5,
      totalTokens: 2147483652,
      cachedTokens: -2147483649,
      latencyMs: 12.5,
      usageRaw: { prompt_tokens: 2147483647, completion_tokens: 5 },
      costTotal: '6442.450956',
      error: null,
    };
    const plain = row(201, 'plain');
    await insertUsageRows(db.database, [big, plain]);
    expect(await stored(big.requestId)).toEqual({
      prompt_tokens: 2147483647,
      completion_tokens: 5,
      total_tokens: 2147483647,
      cached_tokens: -2147483648,
      latency_ms: 12,
      usage_raw: { prompt_tokens: 2147483647, completion_tokens: 5 },
      upstream_model: 'big',
      tags: ['big', 'b', 'big'],
      error:
        'ledger clamped total_tokens 2147483652 → 2147483647, cached_tokens -2147483649 → -2147483648, latency_ms 12.5 → 12',
      cost_total: '6442.450956',
    });
    // a row that fits is stored as given, unflagged
    expect(await stored(plain.requestId)).toMatchObject({ error: 'plain', total_tokens: 30 + 2 * 201 });
  });

  it('commits lone surrogates and NULs (in usage_raw values and keys, text, tags) repaired, and says so after the row’s own error', async () => {
    const odd = {
      ...row(300, 'odd'),
      upstreamModel: 'gpt\ud800-oss',
      tags: ['ok', 'bad\udfff'],
      usageRaw: { prompt_tokens: 3, 'note\udc00': ['a\ud800b', { deep: 'n\u0000ul' }], fine: '🚀' },
      error: 'The upstream said \udbff',
    };
    await insertUsageRows(db.database, [odd]);
    expect(await stored(odd.requestId)).toMatchObject({
      upstream_model: 'gpt\ufffd-oss',
      tags: ['ok', 'bad\ufffd'],
      usage_raw: { prompt_tokens: 3, 'note\ufffd': ['a\ufffdb', { deep: 'nul' }], fine: '🚀' },
      error:
        'The upstream said \ufffd; ledger repaired text in upstream_model, tags, usage_raw, error (NUL removed, lone surrogates → U+FFFD)',
    });
  });
});

describe.each(BACKENDS)('an answered request whose usage the columns cannot hold, on %s', (backend) => {
  let gw: TestGateway;
  let upstream: MockUpstream;
  gatewaySuite({ backend }, (suite) => ({ gw, upstream } = suite));

  it('is answered 200 and metered, its row clamped, repaired and flagged', async () => {
    const reply = JSON.parse(fixtureText('nonstream/hf-groq-gpt-oss-120b.response.json')) as Record<
      string,
      unknown
    >;
    // no total_tokens: the gateway adds prompt + completion, past int4; a lone surrogate in the usage
    const body = JSON.stringify({
      ...reply,
      usage: { prompt_tokens: 2147483647, completion_tokens: 5, note: '\ud800' },
    });
    upstream.use(
      http.post(
        `${upstream.url}/chat/completions`,
        () => new HttpResponse(body, { headers: { 'content-type': 'application/json' } }),
      ),
    );
    const res = await gw.call('/v1/chat/completions', {
      method: 'POST',
      json: fixtureJson<Record<string, unknown>>('nonstream/hf-groq-gpt-oss-120b.request.json'),
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(body);
    expect(await gw.usageRow(res.headers.get('x-request-id'))).toMatchObject({
      status: 'ok',
      prompt_tokens: 2147483647,
      completion_tokens: 5,
      total_tokens: 2147483647,
      usage_raw: { prompt_tokens: 2147483647, completion_tokens: 5, note: '\ufffd' },
      error:
        'ledger clamped total_tokens 2147483652 → 2147483647; ledger repaired text in usage_raw (NUL removed, lone surrogates → U+FFFD)',
    });
  });
});
