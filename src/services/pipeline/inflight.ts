// The requests in flight that will end in a usage row, so that shutdown can cut them and wait for their
// rows before the recorder's last flush: a stream still open when SHUTDOWN_GRACE_MS ends is aborted
// (upstream stopped, what was served metered, usually estimated), and the process exits only once
// that row is committed or spooled. Without it the cut stream was still being metered when the recorder
// closed and the process exited: its row was in neither the database nor the spool.
//
// The pipeline tracks a request once it can only end in a row (for a stream: when the upstream answered
// and streaming starts), and the registry forgets it by itself once its row settles:
//
//   const untrack = inflight.track({
//     abort: (reason) => { upstreamAbort.abort(); void finish('client_aborted', 499, reason); },
//     metered, // settles once the row is committed, spooled or refused
//   });
//   // untrack() only if the request ends without ever settling `metered`
//
// and shutdown runs, once the grace period is over: `inflight.abortAll(reason)`, then
// `await inflight.settled(timeoutMs)`, then the recorder's close.

export type InflightEntry = {
  /**
   * Ends the request now, as the gateway's decision: stop the upstream, close the client's reply, meter
   * what was served. Called at most once; `reason` goes in the row's error. Must not throw.
   */
  abort(reason: string): void;
  /** settles (either way) once the request's row is durable or refused: what shutdown waits for */
  metered: Promise<unknown>;
};

export type Inflight = {
  /**
   * Tracks a request until its `metered` settles (or untrack is called). After abortAll, a request
   * tracked late (its upstream answered during shutdown) is aborted at once with the same reason.
   */
  track(entry: InflightEntry): () => void;
  /** aborts every tracked request (and, from now on, each one tracked later); returns how many */
  abortAll(reason: string): number;
  /**
   * Resolves true once every tracked request's row has settled, also those tracked meanwhile; false
   * when `timeoutMs` passes first (their rows are then the recorder's late rows, or lost with the process).
   */
  settled(timeoutMs: number): Promise<boolean>;
  /** requests tracked now */
  size(): number;
};

export function createInflight(): Inflight {
  const entries = new Set<InflightEntry>();
  /** set by abortAll: requests tracked from now on are cut at once */
  let closing: string | undefined;
  /** settled() calls waiting for the registry to empty */
  let waiters: Array<() => void> = [];

  const abort = (entry: InflightEntry, reason: string) => {
    try {
      entry.abort(reason);
    } catch {
      // an abort that throws must not stop the others being cut; its row still settles `metered`
    }
  };

  return {
    track(entry) {
      entries.add(entry);
      const untrack = () => {
        if (!entries.delete(entry) || entries.size > 0) return;
        for (const wake of waiters.splice(0)) wake();
      };
      entry.metered.then(untrack, untrack);
      if (closing !== undefined) abort(entry, closing);
      return untrack;
    },
    abortAll(reason) {
      closing = reason;
      const now = [...entries];
      for (const entry of now) abort(entry, reason);
      return now.length;
    },
    async settled(timeoutMs) {
      if (entries.size === 0) return true;
      let timer: NodeJS.Timeout | undefined;
      let wake = () => {};
      const emptied = new Promise<true>((resolve) => {
        wake = () => resolve(true);
        waiters.push(wake);
      });
      const expired = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      try {
        return await Promise.race([emptied, expired]);
      } finally {
        clearTimeout(timer);
        waiters = waiters.filter((w) => w !== wake);
      }
    },
    size: () => entries.size,
  };
}
