// Token estimates when the upstream reports no usage (stream cut, client gone) and for admission
// against limits: the gpt-oss tokenizer (o200k_harmony). gpt-oss prompts carry an implicit harmony
// system header the chat encoding leaves out.

type Tokenizer = typeof import('gpt-tokenizer/model/gpt-oss-120b');
let loading: Promise<Tokenizer> | undefined;
/**
 * Loaded on the first estimate: its tables cost ~65 MB of memory, and a gateway whose upstream
 * always reports usage and whose keys have no limits never needs them.
 */
const tokenizer = (): Promise<Tokenizer> => {
  loading ??= import('gpt-tokenizer/model/gpt-oss-120b');
  return loading;
};

/** Tokens Groq adds for gpt-oss's implicit system message (measured: 84 reported vs 19 encoded). */
export const HARMONY_HEADER_TOKENS = 65;

type ChatMessage = { role: 'system' | 'user' | 'assistant' | 'developer'; content: string };
const ROLES = new Set(['system', 'user', 'assistant', 'developer']);

/** Prompt tokens of a chat request body (messages and, roughly, tool definitions). */
export async function estimatePromptTokens(body: { messages?: unknown; tools?: unknown }): Promise<number> {
  const { countTokens, encodeChat } = await tokenizer();
  const messages: ChatMessage[] = [];
  let extra = 0;
  for (const message of Array.isArray(body.messages) ? body.messages : []) {
    if (typeof message !== 'object' || message === null) continue;
    const { role, content, tool_calls: toolCalls } = message as Record<string, unknown>;
    const text = textOf(content);
    messages.push({ role: ROLES.has(String(role)) ? (role as ChatMessage['role']) : 'user', content: text });
    if (toolCalls !== undefined) extra += countTokens(JSON.stringify(toolCalls));
  }
  if (body.tools !== undefined) extra += countTokens(JSON.stringify(body.tools));
  return encodeChat(messages).length + HARMONY_HEADER_TOKENS + extra;
}

/** Completion tokens of generated text (reasoning and content alike: both are billed as output). */
export async function estimateCompletionTokens(text: string): Promise<number> {
  return text.length === 0 ? 0 : (await tokenizer()).countTokens(text);
}

/** The text of a message's content: a string, or the text parts of a content array. */
function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part) => (typeof part === 'object' && part !== null && 'text' in part ? String(part.text) : ''))
    .join('');
}
