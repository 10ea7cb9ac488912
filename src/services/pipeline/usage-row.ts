// Builds one usage_logs row: tokens (reported or estimated), the price applied (cached input price
// included), the exact cost.
import { multiplyExact } from '../../billing/charge.ts';
import { costOf } from '../../billing/cost.ts';
import { type Decimal, formatDecimal } from '../../billing/money.ts';
import type { AppliedPrice } from '../../billing/pricing.ts';
import type { UsageLogInsert } from '../../db/schema.ts';
import { fitUsageRaw } from '../../db/usage-fit.ts';
import type { TokenUsage } from '../../metering/usage.ts';

export type UsageStatus = 'ok' | 'upstream_error' | 'client_aborted' | 'gateway_error';

/** Tokens reported by the upstream, counted by the gateway, or none (nothing was generated or billed). */
export type MeteredTokens =
  | { source: 'upstream'; usage: TokenUsage }
  | { source: 'estimated'; promptTokens: number; completionTokens: number }
  | { source: 'none' };

export type UsageRowInput = {
  requestId: string;
  apiKeyId: string | null;
  /** the pricing provider (the upstream's) */
  provider: string;
  model: string;
  upstreamModel?: string | null | undefined;
  servedBy?: string | null | undefined;
  /** the adapter's name */
  endpoint: string;
  endUser?: string | null | undefined;
  tags?: string[] | null | undefined;
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
  /** the key's account and its plan's markup; null or absent: markup 1, charge = cost */
  account?: { id: string; markup: string } | null | undefined;
};

export function buildUsageRow(input: UsageRowInput): { row: UsageLogInsert; costTotal: string } {
  const { tokens } = input;
  const counts =
    tokens.source === 'upstream'
      ? tokens.usage
      : tokens.source === 'estimated'
        ? {
            promptTokens: tokens.promptTokens,
            completionTokens: tokens.completionTokens,
            totalTokens: tokens.promptTokens + tokens.completionTokens,
            cachedTokens: 0,
            reasoningTokens: 0,
          }
        : { promptTokens: 0, completionTokens: 0, totalTokens: 0, cachedTokens: 0, reasoningTokens: 0 };
  // an unstorable usage object (nested thousands deep, huge) is kept as a marker, and the row says so
  const raw = tokens.source === 'upstream' ? fitUsageRaw(tokens.usage.raw) : { value: null };
  const cost = costOf(counts, input.price);
  const costTotal = formatDecimal(cost.total);
  const account = input.account ?? null;
  return {
    costTotal,
    row: {
      requestId: input.requestId,
      createdAt: input.startedAt,
      apiKeyId: input.apiKeyId,
      provider: input.provider,
      model: input.model,
      upstreamModel: input.upstreamModel ?? null,
      servedBy: input.servedBy ?? null,
      endpoint: input.endpoint,
      endUser: input.endUser ?? null,
      tags: input.tags ?? null,
      stream: input.stream,
      status: input.status,
      httpStatus: input.httpStatus,
      promptTokens: counts.promptTokens,
      completionTokens: counts.completionTokens,
      totalTokens: counts.totalTokens,
      cachedTokens: counts.cachedTokens,
      reasoningTokens: counts.reasoningTokens,
      usageSource: tokens.source,
      usageRaw: raw.value as UsageLogInsert['usageRaw'],
      pricingId: input.price.pricingId,
      inputTokenCost: priceText(input.price.inputTokenCost),
      cachedInputTokenCost: priceText(input.price.cachedInputTokenCost),
      outputTokenCost: priceText(input.price.outputTokenCost),
      pricingSource: input.price.source,
      costInput: formatDecimal(cost.input),
      costOutput: formatDecimal(cost.output),
      costTotal,
      latencyMs: Math.round(input.latencyMs),
      ttftMs: input.ttftMs == null ? null : Math.round(input.ttftMs),
      upstreamRequestId: input.upstreamRequestId ?? null,
      error: joinNotes([input.error, contradictionNote(tokens), raw.note]),
      reservedUsd: input.reservedUsd ?? null,
      accountId: account?.id ?? null,
      markup: account?.markup ?? '1',
      chargeUsd: account === null ? costTotal : multiplyExact(costTotal, account.markup),
    },
  };
}

/** Per-token prices as text, kept: a row's three are almost always the last rows' (~0.5 µs each to format). */
const priceTexts = new Map<Decimal, string>();
const MAX_PRICE_TEXTS = 1024;

function priceText(price: Decimal): string {
  let text = priceTexts.get(price);
  if (text === undefined) {
    if (priceTexts.size >= MAX_PRICE_TEXTS) priceTexts.clear();
    text = formatDecimal(price);
    priceTexts.set(price, text);
  }
  return text;
}

/** A usage that contradicts itself is billed on its prompt and completion counts, and flagged. */
function contradictionNote(tokens: MeteredTokens): string | undefined {
  if (tokens.source !== 'upstream' || tokens.usage.contradictions.length === 0) return undefined;
  return `upstream usage contradicts itself (${tokens.usage.contradictions.join(', ')})`;
}

/** The row's error: what went wrong and what the ledger noted, `; `-separated; null when none. */
function joinNotes(parts: ReadonlyArray<string | null | undefined>): string | null {
  const present = parts.filter((part): part is string => typeof part === 'string' && part !== '');
  return present.length > 0 ? present.join('; ') : null;
}
