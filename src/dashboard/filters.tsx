/** @jsxImportSource hono/jsx */
// The filters form: period, model, key, status, endpoint, served_by, end user and tag. A GET form, so
// a selection is a URL that can be bookmarked and shared. Model, key, end user and tag can have any
// number of values: they are text inputs suggesting the top few, never a list of every value.
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

/** A value the filter can take and how the suggestion reads ('' for the value itself). */
export type Suggestion = [value: string, label: string];

/** The top values of each high-cardinality filter, by cost in the selected period. */
export type Suggestions = Record<'model' | 'key_id' | 'user' | 'tag', Suggestion[]>;

/** The free-text filters' fixed text: what an empty input says and the longest value (characters). */
const SEARCHES: Record<keyof Suggestions, { label: string; placeholder: string; maxlength: number }> = {
  model: { label: 'Model', placeholder: 'all models', maxlength: 512 },
  key_id: { label: 'Key', placeholder: 'all keys (id or master)', maxlength: 512 },
  user: { label: 'End user', placeholder: 'any end user', maxlength: 256 },
  tag: { label: 'Tag', placeholder: 'any tag', maxlength: 64 },
};

/**
 * A free-text filter with a `<datalist>` of the top values: any value can be typed, and the page
 * stays the same size however many distinct values the ledger holds.
 */
function Search({
  name,
  suggestions,
  value,
}: {
  name: keyof Suggestions;
  suggestions: Suggestion[];
  value: string | undefined;
}) {
  const { label, placeholder, maxlength } = SEARCHES[name];
  const list = `${name}-values`;
  return (
    <label>
      {label}
      <input
        name={name}
        value={value ?? ''}
        placeholder={placeholder}
        maxlength={maxlength}
        list={list}
        autocomplete="off"
      />
      <datalist id={list}>
        {suggestions.map(([option, text]) => (
          <option value={option}>{text || null}</option>
        ))}
      </datalist>
    </label>
  );
}

export function FiltersForm({
  period,
  filters,
  suggestions,
  endpoints,
}: {
  period: Period;
  filters: FilterValues;
  suggestions: Suggestions;
  /** the registered endpoints' names (src/endpoints/registry.ts) */
  endpoints: string[];
}) {
  const pairs = (values: string[]): Array<[string, string]> => values.map((v) => [v, v]);
  const search = (name: keyof Suggestions) => (
    <Search name={name} suggestions={suggestions[name]} value={filters[name]} />
  );
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
      {search('model')}
      {search('key_id')}
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
      {search('user')}
      {search('tag')}
      <button type="submit">Apply</button>
    </form>
  );
}
