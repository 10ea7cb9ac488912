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

/** Where a wire format keeps its counts: the prompt/completion/total fields and their details. */
type UsageFields = {
  prompt: string;
  completion: string;
  total: string;
  cached: readonly [holder: string, field: string];
  reasoning: readonly [holder: string, field: string];
};

const CHAT_FIELDS: UsageFields = {
  prompt: 'prompt_tokens',
  completion: 'completion_tokens',
  total: 'total_tokens',
  cached: ['prompt_tokens_details', 'cached_tokens'],
  reasoning: ['completion_tokens_details', 'reasoning_tokens'],
};

const RESPONSES_FIELDS: UsageFields = {
  prompt: 'input_tokens',
  completion: 'output_tokens',
  total: 'total_tokens',
  cached: ['input_tokens_details', 'cached_tokens'],
  reasoning: ['output_tokens_details', 'reasoning_tokens'],
};

/** A usage object read with `fields`; undefined when it lacks prompt and completion counts. */
function parseWith(value: unknown, fields: UsageFields): TokenUsage | undefined {
  if (!isObject(value)) return undefined;
  const prompt = value[fields.prompt];
  const completion = value[fields.completion];
  const total = value[fields.total];
  if (!isCount(prompt) || !isCount(completion)) return undefined;
  const detail = ([key, field]: readonly [string, string]): number => {
    const holder = value[key];
    const count = isObject(holder) ? holder[field] : undefined;
    return isCount(count) ? count : 0;
  };
  return {
    promptTokens: prompt,
    completionTokens: completion,
    totalTokens: isCount(total) ? total : prompt + completion,
    cachedTokens: detail(fields.cached),
    reasoningTokens: detail(fields.reasoning),
    raw: value,
  };
}

/** A chat usage object → TokenUsage, or undefined when it does not carry prompt and completion counts. */
export const parseUsage = (value: unknown): TokenUsage | undefined => parseWith(value, CHAT_FIELDS);

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
export const parseResponsesUsage = (value: unknown): TokenUsage | undefined =>
  parseWith(value, RESPONSES_FIELDS);
