// The one metered pipeline: admit → forward → observe (JSON or SSE events) → meter → release. Every
// metered endpoint runs through it; what differs between endpoints is their adapter (src/endpoints).
import type { PriceBook } from '../../billing/pricing.ts';
import type { UsageLogInsert } from '../../db/schema.ts';
import { setTopLevelMember } from '../../endpoints/json-member.ts';
import { GatewayError } from '../../errors.ts';
import type { Recorder } from '../../ledger/recorder.ts';
import { priceTarget, type Route, type Upstreams } from '../../upstream/upstreams.ts';
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
  /** where each call goes, by its model's prefix */
  upstreams: Upstreams;
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
    priceTarget: (model) => priceTarget(deps.upstreams.route(model)),
    priceBook: deps.priceBook,
    recorder: deps.recorder,
    onMetered: deps.onMetered,
  });

  return {
    async run(asked, admit) {
      const route = deps.upstreams.route(asked.body.model);
      // refused before anything is owned, like a malformed body
      const call = forwarded(asked, route);
      const ticket = await admit();
      const record = openCallRecord(meter, call, ticket);
      const { upstream } = route;
      let handedOff = false;
      try {
        if (call.body.stream !== true) {
          // a JSON call ends with its client's connection: shutdown only waits for its row
          const pending = completeJson(upstream, record);
          const untrack = deps.track?.({ abort: () => {}, metered: pending.catch(() => {}) });
          const reply = await pending.finally(() => untrack?.());
          Object.assign(reply.headers, ticket.headers);
          return { kind: 'json', ...reply };
        }
        const { relay, response, upstreamMs } = await openStream({
          upstream,
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

/**
 * The call as its upstream must receive it: the client's bytes with only `model` changed when the
 * upstream's prefix is stripped (every other byte as sent; integers beyond 2^53 survive). The body
 * the gateway reads keeps the model as asked: that is what the row records.
 */
function forwarded(call: MeteredCall, route: Route): MeteredCall {
  const { endpoints, name } = route.descriptor;
  if (endpoints && !endpoints.includes(call.adapter.path)) {
    throw new GatewayError(
      400,
      `The model '${call.body.model.slice(0, 256)}' is served by the upstream '${name}', which does not serve /v1${call.adapter.path}.`,
      { type: 'invalid_request_error', param: 'model', code: 'model_not_supported' },
    );
  }
  if (!route.rewritten) return call;
  return { ...call, raw: setTopLevelMember(call.raw, 'model', JSON.stringify(route.model)) };
}
