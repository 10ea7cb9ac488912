// PLACEHOLDER — streaming lands next.
import { GatewayError } from '../errors.ts';
import type { ChatRequest, ProxyContext, ProxyDeps } from './proxy.ts';

export function createStreamProxy(_deps: ProxyDeps & { timeoutMs: number }) {
  return async function completeStream(_request: ChatRequest, _ctx: ProxyContext): Promise<Response> {
    throw new GatewayError(501, 'Streaming is not implemented yet.');
  };
}
