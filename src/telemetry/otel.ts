// The OpenTelemetry SDK, set up from config: a tracer provider and a meter provider exporting over
// OTLP/HTTP (protobuf or JSON). Loaded only through load.ts; the SDK packages are imported dynamically
// too, so the production bundle keeps them as separate, unloaded files (scripts/bundle.mjs).
import type { Sampler } from '@opentelemetry/sdk-trace';
import type { TelemetryConfig } from '../config-telemetry.ts';
import { DURATION_BUCKETS, METRICS, TOKEN_BUCKETS } from './attributes.ts';
import { createCalls } from './calls.ts';
import type { TelemetryOptions } from './load.ts';
import type { Telemetry } from './types.ts';

const SCOPE = 'tollgate';
/** longest a span attribute's string may be: a model name is client text */
const MAX_ATTRIBUTE_CHARS = 1024;
/** how long closing waits for the last export */
const SHUTDOWN_EXPORT_MS = 5000;

export async function createOtelTelemetry(
  config: TelemetryConfig,
  { providerOf, defaultModel }: TelemetryOptions,
): Promise<Telemetry> {
  const json = config.protocol === 'http/json';
  const [api, core, resources, semconv, sdkTrace, sdkMetrics, traceExporter, metricExporter] =
    await Promise.all([
      import('@opentelemetry/api'),
      import('@opentelemetry/core'),
      import('@opentelemetry/resources'),
      import('@opentelemetry/semantic-conventions'),
      import('@opentelemetry/sdk-trace'),
      import('@opentelemetry/sdk-metrics'),
      json
        ? import('@opentelemetry/exporter-trace-otlp-http')
        : import('@opentelemetry/exporter-trace-otlp-proto'),
      json
        ? import('@opentelemetry/exporter-metrics-otlp-http')
        : import('@opentelemetry/exporter-metrics-otlp-proto'),
    ]);

  const resource = resources.resourceFromAttributes({ [semconv.ATTR_SERVICE_NAME]: config.serviceName });
  const headers = { ...config.headers };
  const tracerProvider = new sdkTrace.TracerProvider({
    resource,
    sampler: samplerOf(sdkTrace, config),
    spanLimits: { attributeValueLengthLimit: MAX_ATTRIBUTE_CHARS },
    spanProcessors: [
      new sdkTrace.BatchSpanProcessor({
        exporter: new traceExporter.OTLPTraceExporter({ url: `${config.endpoint}/v1/traces`, headers }),
      }),
    ],
  });
  const meterProvider = new sdkMetrics.MeterProvider({
    resource,
    readers: [
      new sdkMetrics.PeriodicExportingMetricReader({
        exporter: new metricExporter.OTLPMetricExporter({ url: `${config.endpoint}/v1/metrics`, headers }),
        exportIntervalMillis: config.metricExportIntervalMs,
        exportTimeoutMillis: Math.min(30_000, config.metricExportIntervalMs),
      }),
    ],
  });

  const meter = meterProvider.getMeter(SCOPE);
  const calls = createCalls({
    // the providers are used directly, never registered globally: nothing else in the process is traced
    tracer: tracerProvider.getTracer(SCOPE),
    propagator: new core.W3CTraceContextPropagator(),
    instruments: {
      tokenUsage: meter.createHistogram(METRICS.tokenUsage, {
        description: 'Tokens per metered call, by gen_ai.token.type (input, output)',
        unit: '{token}',
        valueType: api.ValueType.INT,
        advice: { explicitBucketBoundaries: TOKEN_BUCKETS },
      }),
      duration: meter.createHistogram(METRICS.duration, {
        description: 'Duration of a metered call, from its arrival to its end (a stream: its row)',
        unit: 's',
        advice: { explicitBucketBoundaries: DURATION_BUCKETS },
      }),
      cost: meter.createCounter(METRICS.cost, {
        description: 'USD metered (the exact decimal is on each span as gen_ai.usage.cost)',
        unit: 'USD',
      }),
    },
    providerOf,
    defaultModel,
  });

  return {
    startCall: calls.startCall,
    metered: calls.metered,
    async forceFlush() {
      await Promise.all([tracerProvider.forceFlush(), meterProvider.forceFlush()]);
    },
    async shutdown() {
      calls.endAll('shutdown');
      // an unreachable collector must not hold the process past its shutdown: export what it can, then go
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, SHUTDOWN_EXPORT_MS).unref();
      });
      await Promise.race([
        Promise.allSettled([tracerProvider.shutdown(), meterProvider.shutdown()]),
        deadline,
      ]);
      clearTimeout(timer);
    },
  };
}

type SdkTrace = typeof import('@opentelemetry/sdk-trace');

/** OTEL_TRACES_SAMPLER as the specification names them. */
function samplerOf(sdk: SdkTrace, { sampler, samplerArg }: TelemetryConfig): Sampler {
  const ratio = new sdk.TraceIdRatioBasedSampler(samplerArg);
  switch (sampler) {
    case 'always_on':
      return new sdk.AlwaysOnSampler();
    case 'always_off':
      return new sdk.AlwaysOffSampler();
    case 'traceidratio':
      return ratio;
    case 'parentbased_always_off':
      return new sdk.ParentBasedSampler({ root: new sdk.AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new sdk.ParentBasedSampler({ root: ratio });
    default:
      return new sdk.ParentBasedSampler({ root: new sdk.AlwaysOnSampler() });
  }
}
