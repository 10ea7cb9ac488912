// The most a request can use, read from its body before it goes upstream: the prompt's tokens and the
// output it may generate. Admission reserves budget and counts TPM from these, so an undercount here is
// money spent past a budget. Chat bodies (`messages`, `n`) and Responses bodies (`input`,
// `instructions`) are plain objects; nothing here changes them.
import { badRequest } from '../../errors.ts';
import { estimatePromptTokens } from '../../metering/tokens.ts';

/** The output bounds a client may give; the largest one counts (the upstream may honour any of them). */
const OUTPUT_FIELDS = ['max_tokens', 'max_completion_tokens', 'max_output_tokens'] as const;
/** int32, as the upstreams parse these fields: anything larger is not a bound they honour */
const MAX_OUTPUT_BOUND = 2 ** 31 - 1;
/** OpenAI's documented maximum for `n` (choices per request) */
const MAX_CHOICES = 128;

/**
 * Output tokens the request may generate: n × the largest of max_tokens, max_completion_tokens and
 * max_output_tokens, else n × `fallback`. A bound that is not a whole number in range is a 400 naming
 * the field (null means absent, as in OpenAI's API).
 */
export function outputTokenBound(body: Record<string, unknown>, fallback: number): number {
  let bound: number | undefined;
  for (const field of OUTPUT_FIELDS) {
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
  return choicesOf(body) * (bound ?? fallback);
}

/** `n`, the choices generated per request (1 when absent); out of range is a 400. */
export function choicesOf(body: Record<string, unknown>): number {
  const n = body.n;
  if (n === undefined || n === null) return 1;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_CHOICES)
    throw badRequest(`Invalid 'n': must be a whole number from 1 to ${MAX_CHOICES}.`, 'n', 'invalid_value');
  return n;
}

type Message = { role?: unknown; content?: unknown };

/**
 * Prompt tokens, counted high: the text through the tokenizer, and every part that is not text
 * (images, audio, files, tool outputs of the Responses API) as one token per byte of its JSON.
 */
export async function promptTokenBound(body: Record<string, unknown>): Promise<number> {
  const { messages, opaqueBytes } = promptOf(body);
  // the one call of the estimator: promptTokenUpperBound(body) takes this line's place when it lands
  const textTokens = await estimatePromptTokens({ messages, tools: body.tools });
  return textTokens + opaqueBytes;
}

/**
 * The prompt of a chat or a Responses body as chat messages of text, and the bytes of everything that
 * is not text: what admission bounds and what the meter estimates from when usage is missing.
 */
export function promptOf(body: Record<string, unknown>): { messages: Message[]; opaqueBytes: number } {
  const messages: Message[] = [];
  let opaqueBytes = 0;
  const add = (item: unknown) => {
    if (typeof item !== 'object' || item === null || !('role' in item)) {
      opaqueBytes += bytesOf(item);
      return;
    }
    const { role, content } = item as Message;
    if (typeof content === 'string') {
      messages.push(item as Message);
      return;
    }
    const parts = Array.isArray(content) ? content : content === undefined ? [] : [content];
    const text = parts.filter(isTextPart);
    for (const part of parts) if (!isTextPart(part)) opaqueBytes += bytesOf(part);
    // the rest of the message (tool_calls, name) still reaches the estimator
    messages.push({ ...(item as Message), role, content: text });
  };
  if (typeof body.instructions === 'string') messages.push({ role: 'system', content: body.instructions });
  if (Array.isArray(body.messages)) for (const message of body.messages) add(message);
  if (typeof body.input === 'string') messages.push({ role: 'user', content: body.input });
  else if (Array.isArray(body.input)) for (const item of body.input) add(item);
  else if (body.input !== undefined) opaqueBytes += bytesOf(body.input);
  return { messages, opaqueBytes };
}

/** A content part the estimator reads as text: `{type: 'text' | 'input_text' | …, text: string}`. */
function isTextPart(part: unknown): boolean {
  return (
    typeof part === 'object' &&
    part !== null &&
    typeof (part as { text?: unknown }).text === 'string' &&
    Object.keys(part).every((key) => key === 'type' || key === 'text')
  );
}

function bytesOf(value: unknown): number {
  return value === undefined ? 0 : Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
}
