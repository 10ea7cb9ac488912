// Token usage as the upstream reported it: OpenAI's `usage`, or Groq's `x_groq.usage` (older Groq streams).
// Reasoning and cached tokens are details *inside* completion and prompt tokens: recorded, never added.

export type TokenUsage = {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  cachedTokens: number;
  reasoningTokens: number;
  /** the upstream usage object as received, kept for audit */
  raw: Record<string, unknown>;
};

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
/** A token count: a whole number that fits the ledger's integer columns. */
const isCount = (value: unknown): value is number =>
  Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 2_147_483_647;

/** A usage object → TokenUsage, or undefined when it does not carry prompt and completion counts. */
export function parseUsage(value: unknown): TokenUsage | undefined {
  if (!isObject(value)) return undefined;
  const { prompt_tokens: prompt, completion_tokens: completion, total_tokens: total } = value;
  if (!isCount(prompt) || !isCount(completion)) return undefined;
  const details = (key: string, field: string): number => {
    const holder = value[key];
    const count = isObject(holder) ? holder[field] : undefined;
    return isCount(count) ? count : 0;
  };
  return {
    promptTokens: prompt,
    completionTokens: completion,
    totalTokens: isCount(total) ? total : prompt + completion,
    cachedTokens: details('prompt_tokens_details', 'cached_tokens'),
    reasoningTokens: details('completion_tokens_details', 'reasoning_tokens'),
    raw: value,
  };
}

/**
 * The usage a completion or a stream chunk carries: top-level `usage` first, else `x_groq.usage`
 * when it has `prompt_tokens`. Undefined when neither does.
 */
export function usageOf(message: unknown): TokenUsage | undefined {
  if (!isObject(message)) return undefined;
  const top = parseUsage(message.usage);
  if (top) return top;
  const groq = message.x_groq;
  return isObject(groq) ? parseUsage(groq.usage) : undefined;
}

/**
 * The Responses API's usage (`response.usage`): input/output tokens, with cached and reasoning tokens
 * in their details. Undefined when it does not carry input and output counts.
 */
export function parseResponsesUsage(value: unknown): TokenUsage | undefined {
  if (!isObject(value)) return undefined;
  const { input_tokens: input, output_tokens: output, total_tokens: total } = value;
  if (!isCount(input) || !isCount(output)) return undefined;
  const detail = (key: string, field: string): number => {
    const holder = value[key];
    const count = isObject(holder) ? holder[field] : undefined;
    return isCount(count) ? count : 0;
  };
  return {
    promptTokens: input,
    completionTokens: output,
    totalTokens: isCount(total) ? total : input + output,
    cachedTokens: detail('input_tokens_details', 'cached_tokens'),
    reasoningTokens: detail('output_tokens_details', 'reasoning_tokens'),
    raw: value,
  };
}
