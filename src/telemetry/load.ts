// Loads the OpenTelemetry implementation on demand: with OTEL_EXPORTER_OTLP_ENDPOINT unset this module
// is never called and no OpenTelemetry SDK module is imported (start time and memory stay as they were).
import type { TelemetryConfig } from '../config-telemetry.ts';
import type { Telemetry } from './types.ts';

export type TelemetryOptions = {
  /** the provider of the upstream a model routes to: gen_ai.provider.name of a call refused before any row */
  providerOf: (model: string) => string;
  /** DEFAULT_MODEL: a metric's model attribute names it even when priced from the env */
  defaultModel: string;
};

export async function loadTelemetry(config: TelemetryConfig, options: TelemetryOptions): Promise<Telemetry> {
  const { createOtelTelemetry } = await import('./otel.ts');
  return createOtelTelemetry(config, options);
}
