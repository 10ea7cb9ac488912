// POST /v1/chat/completions as an adapter: OpenAI's chat wire format.
// Usage: `usage` (or Groq's `x_groq.usage`) on the reply or on any stream chunk, the last one winning;
// the stream ends with `data: [DONE]`. Upstream always gets `stream_options.include_usage: true`; the
// usage-only chunk (`choices: []`) is hidden from a client that did not ask for it.
import { z } from 'zod';
import { messagesPrompt } from '../metering/prompt-text.ts';
import { usageOf } from '../metering/usage.ts';
import { defineEndpoint, type EventVerdict, isObject, stringFields } from './adapter.ts';
import { DEFAULT_ENDPOINT } from './default-endpoint.ts';
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
import { setTopLevelMember } from './json-member.ts';

const chatBody = z.looseObject({
  model: modelField,
  messages: z.array(z.unknown(), { error: 'must be an array of messages' }).min(1, 'must not be empty'),
  stream: z.boolean({ error: 'must be a boolean' }).nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish(),
  user: endUserField.nullish(),
  safety_identifier: endUserField.nullish(),
  n: z.number().int('must be a whole number').min(1).max(128).nullish(),
  max_tokens: tokenBound,
  max_completion_tokens: tokenBound,
});

export type ChatBody = z.output<typeof chatBody>;

/** What `chatBody` accepts, checked by hand (zod cost ~7 µs of a request). */
function acceptsChat(input: unknown): boolean {
  if (!isObject(input)) return false;
  const { messages, stream_options: options, n } = input;
  return (
    isModel(input.model) &&
    Array.isArray(messages) &&
    messages.length > 0 &&
    isBooleanOrAbsent(input.stream) &&
    (options === undefined ||
      options === null ||
      (isObject(options) && isBooleanOrAbsent(options.include_usage))) &&
    isEndUserOrAbsent(input.user) &&
    isEndUserOrAbsent(input.safety_identifier) &&
    (n === undefined ||
      n === null ||
      (Number.isSafeInteger(n) && (n as number) >= 1 && (n as number) <= 128)) &&
    isTokenBoundOrAbsent(input.max_tokens) &&
    isTokenBoundOrAbsent(input.max_completion_tokens)
  );
}

/** Generated text fields of a message or a delta (reasoning is billed as output too). */
const TEXT_FIELDS = ['reasoning', 'reasoning_content', 'content'] as const;

function choiceText(holder: unknown): string {
  if (!isObject(holder)) return '';
  const calls = holder.tool_calls;
  return stringFields(holder, TEXT_FIELDS) + (Array.isArray(calls) ? JSON.stringify(calls) : '');
}

export const chatCompletions = defineEndpoint<ChatBody>({
  path: '/chat/completions',
  name: DEFAULT_ENDPOINT,
  operation: 'chat',
  summary: 'Chat completion (JSON, or SSE with "stream": true), metered before it is answered',
  schema: chatBody,
  accepts: acceptsChat,
  endUser: endUserOfBody,
  prompt: messagesPrompt,
  // max_tokens, not max_completion_tokens, when the gateway sets one: every server behind the router
  // (and vLLM, TGI, Ollama) reads it
  output: { fields: ['max_tokens', 'max_completion_tokens'], sendAs: 'max_tokens' },
  usageOfReply: usageOf,
  textOfReply(reply) {
    const choices = isObject(reply) ? reply.choices : undefined;
    if (!Array.isArray(choices)) return '';
    return choices.map((choice) => choiceText(isObject(choice) ? choice.message : undefined)).join('');
  },
  stream: {
    streamBody(raw, body) {
      const clientAskedUsage = body.stream_options?.include_usage === true;
      if (clientAskedUsage) return { bytes: raw, clientAskedUsage };
      const options = JSON.stringify({ ...body.stream_options, include_usage: true });
      return { bytes: setTopLevelMember(raw, 'stream_options', options), clientAskedUsage };
    },
    readEvent(_type, data, clientAskedUsage) {
      if (!isObject(data)) return {};
      const verdict: EventVerdict = {};
      if (typeof data.model === 'string') verdict.model = data.model;
      if (typeof data.id === 'string') verdict.id = data.id;
      const usage = usageOf(data);
      const choices = Array.isArray(data.choices) ? data.choices : [];
      if (usage) {
        verdict.usage = usage;
        if (choices.length === 0 && !clientAskedUsage) verdict.hidden = true;
      }
      let text = '';
      for (const choice of choices) {
        if (!isObject(choice)) continue;
        text += choiceText(choice.delta);
        if (typeof choice.finish_reason === 'string') verdict.finished = true;
      }
      if (text) {
        verdict.text = text;
        verdict.firstToken = true;
      }
      return verdict;
    },
    isTerminator: (data) => data === '[DONE]',
    // a key can only appear quoted as is outside a string (inside one its quotes are escaped)
    // an escaped key (`"us\u0061ge"`) could hide usage from the scan: such events are parsed
    textOnly: (_type, data) => !data.includes('"usage"') && !data.includes('\\u') && !finishes(data),
  },
});

/** Whether a chunk's data has a `finish_reason` that is not null. */
function finishes(data: string): boolean {
  for (let at = data.indexOf('"finish_reason"'); at !== -1; at = data.indexOf('"finish_reason"', at + 1)) {
    let i = at + '"finish_reason"'.length;
    while (data[i] === ' ' || data[i] === ':' || data[i] === '\n' || data[i] === '\t' || data[i] === '\r')
      i++;
    if (!data.startsWith('null', i)) return true;
  }
  return false;
}
