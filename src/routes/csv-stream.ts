// The one CSV streamer: /usage?format=csv and the dashboard's download both answer through it.
import type { Context } from 'hono';

/**
 * Streams the CSV one batch per pull, so a slow reader holds back the database reads. The first batch
 * is read before answering: a failure there is an ordinary error response. A failure later errors the
 * body, and the Node server then destroys the connection without the chunked encoding's last chunk: the
 * client sees a failed download, never the clean end of a short file (hono's stream() logged the
 * error and ended the response normally).
 */
export async function csvResponse(
  c: Context,
  { chunks, filename }: { chunks: AsyncGenerator<string, void, undefined>; filename: string },
): Promise<Response> {
  const encoder = new TextEncoder();
  const first = await chunks.next();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      if (first.done) controller.close();
      else controller.enqueue(encoder.encode(first.value));
    },
    async pull(controller) {
      const next = await chunks.next();
      if (next.done) controller.close();
      else controller.enqueue(encoder.encode(next.value));
    },
    async cancel() {
      await chunks.return(undefined);
    },
  });
  return c.body(body, 200, {
    'content-type': 'text/csv; charset=utf-8',
    'content-disposition': `attachment; filename="${filename}"`,
    // Said up front, @hono/node-server writes the head at once and streams. Otherwise it first reads
    // ahead up to three chunks to try a content-length, and a failure while it does so became a
    // `500 text/plain` carrying the error's message, cleanly ended.
    'transfer-encoding': 'chunked',
  });
}
