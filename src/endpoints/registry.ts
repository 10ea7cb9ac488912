// The one registry of metered endpoints: routes, the /usage endpoint filter, reports, the dashboard's
// filter and /openapi.json are all derived from this list. Adding an endpoint is its file in
// src/endpoints and one line here.
import type { EndpointAdapter } from './adapter.ts';
import { chatCompletions } from './chat-completions.ts';
import { embeddings } from './embeddings.ts';
import { responses } from './responses.ts';

export const ENDPOINTS: readonly EndpointAdapter[] = [chatCompletions, responses, embeddings];

export { DEFAULT_ENDPOINT } from './default-endpoint.ts';

/** The endpoint names of `adapters`, as a non-empty tuple for a zod enum. */
export function endpointNames(adapters: readonly EndpointAdapter[]): [string, ...string[]] {
  const [first, ...rest] = adapters.map((adapter) => adapter.name);
  if (first === undefined) throw new Error('no metered endpoint is registered');
  return [first, ...rest];
}
