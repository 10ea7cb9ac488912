// How a stream ends in error on the wire: an OpenAI-shaped error event of the gateway's own, or the
// upstream's `event: error` passed on as it came when it is in OpenAI's (or the Responses API's) shape.
import { isObject } from '../../endpoints/adapter.ts';
import { fromUpstream, GatewayError, upstreamMessage } from '../../errors.ts';

const encoder = new TextEncoder();

/** A failed stream: the error to meter and tell, and whether the upstream's own event is passed on. */
export type StreamFailure = { kind: 'failed'; error: GatewayError; passThrough: boolean };

/** An SSE error event in OpenAI's envelope, for endings the upstream did not make itself. */
export function errorEvent(error: GatewayError): Uint8Array {
  return encoder.encode(`event: error\ndata: ${JSON.stringify(error.toBody())}\n\n`);
}

/** An upstream `event: error`: passed on as is when it is in OpenAI's shape, else wrapped in ours. */
export function upstreamErrorEvent(parsed: unknown, data: string): StreamFailure {
  const inner = isObject(parsed) && isObject(parsed.error) ? parsed.error : parsed;
  const message = upstreamMessage(parsed);
  const shaped =
    isObject(inner) &&
    typeof inner.message === 'string' &&
    isObject(parsed) &&
    (isObject(parsed.error) || parsed.type === 'error');
  if (message !== undefined && shaped) {
    const code = isObject(inner) ? inner.status_code : undefined;
    const status = typeof code === 'number' && code >= 400 && code <= 599 ? code : 502;
    return {
      kind: 'failed',
      error: fromUpstream(status >= 500 ? 502 : status, encoder.encode(data)),
      passThrough: true,
    };
  }
  const error = new GatewayError(502, `The upstream stream failed: ${data.slice(0, 1000) || 'no detail'}`, {
    type: 'upstream_error',
    code: 'upstream_stream_error',
  });
  return { kind: 'failed', error, passThrough: false };
}

/**
 * The stream's row could not be recorded (the database refused it and the spool failed): the client has
 * had the text, but not the terminal event; this ends the stream in its place.
 */
export function usageNotRecorded(cause: unknown): GatewayError {
  return new GatewayError(
    503,
    'The gateway could not record usage for this stream, so it ends here without its final event.',
    { type: 'api_error', code: 'usage_not_recorded', cause },
  );
}
