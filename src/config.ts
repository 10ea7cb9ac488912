// The only reader of process.env: parses and validates every setting once, naming each bad one.
import { readFileSync } from 'node:fs';
import { parse as parseDotenv } from 'dotenv';
import { z } from 'zod';
import type { CatalogBounds } from './billing/catalog.ts';
import { parseUpstreams, type UpstreamConfig } from './config-upstreams.ts';

const DECIMAL = /^\d+(\.\d{1,18})?$/;

/** USD per token as a decimal string: non-negative, at most 18 decimal places. */
const price = z
  .string()
  .trim()
  .regex(DECIMAL, 'must be a non-negative decimal number with at most 18 decimal places');

const url = z
  .string()
  .trim()
  .refine(
    (value) => URL.canParse(value) && /^https?:$/.test(new URL(value).protocol),
    'must be an http(s) URL',
  )
  .transform((value) => value.replace(/\/+$/, ''));

const positiveInt = z.coerce.number().int('must be a whole number').positive('must be positive');

/** A webhook URL is used exactly as given: its path (and a trailing slash) may be part of a token. */
const webhookUrl = z
  .string()
  .trim()
  .refine(
    (value) => URL.canParse(value) && /^https?:$/.test(new URL(value).protocol),
    'must be an http(s) URL',
  );

