// A streamed chat completion: upstream SSE events reach the client byte for byte as they arrive, while a
// side observer keeps the last usage. The row is committed before `data: [DONE]` is released; a stream
// that errors, stalls, breaks off or loses its client is still metered, once.
import { fromUpstream, GatewayError, gatewayTimeout, toGatewayError } from '../errors.ts';
import { createSseSplitter, type SseEvent } from '../metering/sse.ts';
import { estimateCompletionTokens, estimatePromptTokens } from '../metering/tokens.ts';
import { type TokenUsage, usageOf } from '../metering/usage.ts';
import { ClientAbortedError, transportError, type UpstreamResponse } from '../upstream/client.ts';
import { passThroughHeaders } from '../upstream/huggingface.ts';
import type { Inflight } from './inflight.ts';
import { type ChatRequest, createMeter, type ProxyContext, type ProxyDeps } from './proxy.ts';
import type { MeteredTokens, UsageStatus } from './usage-row.ts';

export type StreamReply = {
  status: number;
  headers: Record<string, string>;
  body: ReadableStream<Uint8Array>;
  /** ms until the upstream's response headers */
  upstreamMs: number;
};

const FIRST_TOKEN = /"(?:content|reasoning|reasoning_content)":"[^"]/;
const encoder = new TextEncoder();

/** An SSE error event in OpenAI's envelope, for endings the upstream did not make itself. */
export function errorEvent(error: GatewayError): Uint8Array {
  return encoder.encode(`event: error\ndata: ${JSON.stringify(error.toBody())}\n\n`);
}

