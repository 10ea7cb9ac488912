// What a chat request's prompt is made of, for token counting: the texts to tokenize, and the tokens
// known without tokenizing (the harmony framing, and bytes of values that are not text). Total on any
// JSON value and iterative, so no body (however nested, whatever its types) makes it throw.

/** Tokens Groq adds for gpt-oss's implicit system message (measured: 84 reported vs 19 encoded). */
export const HARMONY_HEADER_TOKENS = 65;
/**
 * The harmony frame of one message: `<|start|>`, the role, `<|message|>`, `<|end|>`. Every role is
 * normalized to one of four, and each of those is a single o200k token.
 */
export const MESSAGE_FRAME_TOKENS = 4;
/** `<|start|>assistant`: the chat encoding ends by priming the reply. */
export const ASSISTANT_PRIME_TOKENS = 2;
/**
 * Values nested deeper than this are measured by their bytes instead of serialized: JSON.stringify
 * recurses, and a 100,000-deep array overflows the stack.
 */
const MAX_SERIALIZED_DEPTH = 64;

export type PromptParts = {
  /** one per message: its text (a string content, or the text parts of a content array, joined) */
  texts: string[];
  /** tokens that need no tokenizer: framing, header, and the JSON bytes of non-text values */
  fixedTokens: number;
};

/**
 * The parts of a chat request body (`messages`, their `tool_calls`, and `tools`). Tool definitions
 * and calls are tokenized as their JSON text; a text part whose `text` is not a string, or a content
 * that is neither a string nor an array, counts one token per byte of its JSON.
 */
export function promptParts(body: { messages?: unknown; tools?: unknown }): PromptParts {
  const texts: string[] = [];
  let fixedTokens = HARMONY_HEADER_TOKENS + ASSISTANT_PRIME_TOKENS;
  const addJson = (value: unknown) => {
    const text = jsonText(value);
    if (typeof text === 'string') texts.push(text);
    else fixedTokens += jsonBytes(value);
  };
  for (const message of Array.isArray(body.messages) ? body.messages : []) {
    if (typeof message !== 'object' || message === null) continue;
    const { content, tool_calls: toolCalls } = message as Record<string, unknown>;
    fixedTokens += MESSAGE_FRAME_TOKENS;
    if (typeof content === 'string') texts.push(content);
    else if (Array.isArray(content)) {
      let text = '';
      for (const part of content) {
        if (typeof part !== 'object' || part === null || !('text' in part)) continue;
        const value: unknown = part.text;
        if (typeof value === 'string') text += value;
        else fixedTokens += jsonBytes(value);
      }
      texts.push(text);
    } else {
      texts.push('');
      if (content !== undefined && content !== null) fixedTokens += jsonBytes(content);
    }
    if (toolCalls !== undefined) addJson(toolCalls);
  }
  if (body.tools !== undefined) addJson(body.tools);
  return { texts, fixedTokens };
}

/**
 * An upper bound of the prompt tokens, from bytes alone, in time linear in the body and without the
 * tokenizer. Why it bounds the exact count: o200k is a byte-level BPE, every token it emits for text
 * covers at least one UTF-8 byte (special tokens are never read from client text), so a text has at
 * most as many tokens as bytes; the rest (framing, the harmony header, non-text values) is counted
 * the same way in both.
 */
export function promptTokenUpperBound(body: { messages?: unknown; tools?: unknown }): number {
  const { texts, fixedTokens } = promptParts(body);
  return fixedTokens + textBytes(texts);
}

/** UTF-8 bytes of the texts: each one's token upper bound, as the tokenizer encodes it (lone surrogates → U+FFFD, 3 bytes). */
export function textBytes(texts: readonly string[]): number {
  let total = 0;
  for (const text of texts) total += Buffer.byteLength(text, 'utf8');
  return total;
}

/** JSON.stringify(value), unless the value nests too deep to serialize safely (or cannot be). */
function jsonText(value: unknown): string | undefined {
  if (jsonDepth(value) > MAX_SERIALIZED_DEPTH) return undefined;
  try {
    return JSON.stringify(value) ?? undefined;
  } catch {
    return undefined;
  }
}

/** Nesting depth of a JSON value (0 for a scalar), walked without recursion. */
function jsonDepth(value: unknown): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const [node, depth] = item;
    if (typeof node !== 'object' || node === null) continue;
    deepest = Math.max(deepest, depth + 1);
    if (deepest > MAX_SERIALIZED_DEPTH) return deepest;
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return deepest;
}

/**
 * At least the UTF-8 length of JSON.stringify(value), for any value and any depth (walked without
 * recursion). Strings are exact; a value JSON has no form for counts as `null`.
 */
export function jsonBytes(value: unknown): number {
  let total = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node === 'string') total += Buffer.byteLength(JSON.stringify(node), 'utf8');
    else if (typeof node === 'number') total += Number.isFinite(node) ? String(node).length : 4;
    else if (typeof node === 'boolean' || typeof node === 'bigint') total += String(node).length;
    else if (typeof node !== 'object' || node === null) total += 4;
    else if (Array.isArray(node)) {
      total += 2 + Math.max(0, node.length - 1);
      for (const child of node) stack.push(child);
    } else {
      const entries = Object.entries(node);
      // braces, a colon per entry and a comma between entries
      total += 2 + Math.max(0, 2 * entries.length - 1);
      for (const [key, child] of entries) stack.push(key, child);
    }
  }
  return total;
}
