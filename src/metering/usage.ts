// Token usage as the upstream reported it: OpenAI's `usage`, or Groq's `x_groq.usage` (older Groq streams).
// Reasoning and cached tokens are details *inside* completion and prompt tokens: recorded, never added.
// What the upstream says is checked before it is billed: an all-zero usage is a placeholder, not a bill
// (billedUsage); a later, smaller snapshot never replaces a real one (laterUsage); and a usage that
// contradicts itself is kept with what it contradicts named, its total recomputed as prompt + completion
// and its details capped at what they are details of (parseWith).

export type TokenUsage = {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  cachedTokens: number;
  reasoningTokens: number;
  /** the upstream usage object as received, kept for audit */
  raw: Record<string, unknown>;
  /** how the usage contradicts itself (cached > prompt, reasoning > completion, total ≠ prompt + completion) */
  contradictions: string[];
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
  const cached = detail(fields.cached);
  const reasoning = detail(fields.reasoning);
  const contradictions: string[] = [];
  if (cached > prompt) contradictions.push(`${fields.cached[1]} ${cached} > ${fields.prompt} ${prompt}`);
  if (reasoning > completion)
    contradictions.push(`${fields.reasoning[1]} ${reasoning} > ${fields.completion} ${completion}`);
  // a total that is not a count (absent, a string) is simply missing; a count that disagrees is a contradiction
  if (isCount(total) && total !== prompt + completion)
    contradictions.push(
      `${fields.total} ${total} ≠ ${fields.prompt} + ${fields.completion} ${prompt + completion}`,
    );
  return {
    promptTokens: prompt,
    completionTokens: completion,
    // the total is what the bill is made of, never a figure of its own (a 2e9 total on a 110-token row)
    totalTokens: prompt + completion,
    cachedTokens: Math.min(cached, prompt),
    reasoningTokens: Math.min(reasoning, completion),
    raw: value,
    contradictions,
  };
}

/**
 * The usage to bill, or undefined when it counts no token at all: a real call always has a prompt, so
 * an all-zero usage is a placeholder (a router that zeroes usage it never had), and the tokens are
 * estimated instead.
 */
export function billedUsage(usage: TokenUsage | undefined): TokenUsage | undefined {
  return usage && (usage.promptTokens > 0 || usage.completionTokens > 0) ? usage : undefined;
}

/**
 * The usage a stream stands at after another snapshot: snapshots are cumulative, so the later one
 * replaces the earlier only when it counts at least as many prompt and completion tokens; a zeroed or
 * smaller later snapshot never erases a real one. Never summed.
 */
export function laterUsage(earlier: TokenUsage | undefined, later: TokenUsage): TokenUsage {
  if (!earlier) return later;
  return later.promptTokens >= earlier.promptTokens && later.completionTokens >= earlier.completionTokens
    ? later
    : earlier;
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
