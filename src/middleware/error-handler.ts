// One renderer for every error: OpenAI's envelope, the right status, the request id; nothing internal.
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { databaseUnavailable, isDatabaseUnavailable } from '../db/deadline.ts';
import { toGatewayError } from '../errors.ts';
import type { AppEnv } from './context.ts';

export type ErrorLogger = (message: string, fields: Record<string, unknown>) => void;

export function renderError(err: unknown, c: Context<AppEnv>, log: ErrorLogger = () => {}): Response {
  // a database that cannot answer is a 503 the client may retry, wherever it surfaced
  const error = isDatabaseUnavailable(err) ? databaseUnavailable(err) : toGatewayError(err);
  if (error.status >= 500) {
    log('request failed', {
      request_id: c.get('requestId'),
      status: error.status,
      err: error.cause ?? error,
    });
  }
  for (const [name, value] of Object.entries(error.headers)) c.header(name, value);
  if (error.body) {
    c.header('content-type', 'application/json');
    return c.body(error.body as Uint8Array<ArrayBuffer>, error.status as ContentfulStatusCode);
  }
  return c.json(error.toBody(), error.status as ContentfulStatusCode);
}
