// The HuggingFace Inference Providers router, an OpenAI-compatible upstream: where it is, how we
// authenticate, and which of its response headers are worth passing to the client.

export type UpstreamDescriptor = {
  /** e.g. https://router.huggingface.co/v1 (no trailing slash) */
  baseUrl: string;
  /** the gateway's own credential; never the client's */
  token: string | undefined;
  /** appended to baseUrl's path */
  chatCompletionsPath: '/chat/completions';
};

export function huggingFaceRouter({
  baseUrl,
  token,
}: {
  baseUrl: string;
  token: string | undefined;
}): UpstreamDescriptor {
  return { baseUrl, token, chatCompletionsPath: '/chat/completions' };
}

/**
 * Upstream response headers the client may rely on: rate limits, retry hints, the provider and the
 * upstream request id (renamed: `x-request-id` is the gateway's own). Hop-by-hop, length and
 * encoding headers never pass: the gateway frames its own reply.
 */
export function passThroughHeaders(
  headers: Record<string, string | string[] | undefined>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (name.startsWith('x-ratelimit-') || name === 'retry-after' || name === 'x-inference-provider') {
      out[name] = Array.isArray(value) ? value.join(', ') : value;
    } else if (name === 'x-request-id') {
      out['x-upstream-request-id'] = Array.isArray(value) ? value.join(', ') : value;
    }
  }
  return out;
}
