// Builds one usage_logs row: tokens (reported or estimated), the price applied, the exact cost.
import { costOf } from '../billing/cost.ts';
import { formatDecimal } from '../billing/money.ts';
import { type AppliedPrice, PROVIDER } from '../billing/pricing.ts';
import type { UsageLogInsert } from '../db/schema.ts';
import type { TokenUsage } from '../metering/usage.ts';

export type UsageStatus = 'ok' | 'upstream_error' | 'client_aborted' | 'gateway_error';

/** Tokens either reported by the upstream or counted by the gateway. */
export type MeteredTokens =
  | { source: 'upstream'; usage: TokenUsage }
  | { source: 'estimated'; promptTokens: number; completionTokens: number };

export const NO_TOKENS: MeteredTokens = { source: 'estimated', promptTokens: 0, completionTokens: 0 };

export type UsageRowInput = {
  requestId: string;
  apiKeyId: string | null;
  model: string;
  upstreamModel?: string | null | undefined;
  stream: boolean;
  status: UsageStatus;
  httpStatus: number;
  tokens: MeteredTokens;
  price: AppliedPrice;
  /** when the request arrived */
  startedAt: Date;
  latencyMs: number;
  ttftMs?: number | null | undefined;
  upstreamRequestId?: string | null | undefined;
  error?: string | null | undefined;
  /** USD reserved against the key's budget at admission, released when this row is inserted */
  reservedUsd?: string | null | undefined;
};

export function buildUsageRow(input: UsageRowInput): { row: UsageLogInsert; costTotal: string } {
  const { tokens } = input;
  const counts =
    tokens.source === 'upstream'
      ? tokens.usage
      : {
          promptTokens: tokens.promptTokens,
          completionTokens: tokens.completionTokens,
          totalTokens: tokens.promptTokens + tokens.completionTokens,
          cachedTokens: 0,
          reasoningTokens: 0,
        };
  const cost = costOf(counts, input.price);
  const costTotal = formatDecimal(cost.total);
  return {
    costTotal,
    row: {
      requestId: input.requestId,
      createdAt: input.startedAt,
      apiKeyId: input.apiKeyId,
      provider: PROVIDER,
      model: input.model,
      upstreamModel: input.upstreamModel ?? null,
      stream: input.stream,
      status: input.status,
      httpStatus: input.httpStatus,
      promptTokens: counts.promptTokens,
      completionTokens: counts.completionTokens,
      totalTokens: counts.totalTokens,
      cachedTokens: counts.cachedTokens,
      reasoningTokens: counts.reasoningTokens,
      usageSource: tokens.source,
      usageRaw: tokens.source === 'upstream' ? tokens.usage.raw : null,
      pricingId: input.price.pricingId,
      inputTokenCost: formatDecimal(input.price.inputTokenCost),
      outputTokenCost: formatDecimal(input.price.outputTokenCost),
      pricingSource: input.price.source,
      costInput: formatDecimal(cost.input),
      costOutput: formatDecimal(cost.output),
      costTotal,
      latencyMs: Math.round(input.latencyMs),
      ttftMs: input.ttftMs == null ? null : Math.round(input.ttftMs),
      upstreamRequestId: input.upstreamRequestId ?? null,
      error: input.error ?? null,
      reservedUsd: input.reservedUsd ?? null,
    },
  };
}
