// The metered routes (/v1/chat/completions, /v1/responses, /v1/embeddings, …): one handler for every
// endpoint adapter. Read the body (bounded), validate it with the adapter's schema, name who it is for,
// then hand it to the pipeline with the admission it must own.
import { ServerResponse } from 'node:http';
import { Hono } from 'hono';
import type { EndpointAdapter, MeteredBody } from '../endpoints/adapter.ts';
import { setTopLevelMember } from '../endpoints/json-member.ts';
import { badRequest } from '../errors.ts';
import type { AppEnv } from '../middleware/context.ts';
import { stampHeaders } from '../middleware/request-id.ts';
import type { Grants } from '../services/accounts/grants.ts';
import type { Principal } from '../services/admission/keys.ts';
import type { Admission, Limits } from '../services/admission/limits.ts';
import { requestedBound } from '../services/admission/request-bounds.ts';
import type { MeteredCall, Ticket } from '../services/pipeline/call.ts';
import type { Pipeline } from '../services/pipeline/pipeline.ts';
import { traceCalls } from '../telemetry/middleware.ts';
import type { Telemetry } from '../telemetry/types.ts';
import { endUserOf, tagsOf } from './attribution.ts';
import { readBody } from './body.ts';
import { parseJsonBody, parseWith } from './validation.ts';

export type MeteredRoutesDeps = {
  adapters: readonly EndpointAdapter[];
  pipeline: Pipeline;
  limits: Limits;
  /** a span per request when OpenTelemetry is on */
  telemetry?: Telemetry | undefined;
  /** writes an account's plan grant for the period before its first request is admitted */
  grants?: Grants | undefined;
  /** a grant that could not be written (the next request, or the periodic settle, retries it) */
  onGrantError?: ((err: unknown) => void) | undefined;
};

const NO_TICKET: Ticket = { reservedUsd: null, headers: {}, finish: async () => {} };

export function meteredRoutes({
  adapters,
  pipeline,
  limits,
  telemetry,
  grants,
  onGrantError,
}: MeteredRoutesDeps) {
  const app = new Hono<AppEnv>();
  for (const adapter of adapters) {
    if (telemetry) app.use(adapter.path, traceCalls(telemetry, adapter));
    app.post(adapter.path, async function metered(c) {
      const raw = await readBody(c);
      const input = parseJsonBody(raw);
      const body = adapter.accepts?.(input)
        ? (input as MeteredBody)
        : parseWith(adapter.schema, input, 'body');
      c.get('callSpan')?.model(body.model);
      if (body.stream === true && !adapter.streams)
        throw badRequest(`Invalid 'stream': ${adapter.path} does not stream.`, 'stream', 'invalid_parameter');
      const principal = c.get('principal');
      const call: MeteredCall = {
        adapter,
        body,
        raw,
        requestId: c.get('requestId'),
        apiKeyId: principal.keyId,
        startedAt: c.get('startedAt'),
        startedAtMs: c.get('startedAtMs'),
        signal: c.req.raw.signal,
        endUser: endUserOf(c, adapter.endUser(body)),
        tags: tagsOf(c),
        account: principal.kind === 'client' ? (principal.limits.account ?? null) : null,
      };
      const account = principal.kind === 'client' ? (principal.limits.account ?? null) : null;
      // once per account and period per replica (an in-memory check otherwise)
      if (account && grants)
        await grants.ensure(account.id, call.startedAt).catch((err) => onGrantError?.(err));
      const reply = await pipeline.run(call, () => admit(limits, principal, call));
      c.set('upstreamMs', reply.upstreamMs);
      // the reply's header objects are its own: filled in place, handed to node-server as they are
      if (reply.kind === 'stream') {
        headWithFirstBytes(c.env);
        return new Response(reply.body, { status: reply.status, headers: stampHeaders(c, reply.headers) });
      }
      reply.headers['x-usage-cost-usd'] = reply.costUsd;
      return new Response(reply.body as Uint8Array<ArrayBuffer>, {
        status: reply.status,
        headers: stampHeaders(c, reply.headers),
      });
    });
  }
  return app;
}

/**
 * On @hono/node-server, a streamed response's head would leave alone (it flushes the head before the
 * body's first read): here it waits one turn of the event loop for the first events, so when they are
 * already in (the usual case) head and events leave in one write; an upstream slow to its first event
 * still has its head sent at once.
 */
function headWithFirstBytes(env: unknown): void {
  const outgoing = (env as { outgoing?: unknown } | undefined)?.outgoing;
  if (!(outgoing instanceof ServerResponse)) return;
  const flush = outgoing.flushHeaders.bind(outgoing);
  outgoing.flushHeaders = () => {
    setImmediate(() => {
      // node's own flag (headersSent is already true after writeHead): the head went out with the
      // first body write, or goes now
      if (!(outgoing as unknown as { _headerSent: boolean })._headerSent && outgoing.writable) flush();
    });
  };
}

/**
 * A client key's limits (a 400 or 429 refuses before anything is owned); the admin key has none. The
 * Admission is the Ticket: the call record calls its finish() exactly once.
 */
async function admit(limits: Limits, principal: Principal, call: MeteredCall): Promise<Ticket> {
  if (principal.kind !== 'client') return NO_TICKET;
  const admission = await limits.admit({
    requestId: call.requestId,
    keyId: principal.keyId,
    limits: principal.limits,
    body: call.body,
    reading: call.adapter,
    at: call.startedAt,
  });
  call.raw = boundedBody(call, admission);
  return admission;
}

/**
 * The bytes to send: a bounded admission (a key with a budget) whose body sets no output bound sends
 * the bound it reserved for, in the adapter's field, every other byte as the client sent it; any other
 * request goes as sent. Without this the reservation is a guess the upstream may overrun many times.
 */
function boundedBody(call: MeteredCall, admission: Admission): Uint8Array {
  const output = call.adapter.output;
  if (!admission.bounded || output === null) return call.raw;
  if (requestedBound(call.body, output.fields) !== undefined) return call.raw;
  return setTopLevelMember(call.raw, output.sendAs, String(admission.boundTokens));
}
