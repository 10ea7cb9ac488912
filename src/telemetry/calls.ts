// One span per metered route request, open from its arrival until its call ends, found by request id
// when the call's row is committed (the row carries the tokens and the cost). The call's metrics are
// recorded as its span ends, so a refusal (no row) is counted too.
import {
  type Counter,
  defaultTextMapGetter,
  type Histogram,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapPropagator,
  type Tracer,
} from '@opentelemetry/api';
import { toApproximateFloat } from '../billing/money.ts';
import type { UsageLogInsert } from '../db/schema.ts';
import { modelLabel } from '../metrics.ts';
import {
  type Attributes,
  ERROR_TYPE,
  GEN_AI,
  HTTP_STATUS,
  rowAttributes,
  rowErrorType,
  TOLLGATE,
} from './attributes.ts';
import type { CallOutcome, CallSpan, CallStart, Telemetry } from './types.ts';

export type Instruments = { tokenUsage: Histogram; duration: Histogram; cost: Counter };

/** Calls whose span is still open past this many are ended as `unsettled`, oldest first (a stream whose row never came). */
const MAX_OPEN = 10_000;
/** a model name is client text: the span name keeps its start */
const MAX_NAME_MODEL = 128;

type OpenCall = {
  span: Span;
  operation: string;
  startedAtMs: number;
  row?: UsageLogInsert;
  streaming: boolean;
  /** gen_ai.provider.name before any row: the provider of the upstream the model routes to */
  provider: string;
};

export type Calls = Pick<Telemetry, 'startCall' | 'metered'> & {
  /** ends every open span (shutdown) */
  endAll(errorType: string): void;
};

export function createCalls({
  tracer,
  propagator,
  instruments,
  providerOf,
  defaultModel,
}: {
  tracer: Tracer;
  propagator: TextMapPropagator;
  instruments: Instruments;
  providerOf: (model: string) => string;
  defaultModel: string;
}): Calls {
  const open = new Map<string, OpenCall>();

  function finish(requestId: string, call: OpenCall, outcome: CallOutcome): void {
    if (open.get(requestId) !== call) return;
    open.delete(requestId);
    const { span, row } = call;
    const errorType = outcome.errorType ?? (row ? rowErrorType(row) : undefined);
    span.setAttribute(HTTP_STATUS, outcome.httpStatus);
    if (errorType !== undefined) {
      span.setAttribute(ERROR_TYPE, errorType);
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    const endMs = performance.now();
    span.end(endMs);

    // metric attributes stay bounded: the model as /metrics labels it (the price book's names or other)
    const attributes: Attributes = {
      [GEN_AI.operation]: call.operation,
      [GEN_AI.provider]: row?.provider ?? call.provider,
    };
    if (row) attributes[GEN_AI.requestModel] = modelLabel(row, defaultModel);
    if (errorType !== undefined) attributes[ERROR_TYPE] = errorType;
    instruments.duration.record(Math.max(0, endMs - call.startedAtMs) / 1000, attributes);
    if (!row) return;
    instruments.tokenUsage.record(row.promptTokens ?? 0, { ...attributes, [GEN_AI.tokenType]: 'input' });
    instruments.tokenUsage.record(row.completionTokens ?? 0, { ...attributes, [GEN_AI.tokenType]: 'output' });
    // a metric is a float by nature; the exact decimal is on the span (gen_ai.usage.cost)
    instruments.cost.add(toApproximateFloat(row.costTotal), attributes);
  }

  return {
    startCall(start: CallStart): CallSpan {
      const { operation } = start;
      const carrier: Record<string, string> = {};
      if (start.traceparent) carrier.traceparent = start.traceparent;
      if (start.tracestate) carrier.tracestate = start.tracestate;
      const parent = propagator.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter);
      const provider = providerOf(defaultModel);
      const span = tracer.startSpan(
        operation,
        {
          kind: SpanKind.CLIENT,
          startTime: start.startedAtMs,
          attributes: {
            [GEN_AI.operation]: operation,
            [GEN_AI.provider]: provider,
            [TOLLGATE.requestId]: start.requestId,
            [TOLLGATE.endpoint]: start.endpoint,
          },
        },
        parent,
      );
      const call: OpenCall = { span, operation, startedAtMs: start.startedAtMs, streaming: false, provider };
      for (const [id, oldest] of open) {
        if (open.size < MAX_OPEN) break;
        finish(id, oldest, { httpStatus: 0, errorType: 'unsettled' });
      }
      open.set(start.requestId, call);
      const { requestId } = start;
      return {
        model(name) {
          call.provider = providerOf(name);
          span.setAttribute(GEN_AI.provider, call.provider);
          span.setAttribute(GEN_AI.requestModel, name);
          span.updateName(`${operation} ${name.slice(0, MAX_NAME_MODEL)}`);
        },
        streaming() {
          call.streaming = true;
          if (call.row) finish(requestId, call, { httpStatus: call.row.httpStatus });
        },
        end(outcome) {
          finish(requestId, call, outcome);
        },
      };
    },
    metered(row) {
      const call = open.get(row.requestId);
      if (!call) return;
      call.row = row;
      call.span.setAttributes(rowAttributes(row));
      // a stream's row is its end; a JSON call ends when its handler returns (just after)
      if (call.streaming) finish(row.requestId, call, { httpStatus: row.httpStatus });
    },
    endAll(errorType) {
      for (const [id, call] of open) finish(id, call, { httpStatus: 0, errorType });
    },
  };
}
