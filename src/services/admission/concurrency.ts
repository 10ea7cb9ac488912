// Requests in flight per key, counted in this process's memory: `max_concurrent` holds per gateway
// replica (N replicas admit up to N × max_concurrent), which is what bounds one key's share of this
// process's connections and sockets. A slot is taken at admission and freed by Admission.finish().
import { GatewayError } from '../../errors.ts';
import type { RefusalListener } from './refusals.ts';

export function createConcurrency({ onRefusal = () => {} }: { onRefusal?: RefusalListener } = {}) {
  const inFlight = new Map<string, number>();

  return {
    /** Takes a slot of `keyId`, or throws 429 when `max` are in flight; returns its (idempotent) release. */
    take(keyId: string, max: number | null): () => void {
      if (max === null) return () => {};
      const now = inFlight.get(keyId) ?? 0;
      if (now >= max) {
        onRefusal({ keyId, reason: 'concurrency' });
        throw new GatewayError(
          429,
          `Too many requests in flight for this key: at most ${max} at once. Retry when one finishes.`,
          { type: 'requests', code: 'concurrency_limit_exceeded', headers: { 'retry-after': '1' } },
        );
      }
      inFlight.set(keyId, now + 1);
      let freed = false;
      return function freeSlot() {
        if (freed) return;
        freed = true;
        const left = (inFlight.get(keyId) ?? 1) - 1;
        if (left > 0) inFlight.set(keyId, left);
        else inFlight.delete(keyId);
      };
    },
    /** requests of `keyId` in flight in this process */
    count: (keyId: string): number => inFlight.get(keyId) ?? 0,
  };
}
