// Cost of one request, exactly (DESIGN §5): uncached prompt tokens at the input price, cached prompt
// tokens at the cached input price, completion tokens (reasoning tokens included, never added again)
// at the output price.
import { add, type Decimal, times } from './money.ts';
import type { AppliedPrice } from './pricing.ts';

export type Cost = { input: Decimal; output: Decimal; total: Decimal };

export function costOf(
  {
    promptTokens,
    completionTokens,
    cachedTokens = 0,
  }: { promptTokens: number; completionTokens: number; cachedTokens?: number },
  price: Pick<AppliedPrice, 'inputTokenCost' | 'cachedInputTokenCost' | 'outputTokenCost'>,
): Cost {
  // an upstream claiming more cached than prompt tokens would make a negative count: cap it
  const cached = Math.min(cachedTokens, promptTokens);
  const input = add(
    times(promptTokens - cached, price.inputTokenCost),
    times(cached, price.cachedInputTokenCost),
  );
  const output = times(completionTokens, price.outputTokenCost);
  return { input, output, total: add(input, output) };
}
