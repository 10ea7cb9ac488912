// The HuggingFace Inference Providers router as an upstream descriptor: where it is, how the gateway
// authenticates, which reply headers the client may see, and who served. The router serves OpenAI's
// paths as they are (/chat/completions, /responses), so endpoints need no entry here; an upstream
// whose paths differ maps them in `path`. A second upstream is one more descriptor of this shape.

export type UpstreamDescriptor = {
  /** the pricing provider of its rows (`api_provider_pricing.provider`) */
  provider: string;
  /** e.g. https://router.huggingface.co/v1 (no trailing slash) */
  baseUrl: string;
  /** the gateway's own credential; never the client's, never echoed */
  token: string | undefined;
  /** the upstream's path for an OpenAI path (`/chat/completions`), appended to baseUrl's path */
  path(openAiPath: string): string;
  /** reply headers the client may rely on, renamed where they would clash with the gateway's */
  passThroughHeaders(headers: UpstreamHeaders): Record<string, string>;
  /** the provider that served a request: the router names it; else the model's `:provider` suffix */
  servedBy(headers: UpstreamHeaders, model: string): string | null;
};

export type UpstreamHeaders = Record<string, string | string[] | undefined>;

/** Longest provider name taken from a reply header or a model suffix (it becomes a row column). */
const MAX_PROVIDER_CHARS = 64;

export function huggingFaceRouter({
  baseUrl,
  token,
}: {
  baseUrl: string;
  token: string | undefined;
}): UpstreamDescriptor {
  return {
    provider: 'huggingface',
    baseUrl,
    token,
    path: (openAiPath) => openAiPath,
    passThroughHeaders,
    servedBy(headers, model) {
      const named = headerText(headers['x-inference-provider']);
      const colon = model.lastIndexOf(':');
      const suffix = colon === -1 ? '' : model.slice(colon + 1);
      // :fastest, :cheapest and :preferred are policies, not providers: the router picks one
      const candidate = named || (POLICIES.has(suffix) ? '' : suffix);
      const clean = candidate.trim().toLowerCase();
      return clean && clean.length <= MAX_PROVIDER_CHARS ? clean : null;
    },
  };
}

const POLICIES = new Set(['fastest', 'cheapest', 'preferred']);

function headerText(value: string | string[] | undefined): string {
  return Array.isArray(value) ? (value[0] ?? '') : (value ?? '');
}

/**
 * Upstream response headers the client may rely on: rate limits, retry hints, the provider and the
 * upstream request id (renamed: `x-request-id` is the gateway's own). Hop-by-hop, length and
 * encoding headers never pass: the gateway frames its own reply.
 */
export function passThroughHeaders(headers: UpstreamHeaders): Record<string, string> {
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
