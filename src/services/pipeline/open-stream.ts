// Opens a streamed call: the request goes upstream with the adapter's stream body; an answer that is
// not a 2xx stream is metered and thrown, else a StreamRelay carries the stream to the client.
import { fromUpstream } from '../../errors.ts';
import type { UpstreamClient, UpstreamResponse } from '../../upstream/client.ts';
import { elapsedMs } from './call.ts';
import type { CallRecord } from './call-record.ts';
import { estimateTokens } from './meter.ts';
import { upstreamFailure } from './outcome.ts';
import { StreamRelay } from './stream-relay.ts';

/**
 * Opens a streamed call: the request goes upstream with the adapter's stream body; an answer that is
 * not a 2xx stream is metered and thrown, else the relay carries the stream to the client.
 */
export async function openStream({
  upstream,
  record,
  maxEventBytes,
}: {
  upstream: UpstreamClient;
  record: CallRecord;
  maxEventBytes: number;
}): Promise<{ relay: StreamRelay; response: UpstreamResponse; upstreamMs: number }> {
  const { call } = record;
  const { bytes, clientAskedUsage } = call.adapter.streamBody(call.raw, call.body);
  const upstreamAbort = new AbortController();
  const onClientGone = () => upstreamAbort.abort();
  call.signal.addEventListener('abort', onClientGone, { once: true });
  let response: UpstreamResponse | undefined;
  try {
    response = await upstream.send({
      path: call.adapter.path,
      model: call.body.model,
      body: bytes,
      signal: upstreamAbort.signal,
      stream: true,
    });
    if (response.status < 200 || response.status >= 300) {
      const body = await upstream.readAll(response, upstreamAbort.signal).catch(() => new Uint8Array());
      throw fromUpstream(response.status, body, response.headers);
    }
  } catch (err) {
    call.signal.removeEventListener('abort', onClientGone);
    const failure = upstreamFailure(err);
    await record.meter({
      status: failure.status,
      httpStatus: failure.httpStatus,
      tokens: failure.status === 'client_aborted' ? await estimateTokens(call, '') : { source: 'none' },
      servedBy: response?.servedBy,
      upstreamRequestId: response?.headers['x-upstream-request-id'],
      error: failure.error.message,
    });
    throw failure.error;
  }
  const relay = new StreamRelay(record, response, { clientAskedUsage, upstreamAbort, maxEventBytes });
  void relay.ended.then(() => call.signal.removeEventListener('abort', onClientGone));
  return { relay, response, upstreamMs: elapsedMs(call) };
}
