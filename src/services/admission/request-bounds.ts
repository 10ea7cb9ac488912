// The most a request can use, read from its body before it goes upstream: the prompt's tokens and the
// output it may generate. Admission reserves budget and counts TPM from these, so an undercount here is
// money spent past a budget. Where the prompt and the output bound sit is the endpoint adapter's word
// (src/endpoints); nothing here changes the body.
import type { MeteredBody, OutputBound } from '../../endpoints/adapter.ts';
import { badRequest } from '../../errors.ts';
import { messagesPrompt, type Prompt } from '../../metering/prompt-text.ts';
import { estimatePromptTokens, estimateTextTokens } from '../../metering/tokens.ts';

/** Every output bound a chat or Responses client may give (the default reading for a plain body). */
const OUTPUT_FIELDS = ['max_tokens', 'max_completion_tokens', 'max_output_tokens'] as const;
/** int32, as the upstreams parse these fields: anything larger is not a bound they honour */
const MAX_OUTPUT_BOUND = 2 ** 31 - 1;
/** OpenAI's documented maximum for `n` (choices per request) */
const MAX_CHOICES = 128;

/** Every bound field of a chat or Responses body (a body read without its adapter). */
const MESSAGES_OUTPUT: OutputBound = { fields: OUTPUT_FIELDS, sendAs: 'max_tokens' };

/**
 * The bound the body sets, per choice: the largest of the `fields` it gives (undefined when none). A
 * bound that is not a whole number in range is a 400 naming the field (null means absent, as in
 * OpenAI's API).
 */
export function requestedBound(
  body: Record<string, unknown>,
  fields: readonly string[] = OUTPUT_FIELDS,
): number | undefined {
  let bound: number | undefined;
  for (const field of fields) {
    const value = body[field];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_OUTPUT_BOUND)
      throw badRequest(
        `Invalid '${field}': must be a whole number from 0 to ${MAX_OUTPUT_BOUND}.`,
        field,
        'invalid_value',
      );
    bound = Math.max(bound ?? 0, value);
  }
  return bound;
}

/**
 * Output tokens the request may generate: n × the largest bound it gives, else n × `fallback`. With
 * `output` null (an endpoint that generates nothing, embeddings) it is 0.
 */
export function outputTokenBound(
  body: Record<string, unknown>,
  fallback: number,
  output: OutputBound | null = MESSAGES_OUTPUT,
): number {
  if (output === null) return 0;
  return choicesOf(body) * (requestedBound(body, output.fields) ?? fallback);
}

/** `n`, the choices generated per request (1 when absent); out of range is a 400. */
export function choicesOf(body: Record<string, unknown>): number {
  const n = body.n;
  if (n === undefined || n === null) return 1;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_CHOICES)
    throw badRequest(`Invalid 'n': must be a whole number from 1 to ${MAX_CHOICES}.`, 'n', 'invalid_value');
  return n;
}

/** An estimate of the prompt's tokens: the texts through the tokenizer, token ids as given. */
export async function estimatePrompt(prompt: Prompt): Promise<number> {
  if (prompt.kind === 'plain') return prompt.knownTokens + (await estimateTextTokens(prompt.texts));
  return estimatePromptTokens({ messages: prompt.messages, tools: prompt.tools });
}

/**
 * Prompt tokens, counted high: the estimate, plus every part that is not text (images, audio, files,
 * tool outputs of the Responses API) as one token per byte of its JSON.
 */
export async function promptTokenBound(prompt: Prompt): Promise<number> {
  return (await estimatePrompt(prompt)) + (prompt.kind === 'chat' ? prompt.opaqueBytes : 0);
}

/** What admission reserves for one request, as its endpoint's adapter reads the body. */
export type RequestBounds = {
  /** output tokens reserved: n × the body's bound, or n × the default when it gives none */
  outputTokens: number;
  /** the least output reserved while other requests of the key are in flight (see admitRequest) */
  floorTokens: number;
  promptTokens(): Promise<number>;
};

/** Where an endpoint's prompt and output bound sit: its adapter (src/endpoints) is one. */
export type BodyReading = { output: OutputBound | null; prompt(body: MeteredBody): Prompt };

/** A body read as chat or Responses: every output field, messages or input. */
export const MESSAGES_READING: BodyReading = {
  output: MESSAGES_OUTPUT,
  prompt: messagesPrompt,
};

/** The bounds of `body` as `adapter` reads it; a malformed bound or `n` is the client's 400, here. */
export function requestBounds(
  adapter: BodyReading,
  body: MeteredBody,
  defaultMaxTokens: number,
): RequestBounds {
  const outputTokens = outputTokenBound(body, defaultMaxTokens, adapter.output);
  const floorTokens =
    adapter.output === null ? 0 : Math.max(outputTokens, choicesOf(body) * defaultMaxTokens);
  return {
    outputTokens,
    floorTokens,
    promptTokens: () => promptTokenBound(adapter.prompt(body)),
  };
}