export const configSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8787).describe('TCP port the gateway listens on'),
  HOST: z
    .string()
    .trim()
    .min(1)
    .default('127.0.0.1')
    .describe('address the gateway listens on (the Docker image sets 0.0.0.0)'),
  DATABASE_URL: z
    .string()
    .trim()
    .regex(/^postgres(ql)?:\/\/.+/, 'must be a postgres:// URL')
    .optional()
    .describe(
      'postgres://user:password@host:5432/db selects PostgreSQL; unset: embedded PGlite in DATA_DIR. Secret',
    ),
  DATA_DIR: z
    .string()
    .trim()
    .min(1)
    .default('./data')
    .describe(
      "folder of PGlite's files and of the usage spool (rows wait there while the database is down); one process per folder",
    ),
  HF_TOKEN: z
    .string()
    .trim()
    .optional()
    .describe(
      "the gateway's own upstream credential (https://huggingface.co/settings/tokens); redacted from every reply, never logged",
    ),
  UPSTREAM_BASE_URL: url
    .default('https://router.huggingface.co/v1')
    .describe(
      'OpenAI-compatible upstream the metered routes are forwarded to (tests point it at a local mock)',
    ),
  DEFAULT_MODEL: z
    .string()
    .trim()
    .min(1)
    .default('openai/gpt-oss-120b:groq')
    .describe('model listed by /v1/models and priced from the env prices at every start'),
  HUGGINGFACE_INPUT_TOKEN_COST: price
    .default('0.000001')
    .describe('USD per input token, a decimal (0.000001 = $1 per 1M tokens)'),
  HUGGINGFACE_OUTPUT_TOKEN_COST: price.default('0.000003').describe('USD per output token, a decimal'),
  HUGGINGFACE_CACHED_INPUT_TOKEN_COST: price
    .optional()
    .describe('USD per cached input token (a prompt-cache hit); unset: the input price'),
  PRICING_SYNC_INTERVAL_S: z.coerce
    .number()
    .int('must be a whole number')
    .min(0, 'must be 0 (off) or positive')
    .default(0)
    .describe(
      "seconds between reads of the router's price catalog (GET UPSTREAM_BASE_URL/models), one replica at a time; 0: off (npm run pricing:sync reads it once)",
    ),
  ADMIN_API_KEY: z
    .string()
    .trim()
    .min(16, 'must be at least 16 characters')
    .optional()
    .describe(
      'master key (16 characters or more): admin routes, the dashboard, and accepted as a client key; unset: generated and printed once at start',
    ),
  UPSTREAM_TIMEOUT_MS: positiveInt
    .default(120_000)
    .describe(
      'ms; non-streaming: the whole upstream request; streaming: the longest silence (the wait for the headers, each gap between two events)',
    ),
  MAX_BODY_BYTES: positiveInt
    .default(4_194_304)
    .describe('bytes; a larger request body, on any route, gets 413'),
  SHUTDOWN_GRACE_MS: positiveInt
    .default(30_000)
    .describe(
      'ms; on SIGTERM, how long in-flight requests (streams included) may take before open streams are cut and metered',
    ),
  LOG_LEVEL: z
    .enum(['debug', 'info', 'warn', 'error', 'silent'])
    .default('info')
    .describe('least level of the JSON log lines written'),
  LIMITS_FAIL_MODE: z
    .enum(['open', 'closed'])
    .default('open')
    .describe(
      'budgets and rate limits while the database cannot answer: open admits (may overshoot until it is back), closed refuses with 503',
    ),
  METRICS_REQUIRE_ADMIN: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default('false')
    .describe('true puts /metrics behind the admin key; false leaves it open like /healthz'),
  BUDGET_DEFAULT_MAX_TOKENS: positiveInt
    .default(4096)
    .describe(
      'tokens; completion tokens per choice assumed for a request without max_tokens (budgets, TPM), and the least reserved per choice while other requests of the key are in flight',
    ),
  MAX_UPSTREAM_BODY_BYTES: positiveInt
    .default(33_554_432)
    .describe(
      'bytes; the largest upstream reply held in memory: a non-streamed body (larger: 502, metered) or one stream event (larger: an error event, metered)',
    ),
  UPSTREAM_QUEUE_TIMEOUT_MS: positiveInt
    .default(10_000)
    .describe(
      'ms; when every upstream connection is busy, how long a request waits for one before a 503 upstream_busy',
    ),
  CORS_ORIGINS: z
    .string()
    .trim()
    .refine(
      (value) =>
        value === '*' || value.split(',').every((origin) => /^https?:\/\/[^/\s]+$/.test(origin.trim())),
      'must be * or a comma-separated list of origins like https://app.example.com',
    )
    .optional()
    .describe(
      '* or a comma-separated list of origins (https://app.example.com) allowed to call /v1 from a browser; unset: no CORS headers',
    ),
  KEY_CACHE_TTL_MS: positiveInt
    .default(5000)
    .describe(
      'ms; a cached client key is re-read after this long, bounding a revocation whose notification was lost',
    ),
  DATABASE_TIMEOUT_MS: positiveInt
    .default(2000)
    .describe(
      'ms; deadline of each database query on the request path (key lookups, limits); past it LIMITS_FAIL_MODE decides',
    ),
  DATABASE_STATEMENT_TIMEOUT_MS: positiveInt
    .default(15_000)
    .describe("ms; PostgreSQL statement_timeout of the gateway's queries; admin reads answer 503 past it"),
  TRUST_PROXY: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default('false')
    .describe(
      'true when a TLS-terminating proxy in front sets x-forwarded-proto and x-forwarded-for (Secure dashboard cookie, sign-in throttle per client); false when clients connect directly',
    ),
  ALERT_WEBHOOK_URL: webhookUrl
    .optional()
    .describe(
      'where budget and credit alerts are POSTed as JSON, used exactly as given (e.g. a Slack incoming webhook); unset: alerts are raised and listed, never sent. Secret',
    ),
  ALERT_WEBHOOK_SECRET: z
    .string()
    .trim()
    .min(16, 'must be at least 16 characters')
    .optional()
    .describe(
      'HMAC-SHA256 key (16 characters or more) signing each alert body in x-tollgate-signature; unset: unsigned. Never logged',
    ),
  ALERT_MAX_ATTEMPTS: positiveInt.default(10).describe('tries per alert before it is marked failed'),
  ALERT_BACKOFF_BASE_MS: positiveInt
    .default(2000)
    .describe(
      'ms; wait after the first failed try, doubled after each further one up to ALERT_BACKOFF_MAX_MS',
    ),
  ALERT_BACKOFF_MAX_MS: positiveInt
    .default(300_000)
    .describe('ms; the longest wait between two tries of an alert'),
  ALERT_TIMEOUT_MS: positiveInt
    .default(10_000)
    .describe("ms; one try of an alert: connecting, the receiver's headers and its body"),
  ALERT_POLL_MS: positiveInt
    .default(1000)
    .describe('ms; how often due alerts are looked for (a new alert wakes the deliverer at once)'),
  // Telemetry: config reads these (also from .env) and hands them to src/telemetry explicitly. The
  // OpenTelemetry exporters themselves also read the other standard OTEL_EXPORTER_OTLP_* variables
  // (…_TIMEOUT, …_COMPRESSION, the per-signal …_TRACES_* / …_METRICS_*) from the process environment:
  // that is the SDK's own contract, not a second reader of ours.
  OTEL_EXPORTER_OTLP_ENDPOINT: url
    .optional()
    .describe(
      'OTLP/HTTP base URL (e.g. http://collector:4318): spans and metrics go to /v1/traces and /v1/metrics under it; unset: no telemetry, no OpenTelemetry module loaded',
    ),
  OTEL_EXPORTER_OTLP_PROTOCOL: z
    .enum(['http/protobuf', 'http/json'])
    .default('http/protobuf')
    .describe('encoding of the OTLP/HTTP export'),
  OTEL_EXPORTER_OTLP_HEADERS: z
    .string()
    .trim()
    .refine(
      (value) => value.split(',').every((pair) => /^[^=\s]+\s*=\s*\S/.test(pair.trim())) && decodable(value),
      'must be a comma-separated list of name=value (values percent-encoded)',
    )
    .optional()
    .describe(
      'headers sent with every export, name=value pairs separated by commas (a collector token). Secret',
    ),
  OTEL_SERVICE_NAME: z
    .string()
    .trim()
    .min(1)
    .default('tollgate')
    .describe('service.name of the exported spans and metrics'),
  OTEL_TRACES_SAMPLER: z
    .enum([
      'always_on',
      'always_off',
      'traceidratio',
      'parentbased_always_on',
      'parentbased_always_off',
      'parentbased_traceidratio',
    ])
    .default('parentbased_always_on')
    .describe("which calls are traced (parentbased_*: a caller's sampled traceparent decides)"),
  OTEL_TRACES_SAMPLER_ARG: z.coerce
    .number()
    .min(0, 'must be between 0 and 1')
    .max(1, 'must be between 0 and 1')
    .default(1)
    .describe('the fraction of traces kept by the *traceidratio samplers, 0 to 1'),
  OTEL_METRIC_EXPORT_INTERVAL: positiveInt
    .default(60_000)
    .describe('ms between two exports of the OpenTelemetry metrics'),
  REPRICE_BATCH_ROWS: positiveInt
    .max(10_000, 'must be at most 10000')
    .default(1000)
    .describe('usage rows per /admin/reprice batch: one short transaction each (rows)'),
  CATALOG_MAX_MODELS: positiveInt
    .default(5000)
    .describe('models a price catalog may list; a longer one changes nothing (models)'),
  CATALOG_MAX_PROVIDERS_PER_MODEL: positiveInt
    .default(64)
    .describe('providers read per catalog model; a model listing more is left unchanged (providers)'),
  CATALOG_MAX_BYTES: positiveInt
    .default(8 * 1024 * 1024)
    .describe('largest price catalog read; a larger one changes nothing (bytes)'),
  CATALOG_MAX_PRICE_PER_MILLION: z
    .string()
    .trim()
    .regex(/^\d{1,12}(\.\d{1,12})?$/, 'must be a non-negative decimal number')
    .default('1000')
    .describe(
      'highest catalog price accepted, input or output; a higher one skips its entry (USD per million tokens)',
    ),
  CATALOG_MAX_RETIRE_SHARE: z.coerce
    .number()
    .min(0, 'must be between 0 and 1')
    .max(1, 'must be between 0 and 1')
    .default(0.5)
    .describe('largest share of the stored catalog prices one sync may retire without --allow-retire (0-1)'),
  ADMIN_AUTH_FAILURES_PER_MINUTE: positiveInt
    .default(5)
    .describe(
      'wrong admin keys a client address may send per minute before /admin and /usage answer 429 (attempts)',
    ),
  // issue 24: more upstreams (DESIGN §12); parsed by upstreamsOf() and config-upstreams.ts
  UPSTREAMS: z
    .string()
    .optional()
    .describe('more upstreams than the HuggingFace router: a JSON array of descriptors (docs/upstreams.md)'),
  UPSTREAMS_FILE: z
    .string()
    .trim()
    .optional()
    .describe('a path to a file holding the same JSON array as UPSTREAMS (one of the two, not both)'),
  USAGE_RETENTION_MONTHS: positiveInt
    .optional()
    .describe(
      'whole UTC months of usage rows kept before the current one, in months (unset: all); older months are archived to DATA_DIR/archive, then dropped',
    ),
  STRIPE_WEBHOOK_SECRET: z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .optional()
    .describe(
      "Stripe's webhook signing secret (whsec_…): verifies POST /webhooks/stripe; unset: no such route",
    ),
});

