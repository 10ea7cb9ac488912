// The reprice case of `npm run bench` (issue 23 item 4): the gateway's JSON latency on PostgreSQL with
// and without a large POST /admin/reprice running. Seeds BENCH_REPRICE_ROWS (100,000) usage rows with
// generate_series on the load's own budgeted keys (the insert triggers keep key_spend and the rollups
// as in production), backdates a corrected price over them, then runs the same JSON load twice: alone,
// and while the reprice corrects every seeded row. Target: p99 during the reprice within 2× alone.
import postgres from 'postgres';
import { request } from 'undici';
import { ADMIN_KEY } from './gateway.ts';
import { type LoadResult, type LoadTool, runLoad } from './load.ts';

const MODEL = 'bench/reprice:groq';
const KEYS = 8;

export type RepriceBench = {
  rows: number;
  connections: number;
  duration_s: number;
  alone: { p50_ms: number; p99_ms: number; rps: number; ok: number; failed: number };
  during: { p50_ms: number; p99_ms: number; rps: number; ok: number; failed: number };
  /** p99 during the reprice over p99 alone (target ≤ 2) */
  p99_ratio: number;
  /** how long the reprice took, and whether it outlasted the load (the load saw it all along) */
  reprice_s: number;
  covered_load: boolean;
  /** the reprice's own answer */
  answer: { status: number; rows_corrected: number | null; delta_usd: string | null };
};

const admin = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };

async function call(base: string, method: string, path: string, body: unknown) {
  const res = await request(`${base}${path}`, {
    method,
    headers: admin,
    body: JSON.stringify(body),
    // a large reprice answers when it is done
    headersTimeout: 900_000,
  });
  const text = await res.body.text();
  return { status: res.statusCode, json: JSON.parse(text) as Record<string, unknown> };
}

/** Seeds `rows` rows a day old on `keyIds`, priced 10× too high, in chunks of 50,000. */
async function seed(databaseUrl: string, keyIds: string[], rows: number, at: Date): Promise<void> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  // our own key ids (key_ + base62): safe to write into the statement
  if (!keyIds.every((id) => /^[A-Za-z0-9_-]+$/.test(id))) throw new Error('unexpected key id');
  const ids = `array[${keyIds.map((id) => `'${id}'`).join(', ')}]`;
  try {
    for (let first = 1; first <= rows; first += 50_000) {
      const last = Math.min(rows, first + 49_999);
      await sql.unsafe(
        `insert into usage_logs (request_id, created_at, api_key_id, provider, model, upstream_model, served_by,
           endpoint, stream, status, http_status, prompt_tokens, completion_tokens, total_tokens, usage_source,
           input_token_cost, output_token_cost, pricing_source, cost_input, cost_output, cost_total, latency_ms)
         select 'req_reprice_' || g, $1::timestamptz + g * interval '1 ms', (${ids})[1 + g % ${keyIds.length}], 'huggingface',
           $2, $2, 'groq', 'chat.completions', false, 'ok', 200, 1000, 500, 1500, 'upstream',
           0.00001, 0.00003, 'db:exact', 0.01, 0.015, 0.025, 100
         from generate_series($3::int, $4::int) g`,
        [at.toISOString(), MODEL, first, last],
      );
    }
    await sql`vacuum analyze usage_logs`;
  } finally {
    await sql.end();
  }
}

const figures = (r: LoadResult) => ({
  p50_ms: r.p50_ms,
  p99_ms: r.p99_ms,
  rps: r.rps,
  ok: r.ok,
  failed: r.failed,
});

