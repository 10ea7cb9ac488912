// The set of upstreams: the configured ones (UPSTREAMS) in order, then the default (the HuggingFace
// router). Routing is by model prefix; each upstream has its own client (pool, timeouts, token) and
// all of them share one redactor holding every upstream's token.
import { createUpstream, type UpstreamClient } from './client.ts';
import type { UpstreamDescriptor } from './descriptor.ts';
import { createRedactor } from './redact.ts';

/** Where one request goes: the upstream, and the model as that upstream knows it. */
export type Route = {
  upstream: UpstreamClient;
  descriptor: Pick<
    UpstreamDescriptor,
    'name' | 'provider' | 'baseUrl' | 'prefix' | 'stripPrefix' | 'endpoints' | 'catalog'
  >;
  /** the model to forward (and to price): the prefix removed when the descriptor says so */
  model: string;
  /** whether `model` differs from the one asked for (the body's `model` must be rewritten) */
  rewritten: boolean;
};

export type Upstreams = {
  /** every upstream, the configured ones in order and the default last */
  readonly all: readonly Route[];
  /** the first upstream whose prefix starts `model`, else the default */
  route(model: string): Route;
  close(): Promise<void>;
};

export function createUpstreams({
  configured,
  fallback,
  timeoutMs,
  maxReplyBytes,
  queueTimeoutMs,
}: {
  configured: readonly UpstreamDescriptor[];
  /** the default upstream: takes every model no prefix claims */
  fallback: UpstreamDescriptor;
  timeoutMs: number;
  maxReplyBytes: number;
  queueTimeoutMs: number;
}): Upstreams {
  const descriptors = [...configured, fallback];
  const redactor = createRedactor(descriptors.map((d) => d.token));
  const clients = descriptors.map((descriptor) =>
    createUpstream({ descriptor, redactor, timeoutMs, maxReplyBytes, queueTimeoutMs }),
  );
  return routing(
    descriptors.map((descriptor, i) => ({ descriptor, upstream: clients[i] as UpstreamClient })),
  );
}

/** The provider and the model a route prices under: the upstream's provider, the model as it knows it. */
export function priceTarget(route: Route): { provider: string; model: string } {
  return { provider: route.descriptor.provider, model: route.model };
}

/** One upstream serving every model, as it is asked (tests, tools that need no routing). */
export function singleUpstream(upstream: UpstreamClient): Upstreams {
  return routing([
    {
      descriptor: {
        name: upstream.provider,
        provider: upstream.provider,
        baseUrl: '',
        prefix: '',
        stripPrefix: false,
        endpoints: undefined,
        catalog: false,
      },
      upstream,
    },
  ]);
}

function routing(entries: ReadonlyArray<Pick<Route, 'descriptor' | 'upstream'>>): Upstreams {
  const all: Route[] = entries.map((entry) => ({ ...entry, model: '', rewritten: false }));
  const fallback = all.at(-1) as Route;
  return {
    all,
    route(model) {
      for (const entry of all) {
        const { prefix } = entry.descriptor;
        if (prefix === '' || !model.startsWith(prefix)) continue;
        const strip = entry.descriptor.stripPrefix;
        return { ...entry, model: strip ? model.slice(prefix.length) : model, rewritten: strip };
      }
      return { ...fallback, model, rewritten: false };
    },
    async close() {
      await Promise.all(all.map((entry) => entry.upstream.close()));
    },
  };
}