export function createStreamProxy(deps: ProxyDeps & { inflight?: Inflight }) {
  const meter = createMeter(deps);

  return async function completeStream(request: ChatRequest, ctx: ProxyContext): Promise<StreamReply> {
    const elapsed = () => performance.now() - ctx.startedAtMs;
    const clientAskedUsage = request.stream_options?.include_usage === true;
    // always ask for usage: the only reliable meter; the usage-only chunk is hidden unless the client asked
    const body = JSON.stringify({
      ...request,
      stream_options: { ...request.stream_options, include_usage: true },
    });
    const upstreamAbort = new AbortController();
    const onClientGone = () => upstreamAbort.abort();
    ctx.signal.addEventListener('abort', onClientGone, { once: true });

    let lastUsage: TokenUsage | undefined;
    let upstreamModel: string | null = null;
    let upstreamRequestId: string | undefined;
    let ttftMs: number | undefined;
    let sawFinish = false;
    const deltas: string[] = [];
    let recorded: Promise<string> | undefined;
    let settleMetered = () => {}; // inflight hook (see below)

    /** Meters the request once, however it ends. */
    const finish = (status: UsageStatus, httpStatus: number, error?: string): Promise<string> => {
      recorded ??= (async () => {
        ctx.signal.removeEventListener('abort', onClientGone);
        const tokens: MeteredTokens = lastUsage
          ? { source: 'upstream', usage: lastUsage }
          : {
              source: 'estimated',
              promptTokens: await estimatePromptTokens(request),
              completionTokens: await estimateCompletionTokens(streamedText(deltas)),
            };
        return meter({
          requestId: ctx.requestId,
          apiKeyId: ctx.apiKeyId,
          model: request.model,
          stream: true,
          startedAt: ctx.startedAt,
          status,
          httpStatus,
          tokens,
          upstreamModel,
          latencyMs: elapsed(),
          ttftMs,
          upstreamRequestId,
          error,
          reservedUsd: ctx.reservedUsd,
          release: ctx.release,
        });
      })();
      recorded.then(settleMetered, settleMetered); // inflight hook
      return recorded;
    };

    let response: UpstreamResponse;
    try {
      response = await deps.upstream.chatCompletions({ body, signal: upstreamAbort.signal, stream: true });
    } catch (err) {
      const error =
        err instanceof ClientAbortedError ? err : toGatewayError(transportError(err, ctx.signal, 'stream'));
      await finishFailed(error);
      throw error;
    }
    const upstreamMs = elapsed();
    const headers = passThroughHeaders(response.headers);
    upstreamRequestId = headers['x-upstream-request-id'];

    if (response.status < 200 || response.status >= 300) {
      const bytes = deps.upstream.redact(await readAll(response.body).catch(() => new Uint8Array()));
      const error = fromUpstream(response.status, bytes, headers);
      await finishFailed(error);
      throw error;
    }

    async function finishFailed(error: Error) {
      if (error instanceof ClientAbortedError) {
        deltas.length = 0;
        await finish('client_aborted', 499, error.message);
      } else {
        const status = error instanceof GatewayError ? error.status : 500;
        // nothing was generated: only the prompt could have been billed, and an error is not
        lastUsage = undefined;
        await meterNothing(status, error.message);
      }
    }

    async function meterNothing(httpStatus: number, error: string) {
      recorded ??= meter({
        requestId: ctx.requestId,
        apiKeyId: ctx.apiKeyId,
        model: request.model,
        stream: true,
        startedAt: ctx.startedAt,
        status: 'upstream_error',
        httpStatus,
        tokens: { source: 'estimated', promptTokens: 0, completionTokens: 0 },
        latencyMs: elapsed(),
        upstreamRequestId,
        error,
        reservedUsd: ctx.reservedUsd,
        release: ctx.release,
      });
      await recorded;
    }

    // inflight hook (issue 12, item 7; for the pipeline to own): from here the stream can only end in a
    // row, so shutdown may cut it (upstream stopped, what was served metered) and waits for that row
    deps.inflight?.track({
      abort: (reason) => {
        upstreamAbort.abort();
        finish('client_aborted', 499, reason).catch(() => {});
      },
      metered: new Promise<void>((resolve) => {
        settleMetered = resolve;
      }),
    });

    const splitter = createSseSplitter();
    const chunks = response.body[Symbol.asyncIterator]();

    /** Reads what an event says; returns whether the client should see it. */
    const observe = (event: SseEvent): boolean => {
      const data = event.data;
      if (data === undefined) return true;
      if (ttftMs === undefined && FIRST_TOKEN.test(data)) ttftMs = elapsed();
      if (upstreamModel === null || data.includes('"usage"') || data.includes('"finish_reason":"')) {
        const parsed = safeJson(data) as { model?: unknown; choices?: unknown } | undefined;
        if (parsed) {
          if (upstreamModel === null && typeof parsed.model === 'string') upstreamModel = parsed.model;
          if (data.includes('"finish_reason":"')) sawFinish = true;
          const usage = usageOf(parsed);
          if (usage) {
            lastUsage = usage;
            const usageOnly = Array.isArray(parsed.choices) && parsed.choices.length === 0;
            if (usageOnly && !clientAskedUsage) return false;
          }
        }
      }
      deltas.push(data);
      return true;
    };

    /** Ends the client's stream after a failure: an OpenAI error event (unless the upstream sent one), a row. */
    const failStream = async (
      controller: ReadableStreamDefaultController<Uint8Array>,
      error: GatewayError,
      upstreamSent: boolean,
    ) => {
      await finish('upstream_error', error.status, error.message);
      if (!upstreamSent) controller.enqueue(errorEvent(error));
      controller.close();
      upstreamAbort.abort();
    };

    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          for (;;) {
            const { value, done } = await chunks.next();
            if (done) {
              if (sawFinish) {
                // ended cleanly without [DONE]: what the client would have seen, metered
                await finish('ok', 200);
                const rest = splitter.rest();
                if (rest.length > 0) controller.enqueue(rest);
                controller.close();
              } else {
                const error = new GatewayError(
                  502,
                  'The upstream stream ended before the completion finished.',
                  {
                    type: 'upstream_error',
                    code: 'stream_truncated',
                  },
                );
                await failStream(controller, error, false);
              }
              return;
            }
            const out: Uint8Array[] = [];
            for (const event of splitter.push(value)) {
              if (event.isDone) {
                if (out.length > 0) controller.enqueue(concat(out));
                await finish('ok', 200);
                controller.enqueue(event.raw);
                controller.close();
                await drainQuietly(chunks);
                return;
              }
              if (event.event === 'error') {
                if (out.length > 0) controller.enqueue(concat(out));
                const error = upstreamStreamError(event, deps.upstream.redact);
                controller.enqueue(
                  error.passThrough ? deps.upstream.redact(event.raw) : errorEvent(error.error),
                );
                await failStream(controller, error.error, true);
                return;
              }
              if (observe(event)) out.push(event.raw);
            }
            if (out.length > 0) {
              controller.enqueue(concat(out));
              return;
            }
          }
        } catch (err) {
          // we abort the upstream only when the client left (or after the row is written)
          if (upstreamAbort.signal.aborted || ctx.signal.aborted || err instanceof ClientAbortedError) {
            await finish('client_aborted', 499, 'The client closed the connection mid-stream.').catch(
              () => {},
            );
            closeQuietly(controller);
            return;
          }
          const mapped = transportError(err, ctx.signal, 'reading the upstream stream');
          const error =
            mapped instanceof GatewayError && mapped.status === 504
              ? gatewayTimeout('The upstream stream stalled past UPSTREAM_TIMEOUT_MS.', err)
              : toGatewayError(mapped);
          await failStream(controller, error, false).catch(() => controller.error(err));
        }
      },
      async cancel() {
        // the client went away: stop the upstream at once, meter what was streamed
        upstreamAbort.abort();
        await finish('client_aborted', 499, 'The client closed the connection mid-stream.').catch(() => {});
      },
    });

    return {
      status: response.status,
      headers: {
        ...headers,
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        'x-accel-buffering': 'no',
      },
      body: stream,
      upstreamMs,
    };
  };
}

