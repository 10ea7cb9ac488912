// A streamed call: upstream SSE events reach the client byte for byte as they arrive, while each
// event's data is parsed as JSON and read by the endpoint's adapter (usage, end, generated text).
// One loop relays the events and returns how the stream ended (done, failed, stopped); one exit then
// meters that ending and, in a `finally`, settles the reservation and the key's slot, then tells the
// client (the terminal event, an error event, or nothing to a client that left) and closes the stream
// in the same turn, so the last event and the response's end leave in one write.
// Whatever ends a stream (its end, the upstream failing or vanishing, the client leaving, a shutdown
// cut, a row the ledger cannot take), it goes through that exit once.
import { badGateway, GatewayError, gatewayTimeout, toGatewayError } from '../../errors.ts';
import { createSseSplitter } from '../../metering/sse.ts';
import type { UpstreamResponse } from '../../upstream/client.ts';
import type { CallRecord } from './call-record.ts';
import type { MeterInput } from './meter.ts';
import { upstreamFailure } from './outcome.ts';
import { errorEvent, usageNotRecorded } from './stream-errors.ts';
import { StreamEvents } from './stream-events.ts';
import type { UsageStatus } from './usage-row.ts';

type RelayOptions = {
  /** the client asked for the usage chunk (else the adapter hides it) */
  clientAskedUsage: boolean;
  /** aborts the upstream request: the client left, the stream failed or was cut */
  upstreamAbort: AbortController;
  maxEventBytes: number;
};

/** The client left, or the gateway cut the stream: what was streamed is metered, the prompt billed. */
type Stopped = {
  kind: 'stopped';
  status: 'client_aborted' | 'gateway_error';
  httpStatus: number;
  /** the row's error */
  message: string;
  /** the error event the client is sent, when it is still there */
  tell: GatewayError | undefined;
};

/** How a stream ended, as the one exit meters it and tells the client. */
type Ending =
  /** the terminal event (sent after the row), or the body's rest when it ended after the finish */
  | { kind: 'done'; tail: Uint8Array | undefined }
  /** the upstream failed: its error event is passed on, else ours is sent */
  | { kind: 'failed'; error: GatewayError; status: UsageStatus; upstreamEvent: Uint8Array | undefined }
  | Stopped;

export class StreamRelay {
  readonly readable: ReadableStream<Uint8Array>;
  /** settles once the stream is over: its row committed or refused, its reservation and slot settled; never rejects */
  readonly ended: Promise<void>;
  private readonly splitter = createSseSplitter();
  private readonly chunks: AsyncIterator<Uint8Array>;
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  /** set by the first interruption (client gone, shutdown cut); the relay loop returns it */
  private stopped: Stopped | undefined;
  /** ends the relay loop's wait for the upstream's next chunk */
  private onInterrupt: () => void = () => {};
  /** wakes the relay loop waiting for the client to want more */
  private wake: (() => void) | undefined;
  private readonly events: StreamEvents;

  private readonly record: CallRecord;
  private readonly response: UpstreamResponse;
  private readonly options: RelayOptions;

