// The refusal hook's fan-out: every listener hears each refusal for credit (the credits.exhausted alert,
// refusal counts), and one that fails neither stops the others nor escapes into the 402.
import { describe, expect, it } from 'vitest';
import { fanOut, type Refusal } from '../../src/services/admission/refusals.ts';

const refusal: Refusal = { keyId: 'key_1', reason: 'credits', accountId: 'acct_1' };

describe('the refusal fan-out', () => {
  it('tells every listener, waits for the async ones, and reports a failing one without throwing', async () => {
    const heard: string[] = [];
    const errors: unknown[] = [];
    const hook = fanOut(
      [
        (r) => {
          heard.push(`count ${r.keyId}`);
        },
        async () => {
          throw new Error('database gone');
        },
        async (r) => {
          await new Promise((resolve) => setTimeout(resolve, 5));
          heard.push(`alert ${r.accountId}`);
        },
      ],
      (_message, err) => errors.push(err),
    );
    await expect(hook(refusal)).resolves.toBeUndefined();
    expect(heard.sort()).toEqual(['alert acct_1', 'count key_1']);
    expect(errors).toEqual([new Error('database gone')]);
  });
});
