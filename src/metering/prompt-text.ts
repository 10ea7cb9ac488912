// What a request's prompt is made of, for token counting: the texts to tokenize, and the tokens
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

/** A chat message as the estimator reads it. */
export type PromptMessage = { role?: unknown; content?: unknown };

/**
 * What an endpoint's prompt is, as its adapter reads it from the body:
 * - `chat`: messages in the harmony chat frame (chat, Responses), with tool definitions, and the
 *   bytes of every part that is not text (images, files, tool outputs), counted one token per byte
 *   for a bound and left out of an estimate;
 * - `plain`: texts tokenized as they are, with no frame (embeddings' inputs), and tokens already
 *   known (inputs given as token ids).
 */
export type Prompt =
  | { kind: 'chat'; messages: PromptMessage[]; tools?: unknown; opaqueBytes: number }
  | { kind: 'plain'; texts: string[]; knownTokens: number };

/**
 * The prompt of a chat body (`messages`) or a Responses body (`instructions`, `input` as a string or
 * as items), as chat messages of text and the bytes of everything that is not text.
 */
export function messagesPrompt(body: { readonly [field: string]: unknown }): Prompt {
  const messages: PromptMessage[] = [];
  let opaqueBytes = 0;
  const add = (item: unknown) => {
    if (typeof item !== 'object' || item === null || !('role' in item)) {
      opaqueBytes += bytesOf(item);
      return;
    }
    const { role, content } = item as PromptMessage;
    if (typeof content === 'string') {
      messages.push(item as PromptMessage);
      return;
    }
    const parts = Array.isArray(content) ? content : content === undefined ? [] : [content];
    const text = parts.filter(isTextPart);
    for (const part of parts) if (!isTextPart(part)) opaqueBytes += bytesOf(part);
    // the rest of the message (tool_calls, name) still reaches the estimator
    messages.push({ ...(item as PromptMessage), role, content: text });
  };
  if (typeof body.instructions === 'string') messages.push({ role: 'system', content: body.instructions });
  if (Array.isArray(body.messages)) for (const message of body.messages) add(message);
  if (typeof body.input === 'string') messages.push({ role: 'user', content: body.input });
  else if (Array.isArray(body.input)) for (const item of body.input) add(item);
  else if (body.input !== undefined) opaqueBytes += bytesOf(body.input);
  return { kind: 'chat', messages, tools: body.tools, opaqueBytes };
}

/**
 * The prompt of an embeddings `input`: a string, an array of strings, an array of token ids, or an
 * array of arrays of token ids. Token ids are counted as they are (one each); texts go to the tokenizer.
 */
export function inputsPrompt(input: unknown): Prompt {
  const texts: string[] = [];
  let knownTokens = 0;
  const items = Array.isArray(input) ? input : [input];
  for (const item of items) {
    if (typeof item === 'string') texts.push(item);
    else if (typeof item === 'number') knownTokens += 1;
    else if (Array.isArray(item)) knownTokens += item.length;
    else if (item !== undefined) knownTokens += jsonBytes(item);
  }
  return { kind: 'plain', texts, knownTokens };
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

/** UTF-8 bytes of a value's JSON; past the serializable depth, the walked upper bound. */
function bytesOf(value: unknown): number {
  if (value === undefined) return 0;
  const text = jsonText(value);
  return text === undefined ? jsonBytes(value) : Buffer.byteLength(text, 'utf8');
}
