// POST /v1/responses as an adapter: the OpenAI Responses API (the HF router serves it).
// Usage: `response.usage` (input/output tokens) on the JSON reply and on the terminal stream event (only there).
// Streams end with `response.completed`, `response.incomplete` (both metered as answered) or
// `response.failed`; the row is committed before that event is forwarded.
// https://platform.openai.com/docs/api-reference/responses-streaming
import { z } from 'zod';
import { messagesPrompt } from '../metering/prompt-text.ts';
import { parseResponsesUsage, type TokenUsage } from '../metering/usage.ts';
import { defineEndpoint, isObject, stringFields } from './adapter.ts';
import {
  endUserField,
  endUserOfBody,
  isBooleanOrAbsent,
  isEndUserOrAbsent,
  isModel,
  isTokenBoundOrAbsent,
  modelField,
  tokenBound,
} from './fields.ts';

const responsesBody = z.looseObject({
  model: modelField,
  input: z
    .union([z.string(), z.array(z.unknown())], { error: 'must be a string or an array of items' })
    .optional(),
  instructions: z.string({ error: 'must be a string' }).nullish(),
  stream: z.boolean({ error: 'must be a boolean' }).nullish(),
  user: endUserField.nullish(),
  safety_identifier: endUserField.nullish(),
  max_output_tokens: tokenBound,
});

export type ResponsesBody = z.output<typeof responsesBody>;

/** What `responsesBody` accepts, checked by hand. */
function acceptsResponses(input: unknown): boolean {
  if (!isObject(input)) return false;
  const { input: items, instructions } = input;
  return (
    isModel(input.model) &&
    (items === undefined || typeof items === 'string' || Array.isArray(items)) &&
    (instructions === undefined || instructions === null || typeof instructions === 'string') &&
    isBooleanOrAbsent(input.stream) &&
    isEndUserOrAbsent(input.user) &&
    isEndUserOrAbsent(input.safety_identifier) &&
    isTokenBoundOrAbsent(input.max_output_tokens)
  );
}

/** Stream events whose data carries generated text in `delta`. */
const DELTA_EVENTS = new Set([
  'response.output_text.delta',
  'response.reasoning_text.delta',
  'response.reasoning_summary_text.delta',
  'response.refusal.delta',
  'response.function_call_arguments.delta',
]);
const TERMINAL: Readonly<Record<string, 'ok' | 'failed'>> = {
  'response.completed': 'ok',
  'response.incomplete': 'ok',
  'response.failed': 'failed',
};

/**
 * A response's usage as the bill: none when it counts no token at all. The router's responses.js starts
 * every response with a zeroed usage and sends it unchanged in a response.failed when the provider broke
 * off before its usage chunk; a prompt always costs tokens, so such a usage is a placeholder, not a
 * report, and the text streamed is estimated instead.
 */
function billedUsage(value: unknown): TokenUsage | undefined {
  const usage = parseResponsesUsage(value);
  return usage && (usage.promptTokens > 0 || usage.completionTokens > 0) ? usage : undefined;
}

/** Generated text of a response's output items: messages, reasoning and tool-call arguments. */
function outputText(response: unknown): string {
  const output = isObject(response) ? response.output : undefined;
  if (!Array.isArray(output)) return '';
  let text = '';
  for (const item of output) {
    if (!isObject(item)) continue;
    text += stringFields(item, ['arguments']);
    for (const list of [item.content, item.summary]) {
      if (Array.isArray(list)) for (const part of list) text += stringFields(part, ['text', 'refusal']);
    }
  }
  return text;
}

export const responses = defineEndpoint<ResponsesBody>({
  path: '/responses',
  name: 'responses',
  operation: 'responses',
  summary: 'Responses API (JSON, or SSE with "stream": true), metered before the terminal event',
  schema: responsesBody,
  accepts: acceptsResponses,
  endUser: endUserOfBody,
  prompt: messagesPrompt,
  output: { fields: ['max_output_tokens'], sendAs: 'max_output_tokens' },
  usageOfReply: (reply) => billedUsage(isObject(reply) ? reply.usage : undefined),
  textOfReply: outputText,
  stream: {
    // the terminal event always carries usage: the client's bytes go as they are
    streamBody: (raw) => ({ bytes: raw, clientAskedUsage: true }),
    readEvent(type, data) {
      if (!isObject(data)) return {};
      const kind = typeof data.type === 'string' ? data.type : type;
      if (kind && DELTA_EVENTS.has(kind)) {
        const text = typeof data.delta === 'string' ? data.delta : '';
        return text ? { text, firstToken: true } : {};
      }
      const response = isObject(data.response) ? data.response : undefined;
      if (!response) return {};
      const verdict = {
        model: typeof response.model === 'string' ? response.model : undefined,
        id: typeof response.id === 'string' ? response.id : undefined,
      };
      const end = kind ? TERMINAL[kind] : undefined;
      // only a terminal event's usage is the bill: the router's responses.js announces a zeroed usage
      // on response.created and response.in_progress, which a stream that breaks off must not keep
      if (!end) return verdict;
      const error = isObject(response.error) ? response.error.message : undefined;
      return {
        ...verdict,
        usage: billedUsage(response.usage),
        end,
        finished: true,
        error:
          end === 'failed' ? `The upstream failed the response: ${String(error ?? 'no detail')}` : undefined,
      };
    },
    isTerminator: (data) => data === '[DONE]',
    // a delta event by its SSE name with no response object (its usage and end) in it: whatever its
    // data's own type, it has nothing for the row but text
    // (an escaped key could hide that object from the scan: such events are parsed)
    textOnly: (type, data) =>
      type !== undefined && DELTA_EVENTS.has(type) && !data.includes('"response"') && !data.includes('\\u'),
  },
});
