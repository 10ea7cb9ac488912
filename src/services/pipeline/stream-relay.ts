// A streamed call: upstream SSE events reach the client byte for byte as they arrive, while each
// event's data is parsed as JSON and read by the endpoint's adapter (usage, end, generated text).
// The row is committed before the terminal event (`[DONE]`, `response.completed`, …) is released; a
// stream that errors, stalls, breaks off, loses its client or is cut at shutdown is still metered, once.
import { badGateway, GatewayError, gatewayTimeout } from '../../errors.ts';
import { createSseSplitter, type SseEvent } from '../../metering/sse.ts';
import type { TokenUsage } from '../../metering/usage.ts';
import type { UpstreamResponse } from '../../upstream/client.ts';
import { elapsedMs } from './call.ts';
import type { CallRecord } from './call-record.ts';
import { estimateTokens, type MeterInput } from './meter.ts';
import { upstreamFailure } from './outcome.ts';
import { errorEvent, type StreamFailure, upstreamErrorEvent } from './stream-errors.ts';
import type { MeteredTokens, UsageStatus } from './usage-row.ts';

/** Generated text kept for an estimate; beyond it, characters are counted (4 to a token). */
const MAX_TEXT_CHARS = 1 << 20;
const _encoder = new TextEncoder();

type RelayOptions = {
  /** the client asked for the usage chunk (else the adapter hides it) */
  clientAskedUsage: boolean;
  /** aborts the upstream request: the client left, the stream failed or was cut */
  upstreamAbort: AbortController;
  maxEventBytes: number;
};

type Action = { kind: 'forward' } | { kind: 'hide' } | { kind: 'done' } | StreamFailure;

export class StreamRelay {
  readonly readable: ReadableStream<Uint8Array>;
  readonly ended: Promise<void>;
  private readonly splitter = createSseSplitter();
  private readonly chunks: AsyncIterator<Uint8Array>;
  private controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  private finishEnded: () => void = () => {};
  private usage: TokenUsage | undefined;
  private model: string | undefined;
  private id: string | undefined;
  private ttftMs: number | undefined;
  private finished = false;
  private text = '';
  private overflowChars = 0;

  private readonly record: CallRecord;
  private readonly response: UpstreamResponse;
  private readonly options: RelayOptions;

