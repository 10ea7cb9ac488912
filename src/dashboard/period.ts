// The dashboard's period picker: named ranges in UTC, or a custom range of dates.
export type PeriodName = 'today' | '7d' | '30d' | 'month' | 'custom';

export type Period = { name: PeriodName; from: Date; to: Date; label: string; bucket: 'hour' | 'day' };

const DAY = 86_400_000;

const startOfDay = (d: Date) => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
const iso = (d: Date) => d.toISOString().slice(0, 10);

/** `custom` takes YYYY-MM-DD dates, `to` inclusive (the whole day); named ranges end now. */
export function resolvePeriod(
  name: PeriodName,
  now: Date,
  custom: { from?: string; to?: string } = {},
): Period {
  const end = new Date(now.getTime() + 1); // inclusive of this instant
  let from: Date;
  let to = end;
  switch (name) {
    case 'today':
      from = startOfDay(now);
      break;
    case '30d':
      from = new Date(startOfDay(now).getTime() - 29 * DAY);
      break;
    case 'month':
      from = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
      break;
    case 'custom': {
      from = custom.from
        ? new Date(`${custom.from}T00:00:00Z`)
        : new Date(startOfDay(now).getTime() - 6 * DAY);
      to = custom.to ? new Date(new Date(`${custom.to}T00:00:00Z`).getTime() + DAY) : end;
      break;
    }
    default:
      from = new Date(startOfDay(now).getTime() - 6 * DAY);
  }
  const bucket = to.getTime() - from.getTime() <= 2 * DAY ? 'hour' : 'day';
  const label = `${iso(from)} – ${iso(new Date(to.getTime() - 1))} UTC`;
  return { name, from, to, label, bucket };
}

/** Every bucket start in the period (ISO, UTC), so a chart shows quiet days as zero, not as nothing. */
export function bucketStarts(period: Period): string[] {
  const step = period.bucket === 'hour' ? 3_600_000 : DAY;
  const first = Math.floor(period.from.getTime() / step) * step;
  const starts: string[] = [];
  for (let t = first; t < period.to.getTime() && starts.length < 1000; t += step)
    starts.push(new Date(t).toISOString());
  return starts;
}
