// Assembles a gateway from its config: database, migrations, pricing, keys, recorder, upstream, app.
// server.ts serves it; tests build one on an in-memory PGlite the same way.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { type App, type AppDeps, createApp } from './app.ts';
import type { Config } from './config.ts';
import { type Database, openDatabase } from './db/client.ts';
import { releaseReservation } from './db/limits-repo.ts';
import { migrate } from './db/migrate.ts';
import type { UsageLogInsert } from './db/schema.ts';
import type { EndpointAdapter } from './endpoints/adapter.ts';
import { createRecorder } from './ledger/recorder.ts';
import { createSpool } from './ledger/spool.ts';
import { createLogger, type Logger } from './logger.ts';
import { createMetrics } from './metrics.ts';
import { createAudit } from './services/admin/audit.ts';
import { createKeyService } from './services/admission/keys.ts';
import { createLimits, reservationTtlMs } from './services/admission/limits.ts';
import { createRefusalCounter, type RefusalCounter } from './services/admission/refusals.ts';
import { type AlertDeliverer, createAlertDeliverer } from './services/alerts/alert-deliverer.ts';
import { createAlerts } from './services/alerts/alerts.ts';
import { createLedgerPartitions } from './services/ledger/partitions.ts';
import { createInflight } from './services/pipeline/inflight.ts';
import { createCatalogSyncs } from './services/pricing/catalog-syncs.ts';
import { pricingFromConfig } from './services/pricing/pricing.ts';
import { createUsageReport } from './services/reports/usage-report.ts';
import { loadTelemetry } from './telemetry/load.ts';
import { openAiCompatible } from './upstream/descriptor.ts';
import { huggingFaceRouter } from './upstream/huggingface.ts';
import { createUpstreams, priceTarget } from './upstream/upstreams.ts';

/**
 * How long closing waits for the rows of cut requests. A row settles within one INSERT deadline (3 s)
 * plus an fsync'd spool append, once its estimate is counted: 10 s leaves room on a loaded machine.
 */
export const ROWS_SETTLE_MS = 10_000;

export type Gateway = {
  app: App;
  deps: AppDeps;
  /** the admin key in force (generated when ADMIN_API_KEY is unset) */
  adminApiKey: string;
  adminKeyGenerated: boolean;
  /** sends budget and credit alerts; undefined when ALERT_WEBHOOK_URL is unset */
  deliverer: AlertDeliverer | undefined;
  /** counts refusals into key_refusals; flush() writes what is pending now (tests, shutdown) */
  refusals: RefusalCounter;
  /**
   * Cuts the requests still in flight and waits (bounded) for their rows, flushes the recorder, closes
   * every connection. server.ts cuts them itself first, once SHUTDOWN_GRACE_MS is over.
   */
  close(): Promise<void>;
};

export type GatewayOverrides = {
  /** an already-open database (tests); else opened from config */
  database?: Database;
  logger?: Logger;
  /** PGlite in memory instead of DATA_DIR (tests) */
  inMemory?: boolean;
  /** the metered endpoints (tests register a fake one); default src/endpoints/registry.ts */
  endpoints?: readonly EndpointAdapter[];
};

