/** @jsxImportSource hono/jsx */
// The usage log: a page of rows, what matters first. Time, status, cost and tokens lead, so they stay
// in view at 1280 px; the request id comes last, shortened, whole in its title and one click to copy.
import { DEFAULT_ENDPOINT } from '../endpoints/registry.ts';
import type { UsageRow } from '../services/reports/usage-report.ts';
import { number, usd } from './parts.tsx';

/** characters of a request id the cell shows */
const SHORT_ID = 12;

export function UsageLog({ rows, keyName }: { rows: UsageRow[]; keyName: (id: string | null) => string }) {
  return (
    <div class="scroll">
      <table class="log">
        <thead>
          <tr>
            <th>Time (UTC)</th>
            <th>Status</th>
            <th class="num">Cost</th>
            <th class="num">Prompt</th>
            <th class="num">Completion</th>
            <th>Model · served by</th>
            <th>Key · end user · tags</th>
            <th class="num">$/token · pricing</th>
            <th>Request</th>
          </tr>
        </thead>
        <tbody>
          {rows.length === 0 ? (
            <tr>
              <td colspan={9} class="muted">
                No requests in this selection.
              </td>
            </tr>
          ) : (
            rows.map((row) => <LogRow row={row} keyName={keyName} />)
          )}
        </tbody>
      </table>
    </div>
  );
}

function LogRow({ row, keyName }: { row: UsageRow; keyName: (id: string | null) => string }) {
  const shortId = row.request_id.length > SHORT_ID ? `${row.request_id.slice(0, SHORT_ID)}…` : row.request_id;
  return (
    <tr>
      <td>{row.created_at.replace('T', ' ').slice(0, 19)}</td>
      <td>
        <span class={`badge ${row.status === 'ok' ? 'ok' : 'bad'}`}>{row.status}</span>
      </td>
      <td class="num mono cost">{usd(row.cost_total)}</td>
      <td class="num">
        {number(row.prompt_tokens)}
        {row.cached_tokens ? <div class="muted sub">{number(row.cached_tokens)} cached</div> : null}
      </td>
      <td class="num">
        {number(row.completion_tokens)}
        {row.reasoning_tokens ? <div class="muted sub">{number(row.reasoning_tokens)} reasoning</div> : null}
      </td>
      <td class="wrap">
        {row.model}
        {row.served_by ? <div class="muted sub">via {row.served_by}</div> : null}
        {row.endpoint !== DEFAULT_ENDPOINT ? <div class="muted sub">{row.endpoint}</div> : null}
      </td>
      <td class="wrap">
        {keyName(row.api_key_id)}
        {row.end_user ? <div class="sub">{row.end_user}</div> : null}
        {row.tags.length > 0 ? (
          <div class="sub">
            {row.tags.map((tag) => (
              <span class="tag">{tag}</span>
            ))}
          </div>
        ) : null}
      </td>
      <td class="num mono prices">
        <div>in {row.input_token_cost}</div>
        <div class="muted">cached {row.cached_input_token_cost ?? row.input_token_cost}</div>
        <div>out {row.output_token_cost}</div>
        <div class="muted">
          {row.pricing_source}
          {row.usage_source === 'estimated' ? ' · estimated' : ''}
        </div>
      </td>
      <td class="mono request">
        <span title={row.request_id}>{shortId}</span>{' '}
        <button type="button" class="copy" data-copy={row.request_id} aria-label={`copy ${row.request_id}`}>
          copy
        </button>
      </td>
    </tr>
  );
}
