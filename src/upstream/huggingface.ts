// The HuggingFace Inference Providers router as an upstream descriptor: the default upstream, which
// takes every model no configured upstream's prefix claims. The router serves OpenAI's paths as they
// are, names who served in `x-inference-provider`, and publishes a priced catalog at GET /models.
import { passThroughHeaders, type UpstreamDescriptor } from './descriptor.ts';

export type { UpstreamDescriptor, UpstreamHeaders } from './descriptor.ts';

/** The pricing provider of the router's rows; its env prices (HUGGINGFACE_*) belong to it alone. */
export const HUGGINGFACE_PROVIDER = 'huggingface';

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
    name: HUGGINGFACE_PROVIDER,
    provider: HUGGINGFACE_PROVIDER,
    baseUrl,
    token,
    prefix: '',
    stripPrefix: false,
    endpoints: undefined,
    catalog: true,
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