export async function createGateway(config: Config, overrides: GatewayOverrides = {}): Promise<Gateway> {
  const logger = overrides.logger ?? createLogger({ level: config.logLevel });
  const database =
    overrides.database ??
    (await openDatabase({
      databaseUrl: config.databaseUrl,
      dataDir: overrides.inMemory ? undefined : config.dataDir,
      statementTimeoutMs: config.databaseStatementTimeoutMs,
    }));
  await migrate(database);
  // this month and the next ones partitioned before a row needs them; retention on the same tick
  const stopPartitions = await createLedgerPartitions({
    database,
    logger,
    retentionMonths: config.usageRetentionMonths,
    archiveDir: join(config.dataDir, 'archive'),
  }).start();

  const pricing = pricingFromConfig(database, config);
  await pricing.initFromEnv();

  const adminKeyGenerated = !config.adminApiKey;
  const adminApiKey = config.adminApiKey ?? `tg-admin-${randomBytes(24).toString('base64url')}`;
  const keys = createKeyService({
    database,
    adminApiKey,
    cacheTtlMs: config.keyCacheTtlMs,
    failMode: config.limitsFailMode,
    timeoutMs: config.databaseTimeoutMs,
  });

  const spool = createSpool<UsageLogInsert>({
    path: join(config.dataDir, 'usage-spool.ndjson'),
    revive: reviveUsageRow,
  });
  const recorder = createRecorder({
    database,
    spool,
    log: logger,
    // a dead-lettered row never reaches the spend trigger: give its request's reservation back here
    onDeadLetter: (rows) => releaseReservations(database, rows),
  });
  await recorder.start();

  const unfollow = await Promise.all([pricing.follow(), keys.follow()]);
  const upstreams = upstreamsFromConfig(config);
  // the price catalogs (the router's, and each `catalog: true` upstream's), read every
  // PRICING_SYNC_INTERVAL_S, one upstream after the other (one replica at a time: see catalog-sync.ts)
  if (config.pricingSyncIntervalS > 0) {
    const sync = createCatalogSyncs({
      database,
      pricing,
      upstreams,
      logger,
      bounds: config.catalogBounds,
      maxRetireShare: config.catalogMaxRetireShare,
    });
    unfollow.push(sync.every(config.pricingSyncIntervalS));
  }
  const inflight = createInflight();
  const alerts = createAlerts({ database });
  const metrics = createMetrics({ recorderStats: () => recorder.stats(), defaultModel: config.defaultModel });
  // refusals write no usage row: counted per key, day and reason in key_refusals, and in /metrics
  const refusals = createRefusalCounter({
    database,
    onError: (message, err) => logger.error({ err }, message),
  });
  refusals.start();
  const limits = createLimits({
    database,
    priceBook: pricing.priceBook,
    priceTarget: (model) => priceTarget(upstreams.route(model)),
    failMode: config.limitsFailMode,
    defaultMaxTokens: config.budgetDefaultMaxTokens,
    timeoutMs: config.databaseTimeoutMs,
    reservationTtlMs: reservationTtlMs(config),
    onError: (message, err) => logger.error({ err }, message),
    // each refusal: counted (key_refusals, /metrics); one for credit raises the account's
    // credits.exhausted alert (once per crossing), committed before the 402 is answered
    onRefusal: [
      refusals.count,
      (refusal) => metrics.refusal(refusal.reason),
      (refusal) =>
        refusal.reason === 'credits' && refusal.accountId
          ? alerts.creditsRefused({ accountId: refusal.accountId, keyId: refusal.keyId })
          : undefined,
    ],
  });
  const stopReaper = limits.startReaper();
  // OpenTelemetry only when OTEL_EXPORTER_OTLP_ENDPOINT is set: otherwise not one SDK module is loaded
  const telemetry = config.telemetry
    ? await loadTelemetry(config.telemetry, {
        providerOf: (model) => upstreams.route(model).upstream.provider,
        defaultModel: config.defaultModel,
      })
    : undefined;
  const deps: AppDeps = {
    config,
    database,
    recorder,
    upstreams,
    pricing,
    keys,
    usageReport: createUsageReport({ database }),
    logger,
    metrics,
    alerts,
    audit: createAudit({ database }),
    adminApiKey,
    inflight,
    limits,
    telemetry,
    ...(overrides.endpoints ? { endpoints: overrides.endpoints } : {}),
  };

  const deliverer = alertDeliverer(database, config, deps);
  await deliverer?.start();

  return {
    app: createApp(deps),
    deps,
    adminApiKey,
    adminKeyGenerated,
    deliverer,
    refusals,
    async close() {
      // a row still being metered must reach the recorder before its last flush
      inflight.abortAll('The gateway closed while this request was in flight.');
      if (!(await inflight.settled(ROWS_SETTLE_MS)))
        logger.error({ in_flight: inflight.size() }, 'closing: rows of cut requests did not settle in time');
      stopReaper();
      await refusals.stop();
      stopPartitions();
      await deliverer?.stop();
      await recorder.close();
      // after the last rows: their spans end with them, then everything pending is exported
      await telemetry?.shutdown();
      for (const stop of unfollow) await stop().catch(() => {});
      await upstreams.close();
      if (!overrides.database) await database.close();
    },
  };
}

/** The router (the default) and the configured upstreams, each with its own pool, timeouts and token. */
export function upstreamsFromConfig(config: Config) {
  return createUpstreams({
    configured: config.upstreams.map(openAiCompatible),
    fallback: huggingFaceRouter({ baseUrl: config.upstreamBaseUrl, token: config.hfToken }),
    timeoutMs: config.upstreamTimeoutMs,
    maxReplyBytes: config.maxUpstreamBodyBytes,
    queueTimeoutMs: config.upstreamQueueTimeoutMs,
  });
}

/**
 * Releases the budget reservations of rows the database refused for good. A reservation's id is its
 * request's id and releasing deletes it, so a replay that refuses the same row again frees nothing twice.
 */
async function releaseReservations(database: Database, rows: readonly UsageLogInsert[]): Promise<void> {
  for (const row of rows)
    if (row.apiKeyId && typeof row.requestId === 'string') await releaseReservation(database, row.requestId);
}

/** The alert deliverer when a webhook is configured: each try counted in /metrics, failures logged. */
function alertDeliverer(
  database: Database,
  { alerts }: Config,
  { metrics, logger }: Pick<AppDeps, 'metrics' | 'logger'>,
): AlertDeliverer | undefined {
  const { webhookUrl } = alerts;
  if (!webhookUrl) return undefined;
  return createAlertDeliverer({
    database,
    options: { ...alerts, webhookUrl },
    onOutcome(alert, outcome) {
      metrics.alert(outcome.kind === 'retry' ? 'retried' : outcome.kind);
      if (outcome.kind === 'delivered') return;
      const fields = {
        alert_id: alert.id,
        type: alert.type,
        key_id: alert.api_key_id,
        account_id: alert.account_id,
        attempts: alert.attempts + 1,
      };
      const what = alert.type === 'budget.threshold' ? 'budget alert' : 'credit alert';
      logger.warn(
        { ...fields, error: outcome.error },
        outcome.kind === 'failed' ? `${what} undeliverable: gave up` : `${what} delivery failed; will retry`,
      );
    },
    onError: (message, err) => logger.error({ err }, message),
  });
}

/** A spooled row back from JSON: dates were ISO strings. */
function reviveUsageRow(value: unknown): UsageLogInsert {
  const row = value as UsageLogInsert & { createdAt?: string | Date };
  if (typeof row.requestId !== 'string') throw new Error('not a usage row');
  return { ...row, createdAt: row.createdAt ? new Date(row.createdAt) : new Date() };
}
