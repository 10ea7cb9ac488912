// The refusal fan-out (every listener told, one that throws logged and the rest still told), the
// concurrency limit telling it, and the counter's batching: counts add up per key, day and reason, a
// failed write keeps them for the next flush.
import { describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/client.ts';
import { createConcurrency } from '../../src/services/admission/concurrency.ts';
import { createRefusalCounter, fanOut, type Refusal } from '../../src/services/admission/refusals.ts';

describe('refusals', () => {
  it('tells every listener, logs one that throws and still tells the others', () => {
    const a: Refusal[] = [];
    const b: Refusal[] = [];
    const errors: string[] = [];
    const refused = fanOut(
      [
        (r) => a.push(r),
        () => {
          throw new Error('boom');
        },
        (r) => b.push(r),
      ],
      (message) => errors.push(message),
    );
    refused({ keyId: 'k1', reason: 'credits', accountId: 'acct_1' });
    expect(a).toEqual([{ keyId: 'k1', reason: 'credits', accountId: 'acct_1' }]);
    expect(b).toEqual(a);
    expect(errors).toEqual(['a refusal listener failed']);
    expect(() => fanOut(undefined)({ keyId: 'k', reason: 'rpm' })).not.toThrow();
  });

  it('the concurrency limit tells of each refusal', () => {
    const seen: Refusal[] = [];
    const slots = createConcurrency({ onRefusal: (r) => seen.push(r) });
    slots.take('k1', 1);
    expect(() => slots.take('k1', 1)).toThrow(/at most 1 at once/);
    expect(seen).toEqual([{ keyId: 'k1', reason: 'concurrency' }]);
  });

  it('writes counts in one batch per flush, and keeps them when the write fails', async () => {
    const statements: string[] = [];
    let fail = true;
    const database = {
      async rows(query: { queryChunks: unknown[] }) {
        statements.push(JSON.stringify(query.queryChunks));
        if (fail) throw new Error('database down');
        return [];
      },
    } as unknown as Database;
    const errors: string[] = [];
    const counter = createRefusalCounter({
      database,
      onError: (message) => errors.push(message),
      now: () => new Date('2026-12-07T10:00:00Z'),
    });
    for (let i = 0; i < 3; i++) counter.count({ keyId: 'k1', reason: 'rpm' });
    counter.count({ keyId: 'k2', reason: 'budget' });
    await counter.flush();
    expect(statements).toHaveLength(1);
    expect(errors).toEqual(['writing refusal counts failed; keeping them for the next flush']);
    fail = false;
    counter.count({ keyId: 'k1', reason: 'rpm' });
    await counter.stop();
    expect(statements).toHaveLength(2);
    // the kept counts and the new one, added up: k1 rpm 4, k2 budget 1
    expect(statements[1]).toContain('"k1"');
    expect(statements[1]).toMatch(/4[^0-9]/);
    await counter.flush();
    expect(statements).toHaveLength(2);
  });
});
