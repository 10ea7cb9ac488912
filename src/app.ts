// createApp(deps): routes, middleware, error rendering. No I/O at import; everything arrives in deps.
import { type Context, Hono } from 'hono';
import { cors } from 'hono/cors';
import type { Config } from './config.ts';
import { clientAddress } from './dashboard/guard.ts';
import type { Database } from './db/client.ts';
import type { UsageLogInsert } from './db/schema.ts';
import type { EndpointAdapter } from './endpoints/adapter.ts';
import { ENDPOINTS } from './endpoints/registry.ts';
import { notFound } from './errors.ts';
import type { Recorder } from './ledger/recorder.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';
import { adminAuth, clientAuth } from './middleware/auth.ts';
import type { AppEnv } from './middleware/context.ts';
import { databaseDeadline } from './middleware/database-deadline.ts';
import { renderError } from './middleware/error-handler.ts';
import { observe } from './middleware/observe.ts';
import { requestId } from './middleware/request-id.ts';
import { adminAccountsRoutes } from './routes/admin-accounts.ts';
import { adminAlertsRoutes } from './routes/admin-alerts.ts';
import { adminAuditRoutes } from './routes/admin-audit.ts';
import { adminKeysRoutes } from './routes/admin-keys.ts';
import { adminPlansRoutes } from './routes/admin-plans.ts';
import { adminPricingRoutes } from './routes/admin-pricing.ts';
import { adminRepriceRoutes } from './routes/admin-reprice.ts';
import { bodyLimit } from './routes/body.ts';
import { dashboardRoutes } from './routes/dashboard.ts';
import { dashboardAccountsRoutes } from './routes/dashboard-accounts.ts';
import { healthRoutes } from './routes/health.ts';
import { keySelfRoutes } from './routes/key-self.ts';
import { meteredRoutes } from './routes/metered.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { modelsRoutes } from './routes/models.ts';
import { openApiRoutes } from './routes/openapi.ts';
import { STRIPE_OPERATION } from './routes/openapi-accounts.ts';
import { usageRoutes } from './routes/usage.ts';
import { stripeWebhookRoutes } from './routes/webhooks-stripe.ts';
import { createAccountService } from './services/accounts/accounts.ts';
import { createCreditService } from './services/accounts/credits.ts';
import { createGrants } from './services/accounts/grants.ts';
import { createStripeTopups } from './services/accounts/stripe.ts';
import type { Audit } from './services/admin/audit.ts';
import { createSignInThrottle } from './services/admin/sign-in-throttle.ts';
import type { KeyService } from './services/admission/keys.ts';
import type { Limits } from './services/admission/limits.ts';
import type { Alerts } from './services/alerts/alerts.ts';
import type { Inflight } from './services/pipeline/inflight.ts';
import { createPipeline } from './services/pipeline/pipeline.ts';
import type { PricingService } from './services/pricing/pricing.ts';
import type { UsageReport } from './services/reports/usage-report.ts';
import type { Telemetry } from './telemetry/types.ts';
import type { Upstreams } from './upstream/upstreams.ts';

export type AppDeps = {
  config: Config;
  database: Database;
  recorder: Recorder;
  /** the HuggingFace router and the configured upstreams, routed by model prefix */
  upstreams: Upstreams;
  pricing: PricingService;
  keys: KeyService;
  usageReport: UsageReport;
  logger: Logger;
  metrics: Metrics;
  limits: Limits;
  audit: Audit;
  alerts: Alerts;
  /** the master key in force, for the dashboard's session signature */
  adminApiKey: string;
  /** requests that will end in a usage row: shutdown cuts them and waits for their rows */
  inflight: Inflight;
  /** OpenTelemetry spans and metrics; undefined when OTEL_EXPORTER_OTLP_ENDPOINT is unset */
  telemetry?: Telemetry | undefined;
  /** the metered endpoints (default: src/endpoints/registry.ts); every endpoint list derives from it */
  endpoints?: readonly EndpointAdapter[];
};

