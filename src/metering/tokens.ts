// Token estimates when the upstream reports no usage (stream cut, client gone) and for admission
// against limits: the gpt-oss tokenizer (o200k_harmony), run in a worker thread, never on the event
// loop. gpt-oss prompts carry an implicit harmony system header the chat encoding leaves out.
import { promptParts } from './prompt-text.ts';
import { createTokenCounter, type TokenCounter } from './token-counter.ts';

export {
  HARMONY_HEADER_TOKENS,
  jsonBytes,
  MESSAGE_FRAME_TOKENS,
  promptTokenUpperBound,
} from './prompt-text.ts';

type PromptBody = { messages?: unknown; tools?: unknown };

export type TokenEstimator = {
  /** prompt tokens of a chat request body (messages, their tool calls, tool definitions) */
  estimatePromptTokens(body: PromptBody): Promise<number>;
  /** completion tokens of generated text (reasoning and content alike: both are billed as output) */
  estimateCompletionTokens(text: string): Promise<number>;
  /** tokens of texts as they are, with no chat frame (embeddings' inputs), summed */
  estimateTextTokens(texts: readonly string[]): Promise<number>;
  close(): Promise<void>;
};

/**
 * Estimates over one token counter. Each settles within the counter's timeout; when the tokenizer
 * cannot answer, the estimate is the byte upper bound (promptTokenUpperBound), so it still meters.
 */
export function createTokenEstimator(counter: TokenCounter = createTokenCounter()): TokenEstimator {
  return {
    async estimatePromptTokens(body) {
      const { texts, fixedTokens } = promptParts(body);
      return fixedTokens + (await counter.count(texts));
    },
    async estimateCompletionTokens(text) {
      return counter.count([text]);
    },
    estimateTextTokens: (texts) => counter.count(texts),
    close: () => counter.close(),
  };
}

// The process's estimator: the worker starts on the first estimate, so a gateway whose upstream always
// reports usage and whose keys have no limits never loads the tokenizer.
let shared: TokenEstimator | undefined;
const estimator = (): TokenEstimator => {
  shared ??= createTokenEstimator();
  return shared;
};

/** Prompt tokens of a chat request body (messages and, roughly, tool definitions). */
export function estimatePromptTokens(body: PromptBody): Promise<number> {
  return estimator().estimatePromptTokens(body);
}

/** Completion tokens of generated text (reasoning and content alike: both are billed as output). */
export function estimateCompletionTokens(text: string): Promise<number> {
  return estimator().estimateCompletionTokens(text);
}

/** Tokens of texts as they are, with no chat frame (embeddings' inputs), summed. */
export function estimateTextTokens(texts: readonly string[]): Promise<number> {
  return estimator().estimateTextTokens(texts);
}
