// Prices a call's tokens and commits its row through the recorder; resolves with the exact cost once
// the row is durable (in the database or the spool).
import type { PriceBook } from '../../billing/pricing.ts';
import type { UsageLogInsert } from '../../db/schema.ts';
import { GatewayError } from '../../errors.ts';
import type { Recorder } from '../../ledger/recorder.ts';
import { estimateCompletionTokens } from '../../metering/tokens.ts';
import { estimatePrompt } from '../admission/request-bounds.ts';
import { elapsedMs, type MeteredCall } from './call.ts';
import { buildUsageRow, type MeteredTokens, type UsageStatus } from './usage-row.ts';

export type MeterInput = {
  call: MeteredCall;
  reservedUsd: string | null;
  status: UsageStatus;
  httpStatus: number;
  tokens: MeteredTokens;
  upstreamModel?: string | null | undefined;
  servedBy?: string | null | undefined;
  ttftMs?: number | undefined;
  upstreamRequestId?: string | null | undefined;
  error?: string | undefined;
};

export type Meter = (input: MeterInput) => Promise<string>;

export function createMeter({
  priceTarget,
  priceBook,
  recorder,
  onMetered,
}: {
  /** the pricing provider, and the model as priced, of the upstream that serves `model` */
  priceTarget: (model: string) => { provider: string; model: string };
  priceBook: PriceBook;
  recorder: Recorder;
  /** told of every committed row (logs, metrics) */
  onMetered?: ((row: UsageLogInsert) => void) | undefined;
}): Meter {
  return async function meter(input) {
    const { call } = input;
    // ISSUE-15 (billing): who served prices the call first, DESIGN §5 step 0 (db:served)
    const target = priceTarget(call.body.model);
    const price = priceBook.resolve(target.provider, target.model, call.startedAt, input.servedBy);
    const { row, costTotal } = buildUsageRow({
      requestId: call.requestId,
      apiKeyId: call.apiKeyId,
      provider: target.provider,
      // the row keeps the model as the client asked for it
      model: call.body.model,
      endpoint: call.adapter.name,
      endUser: call.endUser,
      tags: call.tags,
      account: call.account,
      stream: call.body.stream === true,
      startedAt: call.startedAt,
      latencyMs: elapsedMs(call),
      price,
      ...input,
    });
    try {
      await recorder.record(row);
    } catch (err) {
      // neither the database nor the spool took the row: the reply must not go out unmetered
      throw new GatewayError(
        503,
        'The gateway could not record usage for this request; it was not answered.',
        {
          type: 'api_error',
          code: 'usage_not_recorded',
          cause: err,
        },
      );
    }
    onMetered?.(row);
    return costTotal;
  };
}

/**
 * Tokens counted by the gateway: the prompt as the endpoint's adapter reads it from the body, the
 * completion from the generated text.
 */
export async function estimateTokens(call: MeteredCall, generated: string): Promise<MeteredTokens> {
  return {
    source: 'estimated',
    promptTokens: await estimatePrompt(call.adapter.prompt(call.body)),
    completionTokens: await estimateCompletionTokens(generated),
  };
}
