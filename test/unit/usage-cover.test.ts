// A report's range cut into parts (src/db/usage-cover.ts): every instant inside [from, to) is counted
// exactly once over the signed parts, every instant outside it zero times, whichever way each edge is
// read; and an edge is read the cheaper way.
import { describe, expect, it } from 'vitest';
import { cover, DAY_MS, HOUR_MS, type Part } from '../../src/db/usage-cover.ts';

const LEVELS = [DAY_MS, HOUR_MS];
const T = Date.UTC(2026, 10, 7, 0, 0, 0);

/** How many times the parts count instant `at`: + for a part added, − for one taken away. */
function counted(parts: Part[], at: number): number {
  let n = 0;
  for (const { range, sign } of parts) {
    const inside =
      (range.from === undefined || range.from.getTime() <= at) &&
      (range.to === undefined || at < range.to.getTime());
    if (inside) n += sign;
  }
  return n;
}

describe('cover', () => {
  it.each([
    ['ragged, aligned and open ranges of up to ten days', 10 * 86_400],
    ['ranges of up to two hours, most inside one hour or across one boundary', 7_200],
  ])('counts every instant of the range once and none outside it: %s', (_, seconds) => {
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 300; i++) {
      const from = T + random(40) * 3_600_000 + random(3_600_000);
      const to = from + random(seconds) * 1000 + (i % 5 === 0 ? 0 : random(1000));
      const now = i % 3 === 0 ? to - random(7_200_000) : to + random(3 * 86_400_000);
      const range = {
        from: i % 17 === 0 ? undefined : new Date(from),
        to: i % 19 === 0 ? undefined : new Date(to),
      };
      const parts = cover(range, LEVELS, now, 1);
      for (let j = 0; j < 200; j++) {
        const at = from - 2 * DAY_MS + random(14 * 86_400) * 1000 + random(1000);
        const inRange = (range.from === undefined || at >= from) && (range.to === undefined || at < to);
        expect(counted(parts, at), `range ${i}, instant ${new Date(at).toISOString()}`).toBe(inRange ? 1 : 0);
      }
      // whole units only above the last level: each layer is read on its own boundaries
      for (const { level, range: r } of parts)
        if (level < LEVELS.length)
          for (const edge of [r.from, r.to])
            if (edge) expect(edge.getTime() % (LEVELS[level] as number), `range ${i}`).toBe(0);
    }
  });

  it('reads the 30 days to now as whole days, 3 hours and 27 minutes of rows at the start, nothing at the end', () => {
    const now = Date.UTC(2026, 11, 7, 20, 33, 37, 331);
    const parts = cover({ from: new Date(now - 30 * DAY_MS), to: new Date(now + 1) }, LEVELS, now, 1);
    const at = (p: Part) => [p.level, p.sign, p.range.from?.toISOString(), p.range.to?.toISOString()];
    expect(parts.map(at)).toEqual([
      [0, 1, '2026-11-08T00:00:00.000Z', '2026-12-08T00:00:00.000Z'],
      [1, 1, '2026-11-07T21:00:00.000Z', '2026-11-08T00:00:00.000Z'],
      [2, 1, '2026-11-07T20:33:37.331Z', '2026-11-07T21:00:00.000Z'],
      // the rest of today, taken away: hours and rows that do not exist yet
      [1, -1, '2026-12-07T21:00:00.000Z', '2026-12-08T00:00:00.000Z'],
      [2, -1, '2026-12-07T20:33:37.332Z', '2026-12-07T21:00:00.000Z'],
    ]);
  });

  it('reads the last 45 minutes of an hour as the hour less its first 15 minutes of rows', () => {
    const now = Date.UTC(2026, 11, 7, 23, 14, 57);
    const parts = cover({ from: new Date(now - 30 * DAY_MS), to: undefined }, LEVELS, now, 1);
    const at = (p: Part) => [p.level, p.sign, p.range.from?.toISOString(), p.range.to?.toISOString()];
    expect(parts.map(at)).toEqual([
      [0, 1, '2026-11-08T00:00:00.000Z', undefined],
      [1, 1, '2026-11-07T23:00:00.000Z', '2026-11-08T00:00:00.000Z'],
      [2, -1, '2026-11-07T23:00:00.000Z', '2026-11-07T23:14:57.000Z'],
    ]);
  });
});