  constructor(record: CallRecord, response: UpstreamResponse, options: RelayOptions) {
    this.record = record;
    this.response = response;
    this.options = options;
    this.chunks = response.body[Symbol.asyncIterator]();
    this.events = new StreamEvents(record.call, options.clientAskedUsage);
    this.readable = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.controller = controller;
      },
      pull: () => {
        const wake = this.wake;
        this.wake = undefined;
        wake?.();
      },
      cancel: () => {
        this.interrupt({
          kind: 'stopped',
          status: 'client_aborted',
          httpStatus: 499,
          message: 'The client closed the connection mid-stream.',
          tell: undefined,
        });
        return this.ended;
      },
    });
    this.ended = this.run();
  }

  /** Ends the stream now (shutdown): the upstream is aborted, the row estimated, the client told. */
  cut(reason: string): void {
    const error = new GatewayError(503, `The gateway ended this stream: ${reason}.`, { code: 'stream_cut' });
    this.interrupt({
      kind: 'stopped',
      status: 'gateway_error',
      httpStatus: 503,
      message: error.message,
      tell: error,
    });
  }

  private interrupt(stop: Stopped): void {
    this.stopped ??= stop;
    this.options.upstreamAbort.abort();
    this.onInterrupt();
    this.wake?.();
  }

  /** The stream from start to end: relay, then the one exit. */
  private async run(): Promise<void> {
    let clean = false;
    let last: Uint8Array | undefined;
    try {
      const ending = await this.relay().catch((err: unknown) => this.failureOf(err));
      clean = ending.kind === 'done';
      // a failed or stopped stream has nothing more to say: the upstream is let go before the row
      if (!clean) this.options.upstreamAbort.abort();
      last = await this.settle(ending);
    } catch (err) {
      // a fault of the gateway's own while ending: the client still hears of it
      last = errorEvent(toGatewayError(err));
    } finally {
      if (!clean) this.options.upstreamAbort.abort();
      // the reservation and the key's slot are settled before the client sees the end (its last event
      // included), so a client that calls again at once is admitted
      await this.record.close().catch(() => {});
      // the last event and the end in the same turn: the server writes them together, in one write
      this.enqueue(last);
      this.closeQuietly();
      if (clean) void drainQuietly(this.chunks);
    }
  }

  /** Relays events as the client wants them, until the stream ends; returns how it ended. */
  private async relay(): Promise<Ending> {
    for (;;) {
      await this.room();
      if (this.stopped) return this.stopped;
      const read = await this.nextChunk();
      if (read === undefined || this.stopped) return this.stopped ?? this.clientGone();
      if (read.done) return this.endOfBody();
      const out: Uint8Array[] = [];
      for (const event of this.splitter.push(read.value)) {
        const action = this.events.read(event);
        if (action.kind === 'forward') out.push(event.raw);
        else if (action.kind !== 'hide') {
          if (out.length > 0) this.enqueue(concat(out));
          if (action.kind === 'done') return { kind: 'done', tail: event.raw };
          return {
            kind: 'failed',
            error: action.error,
            status: 'upstream_error',
            upstreamEvent: action.passThrough ? event.raw : undefined,
          };
        }
      }
      if (this.splitter.rest().length > this.options.maxEventBytes) {
        throw badGateway(`The upstream sent a stream event larger than ${this.options.maxEventBytes} bytes.`);
      }
      if (out.length > 0) this.enqueue(concat(out));
    }
  }

  /**
   * The upstream's next chunk, or undefined once the stream is interrupted: an aborted read may never
   * settle, and the stream must not wait for it. (A race against one shared promise would keep a
   * reaction per chunk for the stream's life; each wait sets its own.)
   */
  private nextChunk(): Promise<IteratorResult<Uint8Array> | undefined> {
    return new Promise((resolve, reject) => {
      if (this.stopped) return resolve(undefined);
      this.onInterrupt = () => resolve(undefined);
      this.chunks.next().then(resolve, reject);
    });
  }

  /** Waits until the client wants more (its queue has room) or the stream is interrupted. */
  private async room(): Promise<void> {
    while (!this.stopped && (this.controller.desiredSize ?? 1) <= 0) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  /** An error while relaying: the interruption that caused it, else the upstream's failure. */
  private failureOf(err: unknown): Ending {
    if (this.stopped) return this.stopped;
    // the client's request was aborted (its connection closed) before its stream was cancelled
    if (this.options.upstreamAbort.signal.aborted) return this.clientGone();
    const failure = upstreamFailure(err);
    const error =
      failure.error instanceof GatewayError && failure.error.status === 504
        ? gatewayTimeout('The upstream stream stalled past UPSTREAM_TIMEOUT_MS.', err)
        : failure.error;
    return {
      kind: 'failed',
      error: error instanceof GatewayError ? error : badGateway(error.message),
      status: failure.status,
      upstreamEvent: undefined,
    };
  }

  private clientGone(): Stopped {
    return {
      kind: 'stopped',
      status: 'client_aborted',
      httpStatus: 499,
      message: 'The client closed the connection mid-stream.',
      tell: undefined,
    };
  }

  /** The body ended: after the finish, a clean end without its terminator; before, a truncation. */
  private endOfBody(): Ending {
    if (!this.events.finished) {
      const error = new GatewayError(502, 'The upstream stream ended before the completion finished.', {
        type: 'upstream_error',
        code: 'stream_truncated',
      });
      return { kind: 'failed', error, status: 'upstream_error', upstreamEvent: undefined };
    }
    const rest = this.splitter.rest();
    return { kind: 'done', tail: rest.length > 0 ? rest : undefined };
  }

  /**
   * Meters the ending and returns what the client is sent last: the terminal event once the row is
   * durable, the upstream's error event or ours; an error event when the row could not be recorded.
   */
  private async settle(ending: Ending): Promise<Uint8Array | undefined> {
    try {
      if (ending.kind === 'done') {
        await this.meter({ status: 'ok', httpStatus: 200, tokens: await this.events.tokens(true) });
        return ending.tail;
      }
      if (ending.kind === 'failed') {
        const { error } = ending;
        const tokens = await this.events.tokens(false);
        await this.meter({ status: ending.status, httpStatus: error.status, tokens, error: error.message });
        return ending.upstreamEvent ?? errorEvent(error);
      }
      // the upstream had the prompt: it is billed even when nothing was generated yet
      const tokens = await this.events.tokens(true);
      await this.meter({
        status: ending.status,
        httpStatus: ending.httpStatus,
        tokens,
        error: ending.message,
      });
      return ending.tell ? errorEvent(ending.tell) : undefined;
    } catch (err) {
      return errorEvent(usageNotRecorded(err));
    }
  }
  private meter(input: Pick<MeterInput, 'status' | 'httpStatus' | 'tokens' | 'error'>): Promise<string> {
    return this.record.meter({
      ...input,
      upstreamModel: this.events.model,
      servedBy: this.response.servedBy,
      ttftMs: this.events.ttftMs,
      upstreamRequestId: this.response.headers['x-upstream-request-id'] ?? this.events.id,
    });
  }

  private enqueue(bytes: Uint8Array | undefined): void {
    if (bytes === undefined) return;
    try {
      this.controller.enqueue(bytes);
    } catch {
      // the client already cancelled
    }
  }

  private closeQuietly(): void {
    try {
      this.controller.close();
    } catch {
      // already closed or cancelled
    }
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
