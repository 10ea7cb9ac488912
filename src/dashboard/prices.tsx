/** @jsxImportSource hono/jsx */
// The dashboard's price panel: each current price with the admin, catalog and env versions of the same
// name side by side (an admin version always wins), the full history below, and the warning shown
// when requests were priced by a guess.
import type { CurrentPriceView, PriceView } from '../services/pricing/pricing.ts';

const SOURCES = ['admin', 'catalog', 'env'] as const;

/** "in · cached · out", or "—" when that source has no version in effect for the name. */
function unitPrices(p: PriceView | null) {
  if (!p) return <span class="muted">—</span>;
  if (p.retired) return <span class="muted">retired</span>;
  return `${p.input_token_cost} · ${p.cached_input_token_cost ?? p.input_token_cost} · ${p.output_token_cost}`;
}

export function PricePanel({ prices, history }: { prices: CurrentPriceView[]; history: PriceView[] }) {
  return (
    <section class="panel" id="prices">
      <h2>Prices (USD per token: input · cached input · output)</h2>
      <div class="scroll">
        <table>
          <thead>
            <tr>
              <th>Model</th>
              <th>Applied</th>
              {SOURCES.map((s) => (
                <th class="num">{s}</th>
              ))}
              <th>Since</th>
            </tr>
          </thead>
          <tbody>
            {prices.map((p) => (
              <tr data-model={p.model_name}>
                <td class="name">{p.model_name}</td>
                <td data-source={p.source}>{p.source}</td>
                {SOURCES.map((s) => (
                  <td class="num mono price" data-column={s}>
                    {unitPrices(p.sources[s])}
                  </td>
                ))}
                <td class="date">{p.effective_from.slice(0, 10)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <details>
        <summary>
          History ({history.length} {history.length === 1 ? 'version' : 'versions'})
        </summary>
        <div class="scroll">
          <table>
            <tbody>
              {history.map((p) => (
                <tr>
                  <td class="mono">#{p.id}</td>
                  <td class="name">{p.model_name}</td>
                  <td class="num mono">{unitPrices(p)}</td>
                  <td>{p.source}</td>
                  <td class="date">{p.effective_from.replace('T', ' ').slice(0, 16)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </section>
  );
}

/** Shown above the totals when some requests had no price of their own. */
export function UnpricedWarning({ count }: { count: number }) {
  if (count === 0) return null;
  return (
    <p class="error" role="alert" id="unpriced-warning">
      {count === 1 ? '1 request was' : `${count} requests were`} priced by a guess (no price for the model:
      the env or built-in price applied). Set a price with PUT /admin/pricing or run npm run pricing:sync,
      then correct the past with POST /admin/reprice.
    </p>
  );
}
