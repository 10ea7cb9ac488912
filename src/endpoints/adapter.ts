// What one metered endpoint is, declaratively: the pipeline (src/services/pipeline) does the rest.
// Adding an endpoint is one file of this shape and one line in src/endpoints/registry.ts.
import type { z } from 'zod';
import type { Prompt } from '../metering/prompt-text.ts';
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

/** Where a request's output bound sits, for admission and for the bound sent upstream. */
export type OutputBound = {
  /** the body fields that bound the output; the largest one counts (the upstream may honour any) */
  fields: readonly string[];
  /** the field the gateway sets when it sends the bound it reserved for (a budgeted key, no bound) */
  sendAs: string;
};

/** The stream members: only an endpoint that streams has them. */
export type StreamMembers<Body extends MeteredBody = MeteredBody> = {
  /**
   * The bytes to send for a streamed request: the client's own, with only what metering needs
   * changed (chat: `stream_options.include_usage`). Also says whether the client asked for usage.
   */
  streamBody(raw: Uint8Array, body: Body): { bytes: Uint8Array; clientAskedUsage: boolean };
  /** reads one stream event: `type` is the SSE event name, `data` its parsed JSON */
  readEvent(type: string | undefined, data: unknown, clientAskedUsage: boolean): EventVerdict;
  /** the stream's own end marker (`[DONE]` for chat), which is not JSON */
  isTerminator(data: string): boolean;
  /**
   * Whether an event's only use is its generated text (no usage, finish or end in it), read from its
   * unparsed data: its JSON then waits until an estimate needs the text, usually never. Absent: every
   * event is parsed as it passes.
   */
  textOnly?(type: string | undefined, data: string): boolean;
};

/** What an endpoint file declares (src/endpoints/registry.ts lists them). */
export type EndpointSpec<Body extends MeteredBody = MeteredBody> = {
  /** the row's `endpoint` column (`chat.completions`, `responses`, `embeddings`): filters, reports */
  name: string;
  /** OpenTelemetry's gen_ai.operation.name for its spans and metrics (`chat`); unset: the name */
  operation?: string;
  /** the route under /v1, as OpenAI's clients call it */
  path: string;
  /** one line for /openapi.json and /docs */
  summary: string;
  /** the body's schema: the fields the gateway reads; unknown fields pass through */
  schema: z.ZodType<Body>;
  /**
   * A hand-checked read of the schema's fields, for the common case at a fraction of zod's cost: true
   * only when the schema would accept the parsed body as it is (then it is used as is); false sends
   * it through the schema, which names the error. Unset: always the schema.
   */
  accepts?(input: unknown): boolean;
  /** the end user the body names (OpenAI's `user`, or its successor `safety_identifier`) */
  endUser(body: Body): string | undefined;
  /** the prompt to bound and estimate from */
  prompt(body: Body): Prompt;
  /** where the output bound sits; null for an endpoint that generates no output (embeddings) */
  output: OutputBound | null;
  /** usage of a whole JSON reply */
  usageOfReply(reply: unknown): TokenUsage | undefined;
  /** generated text of a whole JSON reply, for an estimate */
  textOfReply(reply: unknown): string;
  /** absent for a JSON-only endpoint: `"stream": true` is then a 400 */
  stream?: StreamMembers<Body>;
};

/**
 * An endpoint as the pipeline sees it: the spec with its stream members flat, and whether it streams.
 * A JSON-only endpoint's stream members are never reached (the route refuses a streamed request).
 */
export type EndpointAdapter<Body extends MeteredBody = MeteredBody> = Omit<
  EndpointSpec<Body>,
  'stream' | 'operation'
> &
  StreamMembers<Body> & { streams: boolean; operation: string };

const NO_STREAM: StreamMembers = {
  streamBody() {
    throw new Error('this endpoint does not stream');
  },
  readEvent: () => ({}),
  isTerminator: () => false,
};

/** An endpoint file's export: its spec made an adapter. */
export function defineEndpoint<Body extends MeteredBody>(spec: EndpointSpec<Body>): EndpointAdapter<Body> {
  const { stream, operation = spec.name, ...rest } = spec;
  return {
    ...rest,
    ...(stream ?? (NO_STREAM as StreamMembers<Body>)),
    streams: stream !== undefined,
    operation,
  };
}

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
