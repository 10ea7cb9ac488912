// POST /v1/chat/completions: validate, then hand to the proxy service (JSON or SSE).
import { Hono } from 'hono';
import { z } from 'zod';
import type { AppEnv } from '../middleware/context.ts';
import type { Limits } from '../services/limits.ts';
import type { ChatRequest, JsonReply, ProxyContext } from '../services/proxy.ts';
import type { StreamReply } from '../services/stream-proxy.ts';
import { readBody } from './body.ts';
import { parseJsonBody, parseWith } from './validation.ts';

export const chatRequest = z.looseObject({
  model: z
    .string({ error: 'must be a string' })
    .trim()
    .min(1, 'must not be empty')
    // PostgreSQL text cannot hold NUL: such a model could never be metered
    .refine((model) => !model.includes('\u0000'), 'must not contain NUL characters'),
  messages: z.array(z.unknown(), { error: 'must be an array of messages' }).min(1, 'must not be empty'),
  stream: z.boolean({ error: 'must be a boolean' }).nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish(),
});

export type ChatRoutesDeps = {
  maxBodyBytes: number;
  limits: Limits;
  completeJson(request: ChatRequest, rawBody: Uint8Array, ctx: ProxyContext): Promise<JsonReply>;
  completeStream(request: ChatRequest, ctx: ProxyContext): Promise<StreamReply>;
};

export function chatCompletionsRoutes(deps: ChatRoutesDeps) {
  return new Hono<AppEnv>().post('/chat/completions', async function chatCompletions(c) {
    const raw = await readBody(c, deps.maxBodyBytes);
    const request = parseWith(chatRequest, parseJsonBody(raw), 'body') as ChatRequest;
    const principal = c.get('principal');
    const startedAt = c.get('startedAt');
    // over a budget or a rate limit: 429 here, and nothing goes upstream
    const admission =
      principal.kind === 'client'
        ? await deps.limits.admit(principal.keyId, principal.limits, request, startedAt)
        : undefined;
    const ctx: ProxyContext = {
      requestId: c.get('requestId'),
      apiKeyId: principal.keyId,
      startedAt,
      startedAtMs: c.get('startedAtMs'),
      signal: c.req.raw.signal,
      reservedUsd: admission?.reservedUsd ?? null,
      release: admission?.release ?? (async () => {}),
    };
    const limitHeaders = admission?.headers ?? {};
    if (request.stream) {
      const reply = await deps.completeStream(request, ctx);
      c.set('upstreamMs', reply.upstreamMs);
      return new Response(reply.body, {
        status: reply.status,
        headers: { ...reply.headers, ...limitHeaders },
      });
    }
    const reply = await deps.completeJson(request, raw, ctx);
    c.set('upstreamMs', reply.upstreamMs);
    return new Response(reply.body as Uint8Array<ArrayBuffer>, {
      status: reply.status,
      headers: { ...reply.headers, ...limitHeaders, 'x-usage-cost-usd': reply.costUsd },
    });
  });
}
