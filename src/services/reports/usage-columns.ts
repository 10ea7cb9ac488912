// A usage_logs row as /usage, its CSV and the dashboard show it: the columns, in table order, under
// their snake_case names, money as canonical decimal strings.
import { addExact, exactText, multiplyExact } from '../../billing/charge.ts';
import { add, canonical, formatDecimal, parseDecimal } from '../../billing/money.ts';
import type { CorrectionView } from '../../db/corrections-repo.ts';
import type { UsagePageRow } from '../../db/usage-repo.ts';

/** The usage_logs columns a report row carries, in table order: JSON keys and the CSV header. */
export const USAGE_COLUMNS = [
  'id',
  'request_id',
  'created_at',
  'api_key_id',
  'provider',
  'model',
  'upstream_model',
  'served_by',
  'endpoint',
  'end_user',
  'tags',
  'stream',
  'status',
  'http_status',
  'prompt_tokens',
  'completion_tokens',
  'total_tokens',
  'cached_tokens',
  'reasoning_tokens',
  'usage_source',
  'usage_raw',
  'pricing_id',
  'input_token_cost',
  'cached_input_token_cost',
  'output_token_cost',
  'pricing_source',
  'cost_input',
  'cost_output',
  'cost_total',
  'latency_ms',
  'ttft_ms',
  'upstream_request_id',
  'error',
  // issue 25: the key's account when the row was written, the markup applied and the charge
  'account_id',
  'markup',
  'charge_usd',
  // after the row's own columns (issue 15): its corrections' sum and its cost with them, USD
  'corrections_usd',
  'corrected_cost_total',
  // and its charge with them: charge_usd + corrections_usd × markup
  'corrected_charge_usd',
] as const;

/** One usage_logs row under its column names; money as canonical decimal strings (USD, USD per token). */
export type UsageRow = {
  id: number;
  request_id: string;
  /** ISO 8601, UTC */
  created_at: string;
  /** null for the admin key */
  api_key_id: string | null;
  provider: string;
  model: string;
  upstream_model: string | null;
  /** the router's serving provider (x-inference-provider), when known */
  served_by: string | null;
  endpoint: string;
  /** the OpenAI `user` field or x-tollgate-user */
  end_user: string | null;
  /** x-tollgate-tags; [] when none */
  tags: string[];
  stream: boolean;
  status: string;
  http_status: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cached_tokens: number;
  reasoning_tokens: number;
  usage_source: string;
  /** the upstream's usage object as it came */
  usage_raw: unknown;
  pricing_id: number | null;
  input_token_cost: string;
  /** USD per cached input token as applied; null on rows written before cached prices existed */
  cached_input_token_cost: string | null;
  output_token_cost: string;
  pricing_source: string;
  cost_input: string;
  cost_output: string;
  cost_total: string;
  latency_ms: number;
  ttft_ms: number | null;
  upstream_request_id: string | null;
  error: string | null;
  /** the key's account when the row was written; null for a key without one */
  account_id: string | null;
  /** the account plan's markup applied; 1 without an account */
  markup: string;
  /** USD: cost_total × markup, exact (the cost itself without an account) */
  charge_usd: string;
  /** USD: the sum of the deltas of the row's corrections ('0' when none) */
  corrections_usd: string;
  /** USD: cost_total + corrections_usd, what the request is billed */
  corrected_cost_total: string;
  /** USD: charge_usd + corrections_usd × markup, what the customer is charged for the request */
  corrected_charge_usd: string;
  /** the correction entries themselves, oldest first (JSON only) */
  corrections?: CorrectionView[];
};

export function toRow(row: UsagePageRow): UsageRow {
  // rows from before accounts existed hold no charge: their cost × markup (1) is what they were charged
  const charge = exactText(row.chargeUsd ?? multiplyExact(row.costTotal, row.markup));
  return {
    id: row.id,
    request_id: row.requestId,
    created_at: row.createdAt.toISOString(),
    api_key_id: row.apiKeyId,
    provider: row.provider,
    model: row.model,
    upstream_model: row.upstreamModel,
    served_by: row.servedBy,
    endpoint: row.endpoint,
    end_user: row.endUser,
    tags: row.tags ?? [],
    stream: row.stream,
    status: row.status,
    http_status: row.httpStatus,
    prompt_tokens: row.promptTokens,
    completion_tokens: row.completionTokens,
    total_tokens: row.totalTokens,
    cached_tokens: row.cachedTokens,
    reasoning_tokens: row.reasoningTokens,
    usage_source: row.usageSource,
    usage_raw: row.usageRaw ?? null,
    pricing_id: row.pricingId,
    // PostgreSQL may answer "0.000309000"; the API answers "0.000309"
    input_token_cost: canonical(row.inputTokenCost),
    cached_input_token_cost: row.cachedInputTokenCost === null ? null : canonical(row.cachedInputTokenCost),
    output_token_cost: canonical(row.outputTokenCost),
    pricing_source: row.pricingSource,
    cost_input: canonical(row.costInput),
    cost_output: canonical(row.costOutput),
    cost_total: canonical(row.costTotal),
    latency_ms: row.latencyMs,
    ttft_ms: row.ttftMs,
    upstream_request_id: row.upstreamRequestId,
    error: row.error,
    account_id: row.accountId,
    markup: exactText(row.markup),
    charge_usd: charge,
    corrections_usd: canonical(row.correctedBy),
    corrected_cost_total: formatDecimal(add(parseDecimal(row.costTotal), parseDecimal(row.correctedBy))),
    corrected_charge_usd: addExact(charge, multiplyExact(row.correctedBy, row.markup)),
  };
}
