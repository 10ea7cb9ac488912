// The per-request values middleware hands to routes.
import type { Principal } from '../services/admission/keys.ts';
import type { CallSpan } from '../telemetry/types.ts';

export type AppEnv = {
  Variables: {
    requestId: string;
    /** performance.now() when the request arrived */
    startedAtMs: number;
    startedAt: Date;
    principal: Principal;
    /** ms the request waited on the upstream, for Server-Timing */
    upstreamMs: number | undefined;
    /** the metered call's OpenTelemetry span, when telemetry is on (src/telemetry/middleware.ts) */
    callSpan: CallSpan | undefined;
    /** the route put x-request-id and Server-Timing in its reply's headers itself (request-id.ts) */
    stamped: boolean | undefined;
  };
};
