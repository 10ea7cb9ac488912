// What one metered endpoint is, declaratively: the pipeline (src/services/pipeline) does the rest.
// Adding an endpoint is one file of this shape and one line where routes are mounted.
import type { z } from 'zod';
import type { TokenUsage } from '../metering/usage.ts';

/** A validated client body: `model` checked, every other field passes through untouched. */
export type MeteredBody = { model: string; stream?: boolean | null; [field: string]: unknown };

/** What the pipeline does with one parsed stream event. */
export type EventVerdict = {
  /** the event's usage, when it carries one (the last one seen wins) */
  usage?: TokenUsage | undefined;
  /** the reply ended: `ok` (commit, then forward) or `failed` (the upstream says the request failed) */
  end?: 'ok' | 'failed' | undefined;
  /** the completion finished, so an upstream that closes without its terminator still ended cleanly */
  finished?: boolean;
  /** the first generated token is in this event (time to first token) */
  firstToken?: boolean;
  /** generated text in this event, for an estimate when usage never comes */
  text?: string;
  /** the model and id the upstream answered with */
  model?: string;
  id?: string;
  /** the client does not see this event (the usage-only chunk it did not ask for) */
  hidden?: boolean;
  /** the upstream failed the request: the message for the row */
  error?: string;
};

export type EndpointAdapter<Body extends MeteredBody = MeteredBody> = {
  /** the row's `endpoint` column: `chat.completions`, `responses` */
  name: string;
  /** the route under /v1, as OpenAI's clients call it */
  path: string;
  /** the body's schema: the fields the gateway reads; unknown fields pass through */
  schema: z.ZodType<Body>;
  /** the end user the body names (OpenAI's `user` field) */
  endUser(body: Body): string | undefined;
  /**
   * The bytes to send for a streamed request: the client's own, with only what metering needs
   * changed (chat: `stream_options.include_usage`). Also says whether the client asked for usage.
   */
  streamBody(raw: Uint8Array, body: Body): { bytes: Uint8Array; clientAskedUsage: boolean };
  /** usage of a whole JSON reply */
  usageOfReply(reply: unknown): TokenUsage | undefined;
  /** generated text of a whole JSON reply, for an estimate */
  textOfReply(reply: unknown): string;
  /** reads one stream event: `type` is the SSE event name, `data` its parsed JSON */
  readEvent(type: string | undefined, data: unknown, clientAskedUsage: boolean): EventVerdict;
  /** the stream's own end marker (`[DONE]` for chat), which is not JSON */
  isTerminator(data: string): boolean;
};

type Json = Record<string, unknown>;
export const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Appends the string fields `names` of `holder` to `text`. */
export function stringFields(holder: unknown, names: readonly string[]): string {
  if (!isObject(holder)) return '';
  let text = '';
  for (const name of names) if (typeof holder[name] === 'string') text += holder[name];
  return text;
}
