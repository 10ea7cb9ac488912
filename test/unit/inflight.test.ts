// The registry shutdown uses to cut the requests still in flight and wait for their rows.
import { describe, expect, it } from 'vitest';
import { createInflight } from '../../src/services/pipeline/inflight.ts';

/** A request whose row settles when the test says so; abort() meters it at once, as the proxy does. */
function request() {
  let settle = () => {};
  const aborted: string[] = [];
  const metered = new Promise<void>((resolve) => {
    settle = resolve;
  });
  return {
    aborted,
    settle: () => settle(),
    entry: {
      abort(reason: string) {
        aborted.push(reason);
        setTimeout(() => settle(), 20); // the cut row takes a moment to be written
      },
      metered,
    },
  };
}

describe('the in-flight registry', () => {
  it('forgets a request once its row settles, and settles at once when nothing is in flight', async () => {
    const inflight = createInflight();
    expect(await inflight.settled(10)).toBe(true);
    const r = request();
    inflight.track(r.entry);
    expect(inflight.size()).toBe(1);
    r.settle();
    await r.entry.metered;
    expect(inflight.size()).toBe(0);
    expect(r.aborted).toEqual([]);
  });

  it('cuts every request with the reason, and settled() waits for their rows', async () => {
    const inflight = createInflight();
    const [a, b] = [request(), request()];
    inflight.track(a.entry);
    inflight.track(b.entry);
    expect(inflight.abortAll('shutting down')).toBe(2);
    expect([a.aborted, b.aborted]).toEqual([['shutting down'], ['shutting down']]);
    expect(await inflight.settled(5000)).toBe(true);
    expect(inflight.size()).toBe(0);
  });

  it('cuts at once a request tracked after abortAll (its upstream answered during shutdown)', async () => {
    const inflight = createInflight();
    inflight.abortAll('shutting down');
    const late = request();
    inflight.track(late.entry);
    expect(late.aborted).toEqual(['shutting down']);
    expect(await inflight.settled(5000)).toBe(true);
  });

  it('gives up after the timeout when a row never settles, saying so', async () => {
    const inflight = createInflight();
    const stuck = request();
    inflight.track({ abort: () => {}, metered: stuck.entry.metered });
    expect(await inflight.settled(30)).toBe(false);
    expect(inflight.size()).toBe(1);
    // untrack: the request ended without a row to wait for
    stuck.settle();
  });

  it('cuts the others when one abort throws', async () => {
    const inflight = createInflight();
    const ok = request();
    inflight.track({
      abort: () => {
        throw new Error('boom');
      },
      metered: Promise.resolve(),
    });
    inflight.track(ok.entry);
    inflight.abortAll('shutting down');
    expect(ok.aborted).toEqual(['shutting down']);
    expect(await inflight.settled(5000)).toBe(true);
  });

  it('untrack() forgets a request that ends without a row, and wakes settled()', async () => {
    const inflight = createInflight();
    const r = request();
    const untrack = inflight.track({ abort: () => {}, metered: r.entry.metered });
    const settled = inflight.settled(5000);
    untrack();
    expect(await settled).toBe(true);
  });
});