/**
 * UPSTREAMS (or the file UPSTREAMS_FILE names) → validated upstreams (config-upstreams.ts); pushes one
 * line per problem. Each token is read here, from the variable its descriptor's token_env names.
 */
function upstreamsOf(env: Env, inline: string | undefined, file: string | undefined, problems: string[]) {
  if (inline !== undefined && file !== undefined) {
    problems.push('UPSTREAMS_FILE: set UPSTREAMS or UPSTREAMS_FILE, not both');
    return [];
  }
  let text = inline;
  if (file !== undefined) {
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      problems.push(`UPSTREAMS_FILE: cannot be read (${code}: ${file})`);
      return [];
    }
  }
  if (text === undefined) return [];
  return parseUpstreams({
    text,
    label: file === undefined ? 'UPSTREAMS' : 'UPSTREAMS_FILE',
    tokenOf: (name) => env[name]?.trim() || undefined,
    problems,
  });
}

export type Config = {
  port: number;
  host: string;
  /** unset → PGlite in dataDir */
  databaseUrl: string | undefined;
  dataDir: string;
  hfToken: string | undefined;
  upstreamBaseUrl: string;
  defaultModel: string;
  /** USD per token, decimal strings */
  inputTokenCost: string;
  outputTokenCost: string;
  /** USD per cached input token; unset: the input price */
  cachedInputTokenCost: string | undefined;
  /** seconds between reads of the router's price catalog; 0: never (only `npm run pricing:sync`) */
  pricingSyncIntervalS: number;
  adminApiKey: string | undefined;
  upstreamTimeoutMs: number;
  maxBodyBytes: number;
  shutdownGraceMs: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  /** budgets and rate limits while the database cannot answer: admit (open) or refuse (closed) */
  limitsFailMode: 'open' | 'closed';
  /** completion tokens per choice a request without max_tokens is assumed to use, for budgets and TPM;
   * also the least a budget reservation holds per choice while other requests of the key are in flight */
  budgetDefaultMaxTokens: number;
  /** /metrics behind the admin key (default: open, like /healthz) */
  metricsRequireAdmin: boolean;
  /** largest upstream reply (a non-streamed body, or one stream event) held in memory */
  maxUpstreamBodyBytes: number;
  /** longest wait for a free upstream connection when all are busy, then 503 */
  upstreamQueueTimeoutMs: number;
  /** origins allowed to call the client routes from a browser: '*', a list, or undefined (no CORS) */
  corsOrigins: '*' | string[] | undefined;
  /** a cached client key is re-read after this long (bounds a revocation whose NOTIFY was lost) */
  keyCacheTtlMs: number;
  /** the deadline of each query on the request path (key lookups, limits), enforced by the gateway */
  databaseTimeoutMs: number;
  /** PostgreSQL statement_timeout of the gateway's pool; admin reads answer 503 past it */
  databaseStatementTimeoutMs: number;
  /**
   * a TLS-terminating proxy stands in front: believe its x-forwarded-proto (the dashboard cookie gets
   * Secure) and x-forwarded-for (sign-in attempts are counted per client, not per proxy)
   */
  trustProxy: boolean;
  /** upstreams besides the HuggingFace router, in routing order (UPSTREAMS / UPSTREAMS_FILE) */
  upstreams: UpstreamConfig[];
  /** whole UTC months of usage rows kept before the current one; older ones are archived and dropped. unset: keep all */
  usageRetentionMonths: number | undefined;
  /** budget alerts: where they are POSTed (unset: raised and listed, never sent) and how */
  alerts: {
    webhookUrl: string | undefined;
    /** signs each body (HMAC-SHA256); never logged */
    webhookSecret: string | undefined;
    /** tries per alert before it is marked failed */
    maxAttempts: number;
    /** wait after the first failed try, doubled after each further one, capped at backoffMaxMs */
    backoffBaseMs: number;
    backoffMaxMs: number;
    /** one try: connecting, the receiver's headers and its body */
    timeoutMs: number;
    /** how often due alerts are looked for (a NOTIFY from the alert trigger wakes the deliverer sooner) */
    pollMs: number;
  };
  /** OTLP export of spans and metrics; undefined: off (no OpenTelemetry module is loaded) */
  telemetry: TelemetryConfig | undefined;
  /** rows per /admin/reprice batch */
  repriceBatchRows: number;
  /** what a price catalog may hold (see docs/pricing-safety.md) */
  catalogBounds: CatalogBounds;
  /** largest share of stored catalog prices one sync may retire unless an admin allows it */
  catalogMaxRetireShare: number;
  /** wrong admin keys per client address per minute, shared with the dashboard's sign-in */
  adminAuthFailuresPerMinute: number;
  /** verifies Stripe's signature on POST /webhooks/stripe (top-ups); unset: the route is not mounted */
  stripeWebhookSecret: string | undefined;
};

