// Prometheus metrics (prom-client), one registry per gateway. Cost is summed exactly (bigint USD·10^18)
// and exported as USD at scrape time, so the exported counter never accumulates float error. Labels
// never carry client text: a model is named only when the price book names it (modelLabel).
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { add, type Decimal, parseDecimal, ZERO } from './billing/money.ts';
import { type PricingSource, shortModelName, UNPRICED_SOURCES } from './billing/pricing.ts';
import type { UsageLogInsert } from './db/schema.ts';
import type { RecorderStats } from './ledger/recorder.ts';
import { REFUSAL_REASONS, type RefusalReason } from './services/admission/refusals.ts';

export type Metrics = {
  registry: Registry;
  /** one HTTP request answered (any route) */
  request(
    labels: { route: string; method: string; status: number },
    seconds: number,
    upstreamSeconds?: number,
  ): void;
  /** one metered chat completion */
  usage(row: UsageLogInsert): void;
  /** one budget-alert delivery try by this process, by what it came to */
  alert(state: AlertOutcome): void;
  /** one request refused at admission by this process (it writes no usage row) */
  refusal(reason: RefusalReason): void;
};

/** delivered (a 2xx), retried (failed, another try scheduled), failed (given up) */
export type AlertOutcome = 'delivered' | 'retried' | 'failed';

const SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** The label of every model the price book does not name. */
export const OTHER_MODEL = 'other';

/**
 * A usage row's model as a label, from how it was priced: a name the price book holds (exact, or the
 * short name it matched), or the configured default model priced from the env; any other name is
 * client text (priced by a `default` row, the env fallback or the built-in price) and is `other`.
 * So the label set is bounded by the price book, which only admins and the config write.
 */
export function modelLabel(
  row: Pick<UsageLogInsert, 'model' | 'pricingSource'>,
  defaultModel: string,
): string {
  switch (row.pricingSource) {
    case 'db:exact':
      return row.model;
    case 'db:short':
      return shortModelName(row.model);
    case 'env':
      return row.model === defaultModel ? row.model : OTHER_MODEL;
    default:
      return OTHER_MODEL;
  }
}

export function createMetrics({
  recorderStats,
  defaultModel,
}: {
  recorderStats: () => RecorderStats;
  /** DEFAULT_MODEL: labelled by name even when priced from the env */
  defaultModel: string;
}): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tollgate_process_' });

  const requests = new Counter({
    name: 'tollgate_http_requests_total',
    help: 'HTTP requests answered, by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [registry],
  });
  const overhead = new Histogram({
    name: 'tollgate_gateway_overhead_seconds',
    help: 'Time spent in the gateway itself (total minus upstream), per request',
    labelNames: ['route'] as const,
    buckets: SECONDS,
    registers: [registry],
  });
  const upstreamLatency = new Histogram({
    name: 'tollgate_upstream_seconds',
    help: 'Time waiting on the upstream until its response headers',
    buckets: SECONDS,
    registers: [registry],
  });
  const completions = new Counter({
    name: 'tollgate_completions_total',
    help: 'Metered chat completions, by model, status and whether streamed',
    labelNames: ['model', 'status', 'stream'] as const,
    registers: [registry],
  });
  const tokens = new Counter({
    name: 'tollgate_tokens_total',
    help: 'Tokens metered, by model and kind (prompt, completion)',
    labelNames: ['model', 'kind'] as const,
    registers: [registry],
  });
  const unpriced = new Counter({
    name: 'tollgate_unpriced_requests_total',
    help: 'Requests priced by a guess (the env fallback for a model other than the default, or the built-in price), by source',
    labelNames: ['source'] as const,
    registers: [registry],
  });
  const aborted = new Counter({
    name: 'tollgate_streams_aborted_total',
    help: 'Streams the client abandoned before the end',
    registers: [registry],
  });

  const alerts = new Counter({
    name: 'tollgate_alerts_total',
    help: 'Budget-alert delivery tries by this process, by outcome: delivered, retried, failed (given up)',
    labelNames: ['state'] as const,
    registers: [registry],
  });
  // every state present from the start: a scraper sees 0, not a missing series, before the first try
  for (const state of ['delivered', 'retried', 'failed'] as const) alerts.inc({ state }, 0);

  const refusals = new Counter({
    name: 'tollgate_refusals_total',
    help: 'Requests refused at admission by this process, by reason: budget, credits, rpm, tpm, concurrency',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  for (const reason of REFUSAL_REASONS) refusals.inc({ reason }, 0);

  // keyed by modelLabel, so bounded like the label set
  const costByModel = new Map<string, Decimal>();
  new Counter({
    name: 'tollgate_cost_usd_total',
    help: 'Cost metered in USD, by model (summed exactly, converted to a float only when scraped)',
    labelNames: ['model'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [model, total] of costByModel) this.inc({ model }, Number(total) / 1e18);
    },
  });

  const ledger = (name: string, help: string, pick: (s: RecorderStats) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(pick(recorderStats()));
      },
    });
  ledger(
    'tollgate_usage_rows_committed',
    'Usage rows committed to the database by this process',
    (s) => s.committed,
  );
  ledger(
    'tollgate_usage_inserts',
    'INSERT statements that committed those rows (rows ÷ inserts: the group commit batch size)',
    (s) => s.inserts,
  );
  ledger('tollgate_usage_rows_spooled', 'Usage rows written to the spool by this process', (s) => s.spooled);
  ledger(
    'tollgate_usage_spool_depth',
    'Usage rows waiting in the spool for the database',
    (s) => s.spoolDepth,
  );
  ledger(
    'tollgate_usage_rows_refused',
    'Usage rows the database refused as bad data: answered 503 live, or kept in the dead-letter file at replay',
    (s) => s.refused,
  );

  return {
    registry,
    request({ route, method, status }, seconds, upstreamSeconds) {
      requests.inc({ route, method, status: String(status) });
      overhead.observe({ route }, Math.max(0, seconds - (upstreamSeconds ?? 0)));
      if (upstreamSeconds !== undefined) upstreamLatency.observe(upstreamSeconds);
    },
    usage(row) {
      const model = modelLabel(row, defaultModel);
      completions.inc({ model, status: row.status, stream: String(row.stream) });
      tokens.inc({ model, kind: 'prompt' }, row.promptTokens ?? 0);
      tokens.inc({ model, kind: 'completion' }, row.completionTokens ?? 0);
      if (row.status === 'client_aborted' && row.stream) aborted.inc();
      if (UNPRICED_SOURCES.has(row.pricingSource as PricingSource))
        unpriced.inc({ source: row.pricingSource });
      costByModel.set(model, add(costByModel.get(model) ?? ZERO, parseDecimal(row.costTotal)));
    },
    alert(state) {
      alerts.inc({ state });
    },
    refusal(reason) {
      refusals.inc({ reason });
    },
  };
}
