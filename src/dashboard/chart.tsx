/** @jsxImportSource hono/jsx */
// Cost and tokens per bucket as an SVG bar chart drawn on the server. Bar heights come from exact
// decimals (a share in per-mille), so a chart never rounds money through a float.
import { parseDecimal } from '../billing/money.ts';
import type { SummaryGroup } from '../services/reports/usage-report.ts';

const WIDTH = 960;
const HEIGHT = 220;
const PAD = { top: 12, right: 12, bottom: 28, left: 12 };

/** part / whole in per-mille (0–1000), exactly. */
export function perMille(part: string, whole: string): number {
  const w = parseDecimal(whole);
  return w <= 0n ? 0 : Number((parseDecimal(part) * 1000n) / w);
}

export function BarChart({ groups, bucket }: { groups: SummaryGroup[]; bucket: 'hour' | 'day' }) {
  if (groups.length === 0) return <p class="muted">No requests in this period.</p>;
  const maxCost = groups.reduce((m, g) => (parseDecimal(g.cost_usd) > parseDecimal(m) ? g.cost_usd : m), '0');
  const maxTokens = Math.max(...groups.map((g) => g.total_tokens), 1);
  const inner = { w: WIDTH - PAD.left - PAD.right, h: HEIGHT - PAD.top - PAD.bottom };
  const slot = inner.w / groups.length;
  const bar = Math.max(2, Math.min(40, slot * 0.6));
  const labelEvery = Math.ceil(groups.length / 12);
  return (
    <figure class="chart">
      <svg
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        role="img"
        aria-label={`Cost per ${bucket}`}
        preserveAspectRatio="none"
      >
        <line
          x1={PAD.left}
          x2={WIDTH - PAD.right}
          y1={HEIGHT - PAD.bottom}
          y2={HEIGHT - PAD.bottom}
          class="axis"
        />
        {groups.map((g, i) => {
          const x = PAD.left + i * slot + (slot - bar) / 2;
          const h = (perMille(g.cost_usd, maxCost) / 1000) * inner.h;
          const t = (g.total_tokens / maxTokens) * inner.h;
          const label = bucket === 'hour' ? g.group.slice(11, 16) : g.group.slice(5, 10);
          return (
            <g>
              <rect x={x} y={HEIGHT - PAD.bottom - h} width={bar} height={Math.max(h, 1)} class="cost">
                <title>{`${g.group.replace('T', ' ').slice(0, 16)} UTC: $${g.cost_usd}, ${g.total_tokens} tokens, ${g.requests} requests`}</title>
              </rect>
              <circle cx={x + bar / 2} cy={HEIGHT - PAD.bottom - t} r={3} class="tokens" />
              {i % labelEvery === 0 ? (
                <text x={x + bar / 2} y={HEIGHT - 8} text-anchor="middle">
                  {label}
                </text>
              ) : null}
            </g>
          );
        })}
      </svg>
      <figcaption>
        <span class="swatch cost" /> cost (max ${maxCost}) <span class="swatch tokens" /> tokens (max{' '}
        {maxTokens.toLocaleString('en-US')})
      </figcaption>
    </figure>
  );
}