export async function benchReprice({
  base,
  databaseUrl,
  tool,
  rows,
  connections,
  durationS,
  body,
  progress,
}: {
  /** the gateway on PostgreSQL */
  base: string;
  databaseUrl: string;
  tool: LoadTool;
  rows: number;
  connections: number;
  durationS: number;
  /** the JSON request the load sends */
  body: string;
  progress: (line: string) => void;
}): Promise<RepriceBench> {
  const keys: Array<{ id: string; key: string }> = [];
  for (let i = 0; i < KEYS; i++) {
    const created = await call(base, 'POST', '/admin/keys', {
      name: `reprice-${i}`,
      monthly_budget_usd: '1000000',
    });
    if (created.status !== 201) throw new Error(`POST /admin/keys answered ${created.status}`);
    keys.push(created.json as { id: string; key: string });
  }
  const from = new Date(Date.now() - 26 * 3_600_000);
  const wrong = { model_name: MODEL, effective_from: from.toISOString() };
  await call(base, 'PUT', '/admin/pricing', {
    ...wrong,
    input_token_cost: '0.00001',
    output_token_cost: '0.00003',
  });
  progress(`reprice: seeding ${rows.toLocaleString('en-US')} usage rows`);
  await seed(
    databaseUrl,
    keys.map((k) => k.id),
    rows,
    new Date(from.getTime() + 60_000),
  );
  await call(base, 'PUT', '/admin/pricing', {
    ...wrong,
    input_token_cost: '0.000001',
    output_token_cost: '0.000003',
  });

  const load = (seconds: number) =>
    runLoad(tool, {
      url: `${base}/v1/chat/completions`,
      connections,
      durationS: seconds,
      body,
      headers: { 'content-type': 'application/json' },
      keys: keys.map((k) => k.key),
    });
  await load(2);
  progress(`reprice: JSON c=${connections} alone`);
  const alone = await load(durationS);

  progress(
    `reprice: JSON c=${connections} while POST /admin/reprice corrects ${rows.toLocaleString('en-US')} rows`,
  );
  const started = performance.now();
  let ended = 0;
  const reprice = call(base, 'POST', '/admin/reprice', {
    from: from.toISOString(),
    to: new Date().toISOString(),
    model: MODEL,
  }).finally(() => {
    ended = performance.now();
  });
  const during = await load(durationS);
  const loadEnded = performance.now();
  const answer = await reprice;
  const repriceS = (ended - started) / 1000;
  progress(`reprice: ${answer.status} in ${repriceS.toFixed(1)} s`);
  return {
    rows,
    connections,
    duration_s: durationS,
    alone: figures(alone),
    during: figures(during),
    p99_ratio: during.p99_ms / alone.p99_ms,
    reprice_s: repriceS,
    covered_load: ended >= loadEnded,
    answer: {
      status: answer.status,
      rows_corrected: typeof answer.json.rows_corrected === 'number' ? answer.json.rows_corrected : null,
      delta_usd: typeof answer.json.delta_usd === 'string' ? answer.json.delta_usd : null,
    },
  };
}

/** The case's lines for the printed table. */
export function formatReprice(r: RepriceBench): string[] {
  const line = (what: string, f: RepriceBench['alone']) =>
    `  ${what.padEnd(16)} p50 ${f.p50_ms.toFixed(1).padStart(7)} ms  p99 ${f.p99_ms.toFixed(1).padStart(7)} ms  ${f.rps.toFixed(0).padStart(6)} req/s  ${f.failed} failed`;
  return [
    `Metering during POST /admin/reprice of ${r.rows.toLocaleString('en-US')} rows (PostgreSQL, JSON c=${r.connections}, ${r.duration_s} s each):`,
    line('alone', r.alone),
    line('during reprice', r.during),
    `  p99 during / alone: ${r.p99_ratio.toFixed(2)}× (target ≤ 2×); the reprice answered ${r.answer.status} ` +
      `in ${r.reprice_s.toFixed(1)} s (${r.answer.rows_corrected ?? '?'} rows corrected, delta ${r.answer.delta_usd ?? '?'} USD)` +
      `${r.covered_load ? '' : '; it ended before the load did: part of the load ran without it'}`,
  ];
}
