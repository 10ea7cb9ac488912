// The ledger's hot write: a multi-row INSERT of usage rows, built as one parameterized statement and
// sent through the driver directly. (drizzle's builder costs ~90 µs of CPU per batch here; this costs a
// string lookup.) Duplicates by request_id are skipped, so replaying a spool never counts twice.
import type { Database, Parameter } from './client.ts';
import type { UsageLogInsert } from './schema.ts';

/** [field, column, SQL type] for every column the gateway writes. */
const COLUMNS = [
  ['requestId', 'request_id', 'text'],
  ['createdAt', 'created_at', 'timestamptz'],
  ['apiKeyId', 'api_key_id', 'text'],
  ['provider', 'provider', 'text'],
  ['model', 'model', 'text'],
  ['upstreamModel', 'upstream_model', 'text'],
  ['stream', 'stream', 'boolean'],
  ['status', 'status', 'text'],
  ['httpStatus', 'http_status', 'integer'],
  ['promptTokens', 'prompt_tokens', 'integer'],
  ['completionTokens', 'completion_tokens', 'integer'],
  ['totalTokens', 'total_tokens', 'integer'],
  ['cachedTokens', 'cached_tokens', 'integer'],
  ['reasoningTokens', 'reasoning_tokens', 'integer'],
  ['usageSource', 'usage_source', 'text'],
  ['usageRaw', 'usage_raw', 'jsonb'],
  ['pricingId', 'pricing_id', 'bigint'],
  ['inputTokenCost', 'input_token_cost', 'numeric'],
  ['outputTokenCost', 'output_token_cost', 'numeric'],
  ['pricingSource', 'pricing_source', 'text'],
  ['costInput', 'cost_input', 'numeric'],
  ['costOutput', 'cost_output', 'numeric'],
  ['costTotal', 'cost_total', 'numeric'],
  ['latencyMs', 'latency_ms', 'integer'],
  ['ttftMs', 'ttft_ms', 'integer'],
  ['upstreamRequestId', 'upstream_request_id', 'text'],
  ['error', 'error', 'text'],
  ['reservedUsd', 'reserved_usd', 'numeric'],
] as const satisfies ReadonlyArray<readonly [keyof UsageLogInsert, string, string]>;

/** Columns with a database default: an absent value takes it rather than null. */
const DEFAULTS: Partial<Record<keyof UsageLogInsert, number>> = {
  promptTokens: 0,
  completionTokens: 0,
  totalTokens: 0,
  cachedTokens: 0,
  reasoningTokens: 0,
};

const statements = new Map<number, string>();

function statementFor(rows: number): string {
  let text = statements.get(rows);
  if (!text) {
    const tuples: string[] = [];
    for (let r = 0; r < rows; r++) {
      tuples.push(`(${COLUMNS.map(([, , type], c) => `$${r * COLUMNS.length + c + 1}::${type}`).join(',')})`);
    }
    text = `insert into usage_logs (${COLUMNS.map(([, column]) => column).join(',')}) values ${tuples.join(',')} on conflict (request_id) do nothing`;
    if (rows <= 64) statements.set(rows, text);
  }
  return text;
}

/** A row's value for one column, in the JS type both drivers serialize right for its SQL type. */
function parameter(row: UsageLogInsert, field: keyof UsageLogInsert): Parameter {
  const value = row[field];
  if (value === null || value === undefined) {
    return DEFAULTS[field] ?? (field === 'createdAt' ? new Date().toISOString() : null);
  }
  // both drivers take ISO text for timestamptz and JSON text for jsonb (postgres.js binds a Date or an
  // object unserialized); booleans stay booleans (postgres.js reads the string 'true' as false)
  if (value instanceof Date) return value.toISOString();
  if (field === 'usageRaw') {
    const json = JSON.stringify(value);
    return json.includes('\\u0000') ? JSON.stringify(withoutNul(value)) : json;
  }
  if (typeof value === 'string' && value.includes('\0')) return value.replaceAll('\0', '');
  return value as Parameter;
}

/**
 * `value` with every NUL character removed from its strings and keys. PostgreSQL text and jsonb cannot
 * hold NUL, and upstream-controlled fields (the answering model, ids, error text, the usage object)
 * could carry one: the row must still commit, or an answered request would go unmetered.
 */
function withoutNul(value: unknown): unknown {
  if (typeof value === 'string') return value.replaceAll('\0', '');
  if (Array.isArray(value)) return value.map(withoutNul);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k.replaceAll('\0', ''), withoutNul(v)]));
  }
  return value;
}

/** Inserts the rows in one statement (PostgreSQL allows 65535 parameters: callers batch ≤ 1000 rows). */
export async function insertUsageRows(database: Database, rows: readonly UsageLogInsert[]): Promise<void> {
  if (rows.length === 0) return;
  const params: Parameter[] = [];
  for (const row of rows) for (const [field] of COLUMNS) params.push(parameter(row, field));
  await database.execute(statementFor(rows.length), params);
}
