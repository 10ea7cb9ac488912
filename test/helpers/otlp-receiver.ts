// A real OTLP/HTTP receiver on a local port, for the telemetry tests: it takes what the gateway's
// OpenTelemetry exporters POST (OTEL_EXPORTER_OTLP_PROTOCOL=http/json) to /v1/traces and /v1/metrics
// and answers 200 as a collector does. Spans and metric points are flattened for assertions.
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

type AnyValue = {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
};
type KeyValue = { key: string; value: AnyValue };

export type ReceivedSpan = {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  kind: number;
  status: { code?: number };
  attributes: Record<string, string | number | boolean | undefined>;
  resource: Record<string, string | number | boolean | undefined>;
};

export type ReceivedPoint = {
  metric: string;
  unit: string;
  attributes: Record<string, string | number | boolean | undefined>;
  /** a sum's value, or a histogram's sum */
  value: number;
  count?: number;
};

export type OtlpReceiver = {
  /** base URL for OTEL_EXPORTER_OTLP_ENDPOINT */
  url: string;
  spans: ReceivedSpan[];
  points: ReceivedPoint[];
  /** every request's path and content-type, in order */
  posts: Array<{ path: string; contentType: string | undefined; body: string }>;
  close(): Promise<void>;
};

function anyValue(value: AnyValue): string | number | boolean | undefined {
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  return value.boolValue;
}

function attributesOf(list: KeyValue[] | undefined): Record<string, string | number | boolean | undefined> {
  return Object.fromEntries((list ?? []).map(({ key, value }) => [key, anyValue(value)]));
}

type TracesBody = {
  resourceSpans?: Array<{
    resource?: { attributes?: KeyValue[] };
    scopeSpans?: Array<{
      spans?: Array<Omit<ReceivedSpan, 'attributes' | 'resource'> & { attributes?: KeyValue[] }>;
    }>;
  }>;
};
type DataPoint = {
  attributes?: KeyValue[];
  asInt?: string | number;
  asDouble?: number;
  sum?: number;
  count?: string | number;
};
type MetricsBody = {
  resourceMetrics?: Array<{
    scopeMetrics?: Array<{
      metrics?: Array<{
        name: string;
        unit?: string;
        sum?: { dataPoints?: DataPoint[] };
        histogram?: { dataPoints?: DataPoint[] };
      }>;
    }>;
  }>;
};

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const points: ReceivedPoint[] = [];
  const posts: OtlpReceiver['posts'] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const body = raw.toString('utf8');
    posts.push({ path: req.url ?? '', contentType: req.headers['content-type'], body });
    const isJson = req.headers['content-type']?.startsWith('application/json') === true;
    if (!isJson) {
      // http/protobuf: kept as received (posts), not decoded
    } else if (req.url === '/v1/traces') {
      for (const rs of (JSON.parse(body) as TracesBody).resourceSpans ?? [])
        for (const ss of rs.scopeSpans ?? [])
          for (const span of ss.spans ?? [])
            spans.push({
              ...span,
              attributes: attributesOf(span.attributes),
              resource: attributesOf(rs.resource?.attributes),
            });
    } else if (req.url === '/v1/metrics') {
      for (const rm of (JSON.parse(body) as MetricsBody).resourceMetrics ?? [])
        for (const sm of rm.scopeMetrics ?? [])
          for (const metric of sm.metrics ?? []) {
            for (const point of metric.sum?.dataPoints ?? [])
              points.push({
                metric: metric.name,
                unit: metric.unit ?? '',
                attributes: attributesOf(point.attributes),
                value: point.asDouble ?? Number(point.asInt ?? 0),
              });
            for (const point of metric.histogram?.dataPoints ?? [])
              points.push({
                metric: metric.name,
                unit: metric.unit ?? '',
                attributes: attributesOf(point.attributes),
                value: point.sum ?? 0,
                count: Number(point.count ?? 0),
              });
          }
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    points,
    posts,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
