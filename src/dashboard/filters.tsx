/** @jsxImportSource hono/jsx */
// The filters form: period, model, key, status, endpoint, served_by, end user and tag. A GET form, so
// a selection is a URL that can be bookmarked and shared.
import type { KeyWithSpend } from '../services/admission/keys.ts';
import type { Period, PeriodName } from './period.ts';

export type FilterValues = Partial<
  Record<'model' | 'key_id' | 'status' | 'endpoint' | 'served_by' | 'user' | 'tag', string | undefined>
>;

const PERIODS: Array<[PeriodName, string]> = [
  ['today', 'Today'],
  ['7d', 'Last 7 days'],
  ['30d', 'Last 30 days'],
  ['month', 'This month'],
  ['custom', 'Custom range'],
];

function Choice({
  label,
  name,
  all,
  options,
  selected,
}: {
  label: string;
  name: string;
  /** the option that means no filter; none for a choice that must be made */
  all?: string;
  options: Array<[string, string]>;
  selected: string | undefined;
}) {
  return (
    <label>
      {label}
      <select name={name}>
        {all === undefined ? null : <option value="">{all}</option>}
        {options.map(([value, text]) => (
          <option value={value} selected={selected === value}>
            {text}
          </option>
        ))}
      </select>
    </label>
  );
}

export function FiltersForm({
  period,
  filters,
  models,
  endpoints,
  tags,
  keys,
}: {
  period: Period;
  filters: FilterValues;
  models: string[];
  /** the registered endpoints' names (src/endpoints/registry.ts) */
  endpoints: string[];
  tags: string[];
  keys: KeyWithSpend[];
}) {
  const pairs = (values: string[]): Array<[string, string]> => values.map((v) => [v, v]);
  return (
    <form class="filters" method="get" action="/dashboard">
      <Choice label="Period" name="period" options={PERIODS} selected={period.name} />
      <label>
        From <input type="date" name="from" value={period.from.toISOString().slice(0, 10)} />
      </label>
      <label>
        To{' '}
        <input type="date" name="to" value={new Date(period.to.getTime() - 1).toISOString().slice(0, 10)} />
      </label>
      <Choice label="Model" name="model" all="All models" options={pairs(models)} selected={filters.model} />
      <Choice
        label="Key"
        name="key_id"
        all="All keys"
        options={[
          ['master', 'master (admin key)'],
          ...keys.map((k): [string, string] => [k.id, `${k.name} (${k.key_prefix}…)`]),
        ]}
        selected={filters.key_id}
      />
      <Choice
        label="Status"
        name="status"
        all="Any status"
        options={pairs(['ok', 'upstream_error', 'client_aborted', 'gateway_error'])}
        selected={filters.status}
      />
      <Choice
        label="Endpoint"
        name="endpoint"
        all="Any endpoint"
        options={pairs(endpoints)}
        selected={filters.endpoint}
      />
      <label>
        Served by
        <input name="served_by" value={filters.served_by ?? ''} placeholder="any provider" maxlength={512} />
      </label>
      <label>
        End user
        <input name="user" value={filters.user ?? ''} placeholder="any end user" maxlength={256} />
      </label>
      <Choice label="Tag" name="tag" all="Any tag" options={pairs(tags)} selected={filters.tag} />
      <button type="submit">Apply</button>
    </form>
  );
}
