// The names Tollgate exports, after the OpenTelemetry GenAI semantic conventions (gen_ai.*, still
// "development" there, so copied rather than imported from semantic-conventions/incubating, as that
// package advises) plus tollgate.* for what the conventions have no name for. Pure: no OpenTelemetry import.
// https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/
import type { UsageLogInsert } from '../db/schema.ts';

export const GEN_AI = {
  operation: 'gen_ai.operation.name',
  provider: 'gen_ai.provider.name',
  requestModel: 'gen_ai.request.model',
  responseModel: 'gen_ai.response.model',
  responseId: 'gen_ai.response.id',
  inputTokens: 'gen_ai.usage.input_tokens',
  outputTokens: 'gen_ai.usage.output_tokens',
  cacheReadInputTokens: 'gen_ai.usage.cache_read.input_tokens',
  reasoningOutputTokens: 'gen_ai.usage.reasoning.output_tokens',
  /** not (yet) in the conventions: the exact cost in USD, as a decimal string */
  cost: 'gen_ai.usage.cost',
  tokenType: 'gen_ai.token.type',
} as const;

export const TOLLGATE = {
  requestId: 'tollgate.request_id',
  /** what the caller is charged: the cost until accounts and plans land (DESIGN 6c) */
  chargeUsd: 'tollgate.charge_usd',
  pricingSource: 'tollgate.pricing_source',
  servedBy: 'tollgate.served_by',
  /** the row's status: ok | upstream_error | client_aborted | gateway_error */
  status: 'tollgate.status',
  usageSource: 'tollgate.usage_source',
  endpoint: 'tollgate.endpoint',
} as const;

export const ERROR_TYPE = 'error.type';
export const HTTP_STATUS = 'http.response.status_code';

/** The metric names: the GenAI client metrics and a cost counter of our own. */
export const METRICS = {
  tokenUsage: 'gen_ai.client.token.usage',
  duration: 'gen_ai.client.operation.duration',
  cost: 'tollgate.usage.cost',
} as const;

/** The conventions' advised bucket boundaries (tokens; seconds). */
export const TOKEN_BUCKETS = [
  1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
];
export const DURATION_BUCKETS = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

export type Attributes = Record<string, string | number | boolean>;

/** A committed row as span attributes: counts, models, cost. Never a prompt or a completion. */
export function rowAttributes(row: UsageLogInsert): Attributes {
  const attributes: Attributes = {
    [GEN_AI.provider]: row.provider,
    [GEN_AI.inputTokens]: row.promptTokens ?? 0,
    [GEN_AI.outputTokens]: row.completionTokens ?? 0,
    [GEN_AI.cacheReadInputTokens]: row.cachedTokens ?? 0,
    [GEN_AI.reasoningOutputTokens]: row.reasoningTokens ?? 0,
    [GEN_AI.cost]: row.costTotal,
    [TOLLGATE.chargeUsd]: row.costTotal,
    [TOLLGATE.pricingSource]: row.pricingSource,
    [TOLLGATE.status]: row.status,
    [TOLLGATE.usageSource]: row.usageSource,
    [HTTP_STATUS]: row.httpStatus,
  };
  if (row.upstreamModel) attributes[GEN_AI.responseModel] = row.upstreamModel;
  if (row.servedBy) attributes[TOLLGATE.servedBy] = row.servedBy;
  return attributes;
}

/** A row's error.type: its status when it is not ok (an upstream error by its HTTP status). */
export function rowErrorType(row: Pick<UsageLogInsert, 'status' | 'httpStatus'>): string | undefined {
  if (row.status === 'ok') return undefined;
  return row.status === 'upstream_error' ? String(row.httpStatus) : row.status;
}
