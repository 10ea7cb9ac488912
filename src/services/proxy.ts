// A chat completion through the gateway: call the upstream, read the usage, price it, commit the row,
// and only then hand the reply back. No Hono here: the route adapts this to HTTP.
import { PROVIDER, type PriceBook } from '../billing/pricing.ts';
import type { UsageLogInsert } from '../db/schema.ts';
import { badGateway, fromUpstream, GatewayError, toGatewayError } from '../errors.ts';
import type { Recorder } from '../ledger/recorder.ts';
import { estimateCompletionTokens, estimatePromptTokens } from '../metering/tokens.ts';
import { usageOf } from '../metering/usage.ts';
import { ClientAbortedError, transportError, type UpstreamClient } from '../upstream/client.ts';
import { passThroughHeaders } from '../upstream/huggingface.ts';
import { buildUsageRow, type MeteredTokens, NO_TOKENS, type UsageRowInput } from './usage-row.ts';

/** The validated client body: every other OpenAI field passes through untouched. */
export type ChatRequest = {
  model: string;
  messages: unknown[];
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean | null } & Record<string, unknown>;
  [field: string]: unknown;
};

export type ProxyContext = {
  requestId: string;
  apiKeyId: string | null;
  /** when the request arrived: wall clock for the row, monotonic ms for durations */
  startedAt: Date;
  startedAtMs: number;
  /** aborts when the client goes away */
  signal: AbortSignal;
  /** the budget reservation admission made (null when none), and how to give it back unused */
  reservedUsd: string | null;
  release: () => Promise<void>;
};

export type JsonReply = {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array;
  costUsd: string;
  /** ms spent waiting on the upstream */
  upstreamMs: number;
};

export type ProxyDeps = {
  upstream: UpstreamClient;
  priceBook: PriceBook;
  recorder: Recorder;
  /** told of every committed row (logs, metrics) */
  onMetered?: (row: UsageLogInsert) => void;
};

/** Prices a request's tokens and commits its row; resolves with the exact cost once durable. */
export type Meter = (
  input: Omit<UsageRowInput, 'price'> & { release?: () => Promise<void> },
) => Promise<string>;

export function createMeter({ priceBook, recorder, onMetered }: Omit<ProxyDeps, 'upstream'>): Meter {
  return async function meter(input) {
    const price = priceBook.resolve(PROVIDER, input.model, input.startedAt);
    const { row, costTotal } = buildUsageRow({ ...input, price });
    try {
      await recorder.record(row);
    } catch (err) {
      // neither the database nor the spool took the row: the reply must not go out unmetered
      await input.release?.();
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

export function createChatProxy(deps: ProxyDeps) {
  const meter = createMeter(deps);

  /** Non-streaming: the upstream bytes come back unchanged, after their row is committed. */
  return async function completeJson(
    request: ChatRequest,
    rawBody: Uint8Array,
    ctx: ProxyContext,
  ): Promise<JsonReply> {
    const base = {
      requestId: ctx.requestId,
      apiKeyId: ctx.apiKeyId,
      model: request.model,
      stream: false,
      reservedUsd: ctx.reservedUsd,
      release: ctx.release,
    };
    const elapsed = () => performance.now() - ctx.startedAtMs;
    let ttftMs: number | undefined;
    let upstreamRequestId: string | undefined;

    /** Records a failed request (zero tokens unless the client left, then the prompt) and rethrows. */
    const fail = async (err: unknown): Promise<never> => {
      const aborted = err instanceof ClientAbortedError;
      const error = aborted ? err : toGatewayError(err);
      const tokens: MeteredTokens = aborted
        ? { source: 'estimated', promptTokens: await estimatePromptTokens(request), completionTokens: 0 }
        : NO_TOKENS;
      await meter({
        ...base,
        startedAt: ctx.startedAt,
        status: aborted ? 'client_aborted' : 'upstream_error',
        httpStatus: aborted ? 499 : (error as GatewayError).status,
        tokens,
        latencyMs: elapsed(),
        ttftMs,
        upstreamRequestId,
        error: error.message,
      });
      throw error;
    };

    let status: number;
    let headers: Record<string, string>;
    let body: Uint8Array;
    try {
      const response = await deps.upstream.chatCompletions({
        body: rawBody,
        signal: ctx.signal,
        stream: false,
      });
      ttftMs = elapsed();
      status = response.status;
      headers = passThroughHeaders(response.headers);
      upstreamRequestId = headers['x-upstream-request-id'];
      body = await readAll(response.body).catch((err: unknown) => {
        throw transportError(err, ctx.signal, 'reading the upstream reply');
      });
      if (status < 200 || status >= 300) body = deps.upstream.redact(body);
    } catch (err) {
      return fail(err);
    }
    const upstreamMs = elapsed();

    if (status < 200 || status >= 300) return fail(fromUpstream(status, body, headers));

    let reply: unknown;
    try {
      reply = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
    } catch (err) {
      return fail(badGateway('The upstream answered 2xx with a body that is not JSON.', err));
    }
    const usage = usageOf(reply);
    const tokens: MeteredTokens = usage
      ? { source: 'upstream', usage }
      : {
          source: 'estimated',
          promptTokens: await estimatePromptTokens(request),
          completionTokens: await estimateCompletionTokens(completionText(reply)),
        };
    const fields = reply as { model?: unknown; id?: unknown };
    const costUsd = await meter({
      ...base,
      startedAt: ctx.startedAt,
      status: 'ok',
      httpStatus: status,
      tokens,
      upstreamModel: typeof fields.model === 'string' ? fields.model : null,
      latencyMs: elapsed(),
      ttftMs,
      upstreamRequestId: upstreamRequestId ?? (typeof fields.id === 'string' ? fields.id : null),
    });
    headers['content-type'] = 'application/json';
    return { status, headers, body, costUsd, upstreamMs };
  };
}

async function readAll(body: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return chunks.length === 1 ? (chunks[0] as Uint8Array) : Buffer.concat(chunks);
}

/** Generated text of a completion (content, reasoning and tool-call arguments), for estimates. */
export function completionText(reply: unknown): string {
  const choices = (reply as { choices?: unknown }).choices;
  if (!Array.isArray(choices)) return '';
  let text = '';
  for (const choice of choices) {
    const message = (choice as { message?: Record<string, unknown> }).message ?? {};
    for (const field of ['reasoning', 'reasoning_content', 'content'] as const) {
      if (typeof message[field] === 'string') text += message[field];
    }
    if (Array.isArray(message.tool_calls)) text += JSON.stringify(message.tool_calls);
  }
  return text;
}
