// What one upstream is, declaratively: where it is, its credential, the pricing provider of its rows,
// which models route to it (a prefix), which endpoints it serves, whether its price catalog is synced.
// The HuggingFace router (huggingface.ts) is the default one; UPSTREAMS adds others of this shape.

export type UpstreamHeaders = Record<string, string | string[] | undefined>;

export type UpstreamDescriptor = {
  /** names the upstream in logs and config errors */
  name: string;
  /** the pricing provider of its rows (`api_provider_pricing.provider`) */
  provider: string;
  /** e.g. https://router.huggingface.co/v1 (no trailing slash) */
  baseUrl: string;
  /** the gateway's own credential for it; never the client's, never echoed */
  token: string | undefined;
  /** a requested model that starts with it routes here; '' for the default (everything else) */
  prefix: string;
  /** the prefix is removed from `model` before forwarding */
  stripPrefix: boolean;
  /** OpenAI paths it serves (`/chat/completions`); undefined: every endpoint */
  endpoints: readonly string[] | undefined;
  /** its GET /models price catalog is synced into `catalog` prices under `provider` */
  catalog: boolean;
  /** the upstream's path for an OpenAI path (`/chat/completions`), appended to baseUrl's path */
  path(openAiPath: string): string;
  /** reply headers the client may rely on, renamed where they would clash with the gateway's */
  passThroughHeaders(headers: UpstreamHeaders): Record<string, string>;
  /** the provider that served a request, when the upstream says (priced first, DESIGN §5 step 0) */
  servedBy(headers: UpstreamHeaders, model: string): string | null;
};

/** One configured upstream as config.ts validated it (UPSTREAMS / UPSTREAMS_FILE). */
export type UpstreamSpec = Pick<
  UpstreamDescriptor,
  'name' | 'provider' | 'baseUrl' | 'token' | 'prefix' | 'stripPrefix' | 'endpoints' | 'catalog'
>;

/** An OpenAI-compatible server (vLLM, TGI, Ollama, a provider's own API): OpenAI's paths as they are. */
export function openAiCompatible(spec: UpstreamSpec): UpstreamDescriptor {
  return { ...spec, path: (openAiPath) => openAiPath, passThroughHeaders, servedBy: () => null };
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
