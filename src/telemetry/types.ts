// What the gateway asks of telemetry. The OpenTelemetry implementation (otel.ts) is imported only when
// OTEL_EXPORTER_OTLP_ENDPOINT is set (load.ts); nothing here loads an @opentelemetry module.
import type { UsageLogInsert } from '../db/schema.ts';
import { GatewayError } from '../errors.ts';

export type CallStart = {
  /** the endpoint adapter's name (the row's `endpoint` column) */
  endpoint: string;
  /** the adapter's gen_ai.operation.name */
  operation: string;
  requestId: string;
  /** the caller's W3C trace context headers: the span becomes a child of theirs */
  traceparent: string | undefined;
  tracestate: string | undefined;
  /** performance.now() when the request arrived */
  startedAtMs: number;
};

export type CallOutcome = {
  httpStatus: number;
  /** a low-cardinality name of what went wrong (an error code, a row status); undefined: success */
  errorType?: string | undefined;
};

/** The span of one metered route request, from its arrival to its end. */
export type CallSpan = {
  /** the requested model, once the body is read */
  model(name: string): void;
  /** the reply is a stream: the span ends when its row is committed */
  streaming(): void;
  /** the call ended (a JSON reply, or a refusal before any row); idempotent */
  end(outcome: CallOutcome): void;
};

export type Telemetry = {
  startCall(start: CallStart): CallSpan;
  /** a committed usage row: its attributes go on its request's span (found by request id) */
  metered(row: UsageLogInsert): void;
  /** exports what is pending now (tests; shutdown does it too) */
  forceFlush(): Promise<void>;
  /** ends the spans still open, exports everything, stops the exporters */
  shutdown(): Promise<void>;
};

/** A thrown error as a call outcome: its status, and its code (or type) as error.type. */
export function failureOf(err: unknown): CallOutcome {
  if (err instanceof GatewayError) return { httpStatus: err.status, errorType: err.code ?? err.type };
  return { httpStatus: 500, errorType: err instanceof Error ? err.name : 'Error' };
}