export function createApp(deps: AppDeps) {
  const { config, keys } = deps;
  const endpoints = deps.endpoints ?? ENDPOINTS;
  // the completion line is built from a fixed set of fields, none a credential: it skips the
  // redaction pass, which cost ~13 µs a line (three times the rest of pino's work)
  const completionLog = deps.logger.child({}, { redact: { paths: [] } });
  const pipeline = createPipeline({
    upstreams: deps.upstreams,
    priceBook: deps.pricing.priceBook,
    recorder: deps.recorder,
    maxEventBytes: config.maxUpstreamBodyBytes,
    track: deps.inflight.track,
    onMetered: (row: UsageLogInsert) => {
      deps.metrics.usage(row);
      deps.telemetry?.metered(row);
      completionLog.info(usageLogLine(row), 'completion');
    },
  });
  const accounts = createAccountService({ database: deps.database, refreshKeys: () => keys.refresh() });
  const credits = createCreditService({ database: deps.database });
  const grants = createGrants({ database: deps.database });
  const app = new Hono<AppEnv>();

  app.use(requestId());
  app.use(observe(deps.metrics));
  // MAX_BODY_BYTES on every route, before any route reads a byte
  app.use(bodyLimit({ maxBytes: config.maxBodyBytes }));
  app.route('/', healthRoutes(deps));
  if (config.metricsRequireAdmin) app.use('/metrics', adminAuth(keys));
  app.route('/', metricsRoutes(deps));
  app.route('/', openApiRoutes({ endpoints, extra: config.stripeWebhookSecret ? [STRIPE_OPERATION] : [] }));

  if (config.corsOrigins) {
    // preflights are answered here, before auth; credentials are never allowed (keys travel as Bearer)
    app.use(
      '/v1/*',
      cors({
        origin: config.corsOrigins,
        exposeHeaders: ['x-request-id', 'x-usage-cost-usd', 'server-timing', 'retry-after', 'x-should-retry'],
        maxAge: 600,
      }),
    );
  }
  app.use('/v1/*', clientAuth(keys));
  app.route(
    '/v1',
    meteredRoutes({
      adapters: endpoints,
      pipeline,
      limits: deps.limits,
      telemetry: deps.telemetry,
      grants,
      onGrantError: (err) =>
        deps.logger.error({ err }, 'writing a plan grant failed; the next request retries'),
    }),
  );
  app.route(
    '/v1',
    modelsRoutes({ defaultModel: config.defaultModel, pricing: deps.pricing, upstreams: deps.upstreams }),
  );
  app.route('/v1', keySelfRoutes({ database: deps.database, keys, accounts }));

  const adminDeadline = databaseDeadline({ timeoutMs: config.databaseStatementTimeoutMs + 500 });
  // wrong admin keys are throttled per client address, in the dashboard sign-in's counter
  const adminGuard = {
    throttle: createSignInThrottle({ database: deps.database }),
    limit: config.adminAuthFailuresPerMinute,
    clientOf: (c: Context) => clientAddress(c, { trustProxy: config.trustProxy }),
    timeoutMs: config.databaseTimeoutMs,
  };
  const guardedAdmin = adminAuth(keys, adminGuard);
  for (const prefix of ['/usage', '/usage/*', '/admin/*']) app.use(prefix, guardedAdmin, adminDeadline);
  app.route('/usage', usageRoutes({ usageReport: deps.usageReport, endpoints }));
  app.route('/admin', adminPricingRoutes(deps));
  app.route('/admin', adminRepriceRoutes(deps));
  app.route('/admin', adminKeysRoutes(deps));
  app.route('/admin', adminAuditRoutes(deps));
  app.route('/admin', adminAlertsRoutes(deps));
  app.route('/admin', adminPlansRoutes({ accounts, audit: deps.audit }));
  app.route(
    '/admin',
    adminAccountsRoutes({ accounts, credits, grants, audit: deps.audit, database: deps.database }),
  );
  app.route(
    '/dashboard/accounts',
    dashboardAccountsRoutes({ adminApiKey: deps.adminApiKey, database: deps.database, accounts, grants }),
  );
  app.route('/dashboard', dashboardRoutes({ ...deps, endpoints }));
  if (config.stripeWebhookSecret) {
    const receive = createStripeTopups({
      database: deps.database,
      credits,
      audit: deps.audit,
      secret: config.stripeWebhookSecret,
      onUnmatched: (detail) =>
        deps.logger.warn(detail, 'a Stripe top-up names no account; kept in the audit log'),
    });
    app.route('/webhooks', stripeWebhookRoutes({ receive }));
  }

  const log = (message: string, fields: Record<string, unknown>) => deps.logger.error(fields, message);
  app.notFound((c) => renderError(notFound(`No route for ${c.req.method} ${c.req.path}.`), c));
  app.onError((err, c) => renderError(err, c, log));
  return app;
}

export type App = ReturnType<typeof createApp>;

/** The one log line per metered request: no prompt, no completion, no secret. */
function usageLogLine(row: UsageLogInsert) {
  return {
    request_id: row.requestId,
    key_id: row.apiKeyId ?? 'master',
    model: row.model,
    endpoint: row.endpoint,
    served_by: row.servedBy,
    stream: row.stream,
    status: row.status,
    http_status: row.httpStatus,
    prompt_tokens: row.promptTokens,
    completion_tokens: row.completionTokens,
    usage_source: row.usageSource,
    cost_usd: row.costTotal,
    latency_ms: row.latencyMs,
    ttft_ms: row.ttftMs,
    upstream_request_id: row.upstreamRequestId,
  };
}
