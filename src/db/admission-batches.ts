// A key's admissions, batched (drizzle/0025): every request of one key takes the same hot rows, so while
// a call for a key is in flight its next requests wait and then go together in one call, one transaction
// and one commit (tollgate_admit_batch: each decided as alone, in order). A key with one request at a
// time pays nothing more: its call goes at once. One key per batch, so a batch takes the rows in the
// order a single request takes them.
import type { Database, Parameter } from './client.ts';
import type { AdmitInput, AdmitResult } from './limits-repo.ts';
import { arrayText } from './usage-insert.ts';

const COLUMNS = `outcome, amount, spent, key_reserved, account_amount, balance, account_reserved, credit_limit,
  account_budget, account_budget_period, account_spent, account_budget_reserved, requests, tokens::text as tokens`;
// fixed texts, prepared once per connection
const ONE = `select ${COLUMNS} from tollgate_admit($1, $2, $3::date, $4::numeric, $5::numeric, $6::boolean,
  $7::numeric, $8, $9::numeric, $10::timestamptz, $11::bigint, $12::int, $13::bigint)`;
const MANY = `select ord, ${COLUMNS} from tollgate_admit_batch($1::text[], $2, $3::date[], $4::numeric[],
  $5::numeric[], $6::boolean[], $7::numeric[], $8::text[], $9::numeric[], $10::timestamptz[], $11::bigint[],
  $12::int[], $13::bigint[]) order by ord`;

/** most requests in one call: a batch holds its key's rows until it commits */
const MOST = 64;

type Row = Omit<AdmitResult, 'tokens'> & { tokens: string | null };
type Waiting = { input: AdmitInput; resolve: (result: AdmitResult) => void; reject: (err: unknown) => void };

/** per database, the keys with a call in flight and the requests waiting for it to end */
const lanes = new WeakMap<Database, Map<string, Waiting[]>>();

/** tollgate_admit's parameters, in its order */
function parameters(r: AdmitInput): Parameter[] {
  return [
    r.id,
    r.keyId,
    r.period,
    r.amount,
    r.floor,
    r.trackKey,
    r.budget,
    r.account?.id ?? null,
    r.account?.markup ?? null,
    r.rate?.windowStart.toISOString() ?? null,
    r.rate?.tokens ?? null,
    r.rate?.rpm ?? null,
    r.rate?.tpm ?? null,
  ];
}

const resultOf = (row: Row): AdmitResult => ({
  ...row,
  tokens: row.tokens === null ? null : Number(row.tokens),
});

async function call(database: Database, inputs: readonly AdmitInput[]): Promise<AdmitResult[]> {
  const [first] = inputs;
  if (inputs.length === 1 && first) {
    const [row] = await database.query<Row>(ONE, parameters(first));
    if (!row) throw new Error('tollgate_admit returned nothing');
    return [resultOf(row)];
  }
  const columns = inputs.map(parameters);
  // one array per parameter; the key (the same for all, index 1) once
  const params = (columns[0] ?? []).map((value, i) =>
    i === 1 ? value : arrayText(columns.map((c) => (c[i] === null ? null : String(c[i])))),
  );
  const rows = await database.query<Row>(MANY, params);
  if (rows.length !== inputs.length) throw new Error(`tollgate_admit_batch returned ${rows.length} rows`);
  return rows.map(resultOf);
}

/** A data or integrity error is a request's own (its values): its batch's others are tried alone. */
const ownError = (err: unknown) => /^2[23]/.test(String((err as { code?: unknown }).code ?? ''));

/** Decides each of the batch's requests; never throws (a failure is each request's rejection). */
async function settle(database: Database, batch: readonly Waiting[]): Promise<void> {
  try {
    const results = await call(
      database,
      batch.map((w) => w.input),
    );
    for (const [i, w] of batch.entries()) w.resolve(results[i] as AdmitResult);
  } catch (err) {
    if (batch.length === 1 || !ownError(err)) for (const w of batch) w.reject(err);
    else
      for (const w of batch)
        await call(database, [w.input]).then(([result]) => w.resolve(result as AdmitResult), w.reject);
  }
}

/** Sends the key's batches one after another until none is waiting. */
async function drain(database: Database, keys: Map<string, Waiting[]>, keyId: string, first: Waiting[]) {
  let batch = first;
  while (batch.length > 0) {
    await settle(database, batch);
    const waiting = keys.get(keyId) ?? [];
    keys.set(keyId, waiting.slice(MOST));
    batch = waiting.slice(0, MOST);
  }
  keys.delete(keyId);
}

/** One request's admission: at once when its key has no call in flight, else in the key's next batch. */
export function admitBatched(database: Database, input: AdmitInput): Promise<AdmitResult> {
  let keys = lanes.get(database);
  if (!keys) {
    keys = new Map();
    lanes.set(database, keys);
  }
  const lane = keys.get(input.keyId);
  return new Promise<AdmitResult>((resolve, reject) => {
    const waiting = { input, resolve, reject };
    if (lane) lane.push(waiting);
    else {
      keys.set(input.keyId, []);
      void drain(database, keys, input.keyId, [waiting]);
    }
  });
}