  constructor(record: CallRecord, response: UpstreamResponse, options: RelayOptions) {
    this.record = record;
    this.response = response;
    this.options = options;
    this.chunks = response.body[Symbol.asyncIterator]();
    this.ended = new Promise((resolve) => {
      this.finishEnded = resolve;
    });
    this.readable = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.controller = controller;
      },
      pull: (controller) => this.pull(controller),
      cancel: () => this.stop('client_aborted', 499, 'The client closed the connection mid-stream.'),
    });
  }

  /** Ends the stream now (shutdown): the upstream is aborted, the row estimated, the client told. */
  cut(reason: string): void {
    const error = new GatewayError(503, `The gateway ended this stream: ${reason}.`, { code: 'stream_cut' });
    void this.stop('gateway_error', 503, error.message).then(() => {
      this.enqueue(errorEvent(error));
      this.closeQuietly();
    });
  }

  private async pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    try {
      for (;;) {
        const { value, done } = await this.chunks.next();
        if (done) return await this.endOfBody();
        const out: Uint8Array[] = [];
        for (const event of this.splitter.push(value)) {
          const action = this.read(event);
          if (action.kind === 'forward') out.push(event.raw);
          else if (action.kind !== 'hide') {
            if (out.length > 0) controller.enqueue(concat(out));
            return await this.conclude(action, event);
          }
        }
        if (this.splitter.rest().length > this.options.maxEventBytes) {
          throw badGateway(
            `The upstream sent a stream event larger than ${this.options.maxEventBytes} bytes.`,
          );
        }
        if (out.length > 0) return controller.enqueue(concat(out));
      }
    } catch (err) {
      // the client left or the stream was cut: that path meters the call
      if (this.options.upstreamAbort.signal.aborted) return await this.ended;
      const failure = upstreamFailure(err);
      const error =
        failure.error instanceof GatewayError && failure.error.status === 504
          ? gatewayTimeout('The upstream stream stalled past UPSTREAM_TIMEOUT_MS.', err)
          : failure.error;
      await this.fail(
        error instanceof GatewayError ? error : badGateway(error.message),
        undefined,
        failure.status,
      );
    }
  }

  /** What one event means: data is parsed as JSON and read by the endpoint's adapter. */
  private read(event: SseEvent): Action {
    const { data } = event;
    if (data === undefined) return { kind: 'forward' };
    if (this.record.call.adapter.isTerminator(data)) return { kind: 'done' };
    const parsed = parseJson(data);
    if (event.event === 'error') return upstreamErrorEvent(parsed, data);
    if (parsed === undefined) {
      return {
        kind: 'failed',
        error: badGateway('The upstream sent a stream event that is not JSON.'),
        passThrough: false,
      };
    }
    const verdict = this.record.call.adapter.readEvent(event.event, parsed, this.options.clientAskedUsage);
    if (verdict.usage) this.usage = verdict.usage;
    this.model ??= verdict.model;
    this.id ??= verdict.id;
    if (verdict.firstToken && this.ttftMs === undefined) this.ttftMs = elapsedMs(this.record.call);
    if (verdict.finished) this.finished = true;
    if (verdict.text) this.keepText(verdict.text);
    if (verdict.end === 'ok') return { kind: 'done' };
    if (verdict.end === 'failed') {
      return {
        kind: 'failed',
        error: badGateway(verdict.error ?? 'The upstream failed the response.'),
        passThrough: true,
      };
    }
    return verdict.hidden ? { kind: 'hide' } : { kind: 'forward' };
  }

  /** The stream's terminal event: the row first, then the event, then the end. */
  private async conclude(
    action: Exclude<Action, { kind: 'forward' | 'hide' }>,
    event: SseEvent,
  ): Promise<void> {
    if (action.kind === 'failed') return this.fail(action.error, action.passThrough ? event.raw : undefined);
    await this.meter({ status: 'ok', httpStatus: 200, tokens: await this.tokens(true) });
    this.enqueue(event.raw);
    this.closeQuietly();
    this.end();
    await drainQuietly(this.chunks);
  }

  private async endOfBody(): Promise<void> {
    if (!this.finished) {
      const error = new GatewayError(502, 'The upstream stream ended before the completion finished.', {
        type: 'upstream_error',
        code: 'stream_truncated',
      });
      await this.fail(error, undefined);
      return;
    }
    // ended cleanly without its terminator: what the client would have seen, metered
    await this.meter({ status: 'ok', httpStatus: 200, tokens: await this.tokens(true) });
    const rest = this.splitter.rest();
    if (rest.length > 0) this.enqueue(rest);
    this.closeQuietly();
    this.end();
  }

  /** Ends the client's stream after a failure: the row, then the upstream's error event or ours. */
  private async fail(
    error: GatewayError,
    upstreamEvent: Uint8Array | undefined,
    status: UsageStatus = 'upstream_error',
  ): Promise<void> {
    await this.meter({
      status,
      httpStatus: error.status,
      tokens: await this.tokens(false),
      error: error.message,
    });
    this.enqueue(upstreamEvent ?? errorEvent(error));
    this.closeQuietly();
    this.options.upstreamAbort.abort();
    this.end();
  }

  /** The client left, or the gateway cut the stream: stop the upstream at once, meter what was streamed. */
  private async stop(
    status: 'client_aborted' | 'gateway_error',
    httpStatus: number,
    message: string,
  ): Promise<void> {
    if (this.record.started) return this.ended;
    this.options.upstreamAbort.abort();
    // the upstream had the prompt: it is billed even when nothing was generated yet
    await this.meter({ status, httpStatus, tokens: await this.tokens(true), error: message }).catch(() => {});
    this.end();
  }

  private meter(input: Pick<MeterInput, 'status' | 'httpStatus' | 'tokens' | 'error'>): Promise<string> {
    return this.record.meter({
      ...input,
      upstreamModel: this.model,
      servedBy: this.response.servedBy,
      ttftMs: this.ttftMs,
      upstreamRequestId: this.response.headers['x-upstream-request-id'] ?? this.id,
    });
  }

  /**
   * Reported usage, else an estimate. `promptBilled` false: a failed stream that generated nothing
   * cost nothing (the upstream refused it); true: the upstream took the prompt (an answer, an abort).
   */
  private async tokens(promptBilled: boolean): Promise<MeteredTokens> {
    if (this.usage) return { source: 'upstream', usage: this.usage };
    if (!promptBilled && this.text.length === 0 && this.overflowChars === 0) return { source: 'none' };
    const estimate = await estimateTokens(this.record.call, this.text);
    if (estimate.source !== 'estimated') return estimate;
    return { ...estimate, completionTokens: estimate.completionTokens + Math.ceil(this.overflowChars / 4) };
  }

  private keepText(text: string): void {
    const room = MAX_TEXT_CHARS - this.text.length;
    if (text.length <= room) this.text += text;
    else {
      this.text += text.slice(0, Math.max(0, room));
      this.overflowChars += text.length - Math.max(0, room);
    }
  }

  private enqueue(bytes: Uint8Array): void {
    try {
      this.controller?.enqueue(bytes);
    } catch {
      // the client already cancelled
    }
  }

  private closeQuietly(): void {
    try {
      this.controller?.close();
    } catch {
      // already closed or cancelled
    }
  }

  /** The call is over: its reservation is settled now that the row's fate is known. */
  private end(): void {
    void this.record.close().finally(this.finishEnded);
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  return parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts);
}

/** After the terminal event the upstream has nothing more to say; reading on keeps its connection reusable. */
async function drainQuietly(chunks: AsyncIterator<Uint8Array>): Promise<void> {
  try {
    for (let i = 0; i < 16; i++) if ((await chunks.next()).done) return;
    await chunks.return?.();
  } catch {
    // the reply is complete; a late upstream hiccup changes nothing
  }
}