export type TelemetryConfig = {
  /** base URL; the signal paths (/v1/traces, /v1/metrics) are appended */
  endpoint: string;
  protocol: 'http/protobuf' | 'http/json';
  /** sent with every export; may hold a collector's token: never logged */
  headers: Record<string, string>;
  serviceName: string;
  metricExportIntervalMs: number;
  sampler: TraceSampler;
  /** the ratio of the *traceidratio samplers */
  samplerArg: number;
};

export type TraceSampler =
  | 'always_on'
  | 'always_off'
  | 'traceidratio'
  | 'parentbased_always_on'
  | 'parentbased_always_off'
  | 'parentbased_traceidratio';

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

type Env = Record<string, string | undefined>;

/** Reads `.env` (if present) under the real environment: a variable already set wins, as with dotenv. */
export function readEnvironment({ dotenvPath = '.env' }: { dotenvPath?: string } = {}): Env {
  let fromFile: Env = {};
  try {
    fromFile = parseDotenv(readFileSync(dotenvPath));
  } catch {
    // no .env: the environment alone
  }
  return { ...fromFile, ...process.env };
}

/** Validates the environment; throws ConfigError with one line per bad variable. */
export function loadConfig(env: Env = readEnvironment()): Config {
  // '' (or only spaces) means unset, as in a .env line `HF_TOKEN=`; z.coerce would read ' ' as 0
  const cleaned = Object.fromEntries(
    Object.keys(configSchema.shape).map((key) => [key, env[key]?.trim() === '' ? undefined : env[key]]),
  );
  const parsed = configSchema.safeParse(cleaned);
  const problems = parsed.success
    ? []
    : parsed.error.issues.map(
        (issue) => `${String(issue.path[0])}: ${issue.message} (got ${show(issue.path[0], cleaned)})`,
      );
  const upstreams = upstreamsOf(
    env,
    cleaned.UPSTREAMS,
    cleaned.UPSTREAMS_FILE === undefined ? undefined : String(cleaned.UPSTREAMS_FILE).trim(),
    problems,
  );
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  const e = parsed.data;
  return {
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    dataDir: e.DATA_DIR,
    hfToken: e.HF_TOKEN,
    upstreamBaseUrl: e.UPSTREAM_BASE_URL,
    defaultModel: e.DEFAULT_MODEL,
    inputTokenCost: e.HUGGINGFACE_INPUT_TOKEN_COST,
    outputTokenCost: e.HUGGINGFACE_OUTPUT_TOKEN_COST,
    cachedInputTokenCost: e.HUGGINGFACE_CACHED_INPUT_TOKEN_COST,
    pricingSyncIntervalS: e.PRICING_SYNC_INTERVAL_S,
    adminApiKey: e.ADMIN_API_KEY,
    upstreamTimeoutMs: e.UPSTREAM_TIMEOUT_MS,
    maxBodyBytes: e.MAX_BODY_BYTES,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    logLevel: e.LOG_LEVEL,
    limitsFailMode: e.LIMITS_FAIL_MODE,
    budgetDefaultMaxTokens: e.BUDGET_DEFAULT_MAX_TOKENS,
    metricsRequireAdmin: e.METRICS_REQUIRE_ADMIN === 'true',
    maxUpstreamBodyBytes: e.MAX_UPSTREAM_BODY_BYTES,
    upstreamQueueTimeoutMs: e.UPSTREAM_QUEUE_TIMEOUT_MS,
    corsOrigins:
      e.CORS_ORIGINS === undefined || e.CORS_ORIGINS === '*'
        ? e.CORS_ORIGINS
        : e.CORS_ORIGINS.split(',').map((origin) => origin.trim()),
    keyCacheTtlMs: e.KEY_CACHE_TTL_MS,
    databaseTimeoutMs: e.DATABASE_TIMEOUT_MS,
    databaseStatementTimeoutMs: e.DATABASE_STATEMENT_TIMEOUT_MS,
    trustProxy: e.TRUST_PROXY === 'true',
    upstreams,
    usageRetentionMonths: e.USAGE_RETENTION_MONTHS,
    alerts: {
      webhookUrl: e.ALERT_WEBHOOK_URL,
      webhookSecret: e.ALERT_WEBHOOK_SECRET,
      maxAttempts: e.ALERT_MAX_ATTEMPTS,
      backoffBaseMs: e.ALERT_BACKOFF_BASE_MS,
      backoffMaxMs: e.ALERT_BACKOFF_MAX_MS,
      timeoutMs: e.ALERT_TIMEOUT_MS,
      pollMs: e.ALERT_POLL_MS,
    },
    telemetry:
      e.OTEL_EXPORTER_OTLP_ENDPOINT === undefined
        ? undefined
        : {
            endpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT,
            protocol: e.OTEL_EXPORTER_OTLP_PROTOCOL,
            headers: parseHeaders(e.OTEL_EXPORTER_OTLP_HEADERS),
            serviceName: e.OTEL_SERVICE_NAME,
            metricExportIntervalMs: e.OTEL_METRIC_EXPORT_INTERVAL,
            sampler: e.OTEL_TRACES_SAMPLER,
            samplerArg: e.OTEL_TRACES_SAMPLER_ARG,
          },
    repriceBatchRows: e.REPRICE_BATCH_ROWS,
    catalogBounds: {
      maxModels: e.CATALOG_MAX_MODELS,
      maxProvidersPerModel: e.CATALOG_MAX_PROVIDERS_PER_MODEL,
      maxBytes: e.CATALOG_MAX_BYTES,
      maxPricePerMillion: e.CATALOG_MAX_PRICE_PER_MILLION,
    },
    catalogMaxRetireShare: e.CATALOG_MAX_RETIRE_SHARE,
    adminAuthFailuresPerMinute: e.ADMIN_AUTH_FAILURES_PER_MINUTE,
    stripeWebhookSecret: e.STRIPE_WEBHOOK_SECRET,
  };
}

