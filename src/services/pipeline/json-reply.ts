// A non-streamed call: forward the client's bytes, read the whole reply (bounded), take its usage,
// commit the row, and only then hand the upstream's bytes back unchanged.

import { isObject } from '../../endpoints/adapter.ts';
import { badGateway, fromUpstream } from '../../errors.ts';
import { billedUsage } from '../../metering/usage.ts';
import type { UpstreamClient, UpstreamResponse } from '../../upstream/client.ts';
import { elapsedMs } from './call.ts';
import type { CallRecord } from './call-record.ts';
import { estimateTokens } from './meter.ts';
import { upstreamFailure } from './outcome.ts';

export type JsonReply = {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array;
  /** the exact cost of the call, USD */
  costUsd: string;
  /** ms spent waiting on the upstream */
  upstreamMs: number;
};

export async function completeJson(upstream: UpstreamClient, record: CallRecord): Promise<JsonReply> {
  const { call } = record;
  let response: UpstreamResponse | undefined;
  let ttftMs: number | undefined;
  let body: Uint8Array;
  try {
    response = await upstream.send({
      path: call.adapter.path,
      model: call.body.model,
      body: call.raw,
      signal: call.signal,
      stream: false,
    });
    ttftMs = elapsedMs(call);
    body = await upstream.readAll(response, call.signal);
    if (response.status < 200 || response.status >= 300)
      throw fromUpstream(response.status, body, response.headers);
  } catch (err) {
    const failure = upstreamFailure(err);
    const aborted = failure.status === 'client_aborted';
    await record.meter({
      status: failure.status,
      httpStatus: failure.httpStatus,
      // a client that left may still have cost the prompt; a failed request cost nothing
      tokens: aborted ? await estimateTokens(call, '') : { source: 'none' },
      servedBy: response?.servedBy,
      ttftMs,
      upstreamRequestId: response?.headers['x-upstream-request-id'],
      error: failure.error.message,
    });
    throw failure.error;
  }
  const upstreamMs = elapsedMs(call);
  const reply = parseReply(body);
  const base = {
    servedBy: response.servedBy,
    ttftMs,
    upstreamRequestId: response.headers['x-upstream-request-id'] ?? stringField(reply, 'id'),
    upstreamModel: stringField(reply, 'model'),
  };
  if (!isObject(reply)) {
    const what = reply === undefined ? 'is not JSON' : 'is not a JSON object';
    const error = badGateway(`The upstream answered ${response.status} with a body that ${what}.`);
    await record.meter({
      ...base,
      status: 'upstream_error',
      httpStatus: 502,
      tokens: { source: 'none' },
      error: error.message,
    });
    throw error;
  }
  // an all-zero usage counts nothing a real call costs: the reply is estimated as if it had none
  const usage = billedUsage(call.adapter.usageOfReply(reply));
  const costUsd = await record.meter({
    ...base,
    status: 'ok',
    httpStatus: response.status,
    tokens: usage
      ? { source: 'upstream', usage }
      : await estimateTokens(call, call.adapter.textOfReply(reply)),
  });
  // the response's header object is this call's own (made by the client for it)
  response.headers['content-type'] = 'application/json';
  return {
    status: response.status,
    headers: response.headers,
    body,
    costUsd,
    upstreamMs,
  };
}

function parseReply(body: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch {
    return undefined;
  }
}

function stringField(reply: unknown, name: string): string | undefined {
  const value = isObject(reply) ? reply[name] : undefined;
  return typeof value === 'string' ? value : undefined;
}