/** An upstream `event: error`: passed on as is when OpenAI-shaped, else wrapped. */
function upstreamStreamError(
  event: SseEvent,
  redact: (bytes: Uint8Array) => Uint8Array,
): { error: GatewayError; passThrough: boolean } {
  const data = new TextDecoder().decode(redact(encoder.encode(event.data ?? '')));
  const parsed = safeJson(data) as { error?: { message?: unknown; status_code?: unknown } } | undefined;
  const inner = parsed?.error;
  if (inner && typeof inner.message === 'string') {
    const status = typeof inner.status_code === 'number' ? inner.status_code : 502;
    return {
      error: fromUpstream(status >= 400 ? status : 502, encoder.encode(event.data ?? '')),
      passThrough: true,
    };
  }
  return {
    error: new GatewayError(502, `The upstream stream failed: ${event.data ?? 'no detail'}`, {
      type: 'upstream_error',
      code: 'upstream_stream_error',
    }),
    passThrough: false,
  };
}

function closeQuietly(controller: ReadableStreamDefaultController<Uint8Array>): void {
  try {
    controller.close();
  } catch {
    // already cancelled by the client
  }
}

/** Generated text so far (content, reasoning, tool-call arguments), for an estimate. */
function streamedText(deltas: readonly string[]): string {
  let text = '';
  for (const data of deltas) {
    const chunk = safeJson(data) as { choices?: Array<{ delta?: Record<string, unknown> }> } | undefined;
    for (const choice of chunk?.choices ?? []) {
      const delta = choice.delta ?? {};
      for (const field of ['reasoning', 'reasoning_content', 'content'] as const) {
        if (typeof delta[field] === 'string') text += delta[field];
      }
      if (Array.isArray(delta.tool_calls)) text += JSON.stringify(delta.tool_calls);
    }
  }
  return text;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  return parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts);
}

async function readAll(body: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const part of body) parts.push(part);
  return Buffer.concat(parts);
}

/** After [DONE] the upstream has nothing more to say; reading to the end keeps its connection reusable. */
async function drainQuietly(chunks: AsyncIterator<Uint8Array>): Promise<void> {
  try {
    for (let i = 0; i < 16; i++) if ((await chunks.next()).done) return;
    await chunks.return?.();
  } catch {
    // the reply is complete; a late upstream hiccup changes nothing
  }
}
