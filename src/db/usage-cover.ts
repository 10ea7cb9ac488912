// How a report's time range is read: whole units of a rollup layer, and the partial units at its edges
// either one level finer or as the whole unit less its outside (usage-sources.ts turns the parts into SQL).
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
const floorTo = (at: Date, unit: number) => new Date(Math.floor(at.getTime() / unit) * unit);
const ceilTo = (at: Date, unit: number) => new Date(Math.ceil(at.getTime() / unit) * unit);

export type Range = { from: Date | undefined; to: Date | undefined };
/** A range read at one level (a layer of the rollup, or usage_logs itself), added or taken away. */
export type Part = { level: number; range: Range; sign: 1 | -1 };

/**
 * [from, to) as parts read at `levels` (coarsest first; past the last level, usage_logs). Whole units
 * of the level are read from it; a partial unit at either edge is read at the next level, OR, when
 * that reads less, as the whole unit taken from this level less what lies outside the range, read at
 * the next level: every figure is a sum, so a day less its first three hours is the rest of the day
 * exactly, and a group with no row left in range sums to zero requests (the groups query drops it).
 * Outside the range at the end, only the part before `now` costs anything (a range that ends now
 * takes its last day whole, less hours that hold no row yet). At 10 M rows, the summary of the 30
 * days to now read ~20 hours of hourly rows and ~4,600 rows of usage_logs at its edges; now it reads
 * 3 hours and under half an hour of rows, and none at the end that is now.
 */
export function cover(range: Range, levels: readonly number[], now: number, sign: 1 | -1, level = 0): Part[] {
  const unit = levels[level];
  const { from, to } = range;
  if (unit === undefined) return [{ level, range, sign }];
  const wholeFrom = from ? ceilTo(from, unit) : undefined;
  const wholeTo = to ? floorTo(to, unit) : undefined;
  const ms = (a: Date, b: number) => Math.max(0, b - a.getTime());
  if (from && to && wholeFrom && wholeTo && wholeFrom >= wholeTo) {
    // no whole unit inside: inside a single one, it may still read less as that unit less both outsides
    const unitFrom = floorTo(from, unit);
    const unitTo = ceilTo(to, unit);
    const outside = ms(unitFrom, Math.min(from.getTime(), now)) + ms(to, Math.min(unitTo.getTime(), now));
    if (unitTo.getTime() - unitFrom.getTime() !== unit || outside >= ms(from, Math.min(to.getTime(), now)))
      return cover(range, levels, now, sign, level + 1);
    const less = -sign as 1 | -1;
    return [
      { level, range: { from: unitFrom, to: unitTo }, sign },
      ...(unitFrom < from ? cover({ from: unitFrom, to: from }, levels, now, less, level + 1) : []),
      ...(to < unitTo ? cover({ from: to, to: unitTo }, levels, now, less, level + 1) : []),
    ];
  }
  const parts: Part[] = [];
  const whole: Range = { from: wholeFrom, to: wholeTo };
  if (from && wholeFrom && from < wholeFrom) {
    const unitFrom = floorTo(from, unit);
    if (ms(unitFrom, Math.min(from.getTime(), now)) < ms(from, wholeFrom.getTime())) {
      whole.from = unitFrom;
      parts.push(...cover({ from: unitFrom, to: from }, levels, now, -sign as 1 | -1, level + 1));
    } else parts.push(...cover({ from, to: wholeFrom }, levels, now, sign, level + 1));
  }
  if (to && wholeTo && wholeTo < to) {
    const unitTo = ceilTo(to, unit);
    if (ms(to, Math.min(unitTo.getTime(), now)) < ms(wholeTo, to.getTime())) {
      whole.to = unitTo;
      parts.push(...cover({ from: to, to: unitTo }, levels, now, -sign as 1 | -1, level + 1));
    } else parts.push(...cover({ from: wholeTo, to }, levels, now, sign, level + 1));
  }
  return [{ level, range: whole, sign }, ...parts];
}
