// Composition root: config → gateway (database, migrations, pricing, recorder) → HTTP server.
// SIGTERM/SIGINT: stop accepting, let in-flight requests finish within SHUTDOWN_GRACE_MS, cut what
// outlives it and wait (bounded) for those rows, only then flush the recorder and exit 0: every request
// answered or cut has its row, in the database or the spool.
import { serve } from '@hono/node-server';
import { ConfigError, loadConfig } from './config.ts';
import { createGateway, ROWS_SETTLE_MS } from './gateway.ts';
import { createLogger } from './logger.ts';

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const problem of err.problems) console.error(`tollgate: bad configuration: ${problem}`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger({ level: config.logLevel });
  const gateway = await createGateway(config, { logger });
  if (gateway.adminKeyGenerated) {
    // printed once, on stdout, never logged: the operator copies it or sets ADMIN_API_KEY
    process.stdout.write(`ADMIN_API_KEY was not set; this run's admin key is: ${gateway.adminApiKey}\n`);
  }

  const server = serve({ fetch: gateway.app.fetch, port: config.port, hostname: config.host }, (info) => {
    logger.info(
      {
        port: info.port,
        host: config.host,
        database: gateway.deps.database.kind,
        upstream: config.upstreamBaseUrl,
        upstreams: config.upstreams.map((u) => `${u.prefix} → ${u.name} (${u.baseUrl})`),
      },
      'tollgate listening',
    );
  });

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: draining in-flight requests');
    const drained = new Promise<void>((resolve) => server.close(() => resolve()));
    // close() closes only the connections idle right now; one whose reply goes out later would stay
    // open for keep-alive until its timeout: close each as soon as it idles
    const closeIdle = () => {
      if ('closeIdleConnections' in server) server.closeIdleConnections();
    };
    closeIdle();
    const sweep = setInterval(closeIdle, 100);
    const timedOut = await Promise.race([
      drained.then(() => false),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(true), config.shutdownGraceMs).unref()),
    ]);
    clearInterval(sweep);
    const { inflight } = gateway.deps;
    if (timedOut) {
      // cut before the sockets close: the stream ends as a reply of ours, its row counts what was served
      const cut = inflight.abortAll(
        `The gateway shut down mid-stream: SHUTDOWN_GRACE_MS (${config.shutdownGraceMs} ms) ended.`,
      );
      logger.warn({ grace_ms: config.shutdownGraceMs, cut }, 'grace period over: cutting requests in flight');
    }
    // also after a drain: a client that left mid-stream closed its socket before its row was written
    if (!(await inflight.settled(ROWS_SETTLE_MS)))
      logger.error({ in_flight: inflight.size() }, 'shutdown: rows of cut requests did not settle in time');
    if (timedOut && 'closeAllConnections' in server) server.closeAllConnections();
    try {
      await gateway.close();
    } catch (err) {
      logger.error({ err }, 'shutdown: flushing the recorder or closing the database failed');
      process.exit(1);
    }
    logger.info('recorder flushed; bye');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  console.error('tollgate: failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
