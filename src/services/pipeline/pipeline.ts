// The one metered pipeline: admit → forward → observe (JSON or SSE events) → meter → release. Every
// metered endpoint runs through it; what differs between endpoints is their adapter (src/endpoints).
import type { PriceBook } from '../../billing/pricing.ts';
import type { UsageLogInsert } from '../../db/schema.ts';
import type { Recorder } from '../../ledger/recorder.ts';
import type { UpstreamClient } from '../../upstream/client.ts';
import type { MeteredCall, Ticket } from './call.ts';
import { openCallRecord } from './call-record.ts';
import { completeJson, type JsonReply } from './json-reply.ts';
import { createMeter } from './meter.ts';
import { openStream } from './open-stream.ts';
import { gatewayFailure } from './outcome.ts';

export type StreamReply = {
  status: number;
  headers: Record<string, string>;
  body: ReadableStream<Uint8Array>;
  /** ms until the upstream's response headers */
  upstreamMs: number;
};

export type Reply = ({ kind: 'json' } & JsonReply) | ({ kind: 'stream' } & StreamReply);

export type PipelineDeps = {
  upstream: UpstreamClient;
  priceBook: PriceBook;
  recorder: Recorder;
  /** largest SSE event held while it arrives */
  maxEventBytes: number;
  /** told of every committed row (logs, metrics) */
  onMetered?: (row: UsageLogInsert) => void;
  /**
   * Registers a call in flight so a shutdown can cut it and wait for its row (src/services/inflight.ts);
   * returns the unregister. `metered` settles once the call is over and its row durable or refused.
   */
  track?: (entry: { abort(reason: string): void; metered: Promise<unknown> }) => () => void;
};

export type Pipeline = {
  /**
   * Runs one call. `admit` checks and reserves (it may refuse with a 429 before anything is owned);
   * from then on the call record owns the reservation and settles it however the call ends.
   */
  run(call: MeteredCall, admit: () => Promise<Ticket>): Promise<Reply>;
};

export function createPipeline(deps: PipelineDeps): Pipeline {
  const meter = createMeter({
    provider: deps.upstream.provider,
    priceBook: deps.priceBook,
    recorder: deps.recorder,
    onMetered: deps.onMetered,
  });

  return {
    async run(call, admit) {
      const ticket = await admit();
      const record = openCallRecord(meter, call, ticket);
      let handedOff = false;
      try {
        if (call.body.stream !== true) {
          // a JSON call ends with its client's connection: shutdown only waits for its row
          const pending = completeJson(deps.upstream, record);
          const untrack = deps.track?.({ abort: () => {}, metered: pending.catch(() => {}) });
          const reply = await pending.finally(() => untrack?.());
          return { kind: 'json', ...reply, headers: { ...reply.headers, ...ticket.headers } };
        }
        const { relay, response, upstreamMs } = await openStream({
          upstream: deps.upstream,
          record,
          maxEventBytes: deps.maxEventBytes,
        });
        // from here the stream owns the record: it closes it when it ends
        handedOff = true;
        const untrack = deps.track?.({ abort: (reason) => relay.cut(reason), metered: relay.ended });
        if (untrack) void relay.ended.then(untrack);
        return {
          kind: 'stream',
          status: response.status,
          headers: {
            ...response.headers,
            'content-type': 'text/event-stream; charset=utf-8',
            'cache-control': 'no-cache',
            'x-accel-buffering': 'no',
            ...ticket.headers,
          },
          body: relay.readable,
          upstreamMs,
        };
      } catch (err) {
        // a failure no step metered is the gateway's own (a bug): it still gets its row
        if (!record.started) {
          const failure = gatewayFailure(err);
          await record.meter({
            status: failure.status,
            httpStatus: failure.httpStatus,
            tokens: { source: 'none' },
            error: failure.error.message,
          });
        }
        throw err;
      } finally {
        if (!handedOff) await record.close();
      }
    },
  };
}
