// Cost of one request: prompt tokens × input price + completion tokens × output price, exactly.
import { add, type Decimal, times } from './money.ts';
import type { AppliedPrice } from './pricing.ts';

export type Cost = { input: Decimal; output: Decimal; total: Decimal };

export function costOf(
  { promptTokens, completionTokens }: { promptTokens: number; completionTokens: number },
  price: AppliedPrice,
): Cost {
  const input = times(promptTokens, price.inputTokenCost);
  const output = times(completionTokens, price.outputTokenCost);
  return { input, output, total: add(input, output) };
}