// a Slack or Teams webhook URL is itself a credential
const SECRET = new Set([
  'HF_TOKEN',
  'ADMIN_API_KEY',
  'DATABASE_URL',
  'ALERT_WEBHOOK_URL',
  'ALERT_WEBHOOK_SECRET',
  'OTEL_EXPORTER_OTLP_HEADERS',
  'STRIPE_WEBHOOK_SECRET',
]);

function decodable(value: string): boolean {
  try {
    decodeURIComponent(value);
    return true;
  } catch {
    return false;
  }
}

/** OTEL_EXPORTER_OTLP_HEADERS as the spec writes it: name=value pairs, values percent-encoded. */
function parseHeaders(value: string | undefined): Record<string, string> {
  if (value === undefined) return {};
  const headers: Record<string, string> = {};
  for (const pair of value.split(',')) {
    const at = pair.indexOf('=');
    headers[pair.slice(0, at).trim()] = decodeURIComponent(pair.slice(at + 1).trim());
  }
  return headers;
}

/** The offending value for the error line; secrets are never echoed. */
function show(key: PropertyKey | undefined, env: Record<string, unknown>): string {
  const name = String(key);
  if (SECRET.has(name)) return '[redacted]';
  const value = env[name];
  return value === undefined ? 'nothing' : JSON.stringify(value);
}
