// The ledger's INSERT sends each column of a batch as one array literal: whatever the text holds, the
// row reads back exactly as it was written, in batch order, and a replayed row is skipped.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.ts';
import type { UsageLogInsert } from '../../src/db/schema.ts';
import { insertUsageRows } from '../../src/db/usage-insert.ts';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/databases.ts';

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
