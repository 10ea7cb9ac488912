import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors.ts';
import { decodeCursor, encodeCursor } from '../../src/services/reports/usage-report.ts';

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64url');

describe('usage cursor', () => {
  it('round-trips the last row’s created_at to the microsecond, and its id', () => {
    const position = { createdAt: '2026-11-03T12:00:00.000750Z', id: 9_007_199_254_740_991 };
    const cursor = encodeCursor(position);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor)).toEqual(position);
  });

  it.each([
    ['not base64 at all', 'garbage!'],
    ['empty', ''],
    ['base64 of prose', b64('hello world')],
    ['milliseconds only', b64('2026-11-03T12:00:00.000Z,1')],
    ['an offset instead of Z', b64('2026-11-03T12:00:00.000000+01:00,1')],
    ['a day that does not exist', b64('2026-02-30T12:00:00.000000Z,1')],
    ['an hour that does not exist', b64('2026-11-03T25:00:00.000000Z,1')],
    ['id zero', b64('2026-11-03T12:00:00.000000Z,0')],
    ['a negative id', b64('2026-11-03T12:00:00.000000Z,-5')],
    ['an id past 2^53', b64('2026-11-03T12:00:00.000000Z,9007199254740993')],
    ['trailing SQL', b64("2026-11-03T12:00:00.000000Z,1'); drop table usage_logs; --")],
    ['padding the API never writes', `${b64('2026-11-03T12:00:00.000000Z,12')}=`],
  ])('refuses %s with a 400 naming cursor', (_, cursor) => {
    let thrown: unknown;
    try {
      decodeCursor(cursor);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(GatewayError);
    expect(thrown).toMatchObject({ status: 400, param: 'cursor' });
    expect((thrown as Error).message).toMatch(/^Invalid query parameter 'cursor': /);
  });
});
