// Telemetry's part of the configuration: the OTEL_* variables, their parsed form and the OTLP headers.
// config.ts reads these (also from .env) and hands them to src/telemetry explicitly. The OpenTelemetry
// exporters themselves also read the other standard OTEL_EXPORTER_OTLP_* variables (…_TIMEOUT,
// …_COMPRESSION, the per-signal …_TRACES_* / …_METRICS_*) from the process environment: that is the
// SDK's own contract, not a second reader of ours.
import { z } from 'zod';
import { positiveInt, url } from './config-fields.ts';

/** The OTEL_* fields of the config schema (config-schema.ts spreads them in, in this order). */
export const telemetryEnv = {
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
};

type TelemetryEnv = z.output<z.ZodObject<typeof telemetryEnv>>;

export type TraceSampler = TelemetryEnv['OTEL_TRACES_SAMPLER'];

export type TelemetryConfig = {
  /** base URL; the signal paths (/v1/traces, /v1/metrics) are appended */
  endpoint: string;
  protocol: TelemetryEnv['OTEL_EXPORTER_OTLP_PROTOCOL'];
  /** sent with every export; may hold a collector's token: never logged */
  headers: Record<string, string>;
  serviceName: string;
  metricExportIntervalMs: number;
  sampler: TraceSampler;
  /** the ratio of the *traceidratio samplers */
  samplerArg: number;
};

/** The parsed OTEL_* variables → the telemetry settings; undefined (off) without an endpoint. */
export function telemetryOf(e: TelemetryEnv): TelemetryConfig | undefined {
  if (e.OTEL_EXPORTER_OTLP_ENDPOINT === undefined) return undefined;
  return {
    endpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT,
    protocol: e.OTEL_EXPORTER_OTLP_PROTOCOL,
    headers: parseHeaders(e.OTEL_EXPORTER_OTLP_HEADERS),
    serviceName: e.OTEL_SERVICE_NAME,
    metricExportIntervalMs: e.OTEL_METRIC_EXPORT_INTERVAL,
    sampler: e.OTEL_TRACES_SAMPLER,
    samplerArg: e.OTEL_TRACES_SAMPLER_ARG,
  };
}

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
