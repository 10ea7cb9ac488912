// POST /v1/embeddings as an adapter: OpenAI's embeddings API, JSON only (embeddings do not stream).
// Prompt tokens only: no output is generated, so none is reserved. Usage: `usage.prompt_tokens` on the
// reply; without it the prompt is estimated from `input` (texts tokenized, token ids counted as given).
// https://platform.openai.com/docs/api-reference/embeddings/create
import { z } from 'zod';
import { inputsPrompt } from '../metering/prompt-text.ts';
import { parseUsage } from '../metering/usage.ts';
import { defineEndpoint, isObject } from './adapter.ts';
import { endUserField, endUserOfBody, modelField } from './fields.ts';

const tokenId = z.number().int('token ids must be whole numbers').min(0, 'token ids must not be negative');
const INPUT =
  'must be a string, an array of strings, an array of token ids or an array of arrays of token ids';

const embeddingsBody = z.looseObject({
  model: modelField,
  input: z.union(
    [
      z.string(),
      z.array(z.string()).min(1, 'must not be empty'),
      z.array(tokenId).min(1, 'must not be empty'),
      z.array(z.array(tokenId).min(1, 'must not be empty')).min(1, 'must not be empty'),
    ],
    { error: INPUT },
  ),
  stream: z.literal(false, { error: 'embeddings do not stream' }).nullish(),
  user: endUserField.nullish(),
});

export type EmbeddingsBody = z.output<typeof embeddingsBody>;

export const embeddings = defineEndpoint<EmbeddingsBody>({
  path: '/embeddings',
  name: 'embeddings',
  operation: 'embeddings',
  summary: 'Embeddings (JSON only), metered by prompt tokens before the reply is answered',
  schema: embeddingsBody,
  endUser: endUserOfBody,
  prompt: (body) => inputsPrompt(body.input),
  output: null,
  // `{prompt_tokens, total_tokens}`: no completion count, as nothing is generated
  usageOfReply(reply) {
    const usage = isObject(reply) ? reply.usage : undefined;
    if (!isObject(usage)) return undefined;
    const parsed = parseUsage({ completion_tokens: 0, ...usage });
    return parsed && { ...parsed, raw: usage };
  },
  textOfReply: () => '',
});
