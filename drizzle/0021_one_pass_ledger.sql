-- Issue 28: a usage row's write at a fraction of the database CPU. Until now an INSERT into usage_logs ran six
-- statement triggers (four rollups, the spend, the account charge), and each rollup's upsert ran a trigger
-- on its hourly table for the daily twin: ten plpgsql calls and four transition tables captured from the
-- rollups' own upserts, per statement. Now ONE trigger per operation does the same in one function, the
-- daily rollups written directly beside their hourly ones, and skips the spend and the account charge
-- when no row of the statement has a key, a reservation or an account. Corrections write the daily
-- layer directly too, so the hourly tables' triggers go. Replaces functions and triggers only: no data
-- is rewritten; the rollups stay as exact as before (same sums, same transaction).
-- Lock order (unchanged; the recorder, a reprice and an update or delete of rows take the rollups in
-- the same order, so none deadlocks another): usage_hourly, usage_daily, usage_hourly_routes,
-- usage_daily_routes, usage_hourly_tags, usage_daily_tags, usage_hourly_users, usage_daily_users, then
-- budget_reservations and key_spend, account_balance, account_spend.
-- Triggers are on the partitioned parent, statement-level: they fire for every partition, those created
-- later by tollgate_ensure_usage_partition included, and not for statements naming a partition (the
-- archive's restore and the partition moves, as before).
--
-- Indexes of usage_logs (unchanged), each with the queries that need it:
--   usage_logs_pkey (id, created_at): the archive reads a month's partition in id order (services/ledger/archive.ts)
--   usage_logs_request_id (request_id, created_at): the recorder's ON CONFLICT (a replay counts once);
--     corrections, reprice, statements join rows by request_id
--   usage_logs_created_at (created_at DESC, id DESC): /usage/logs newest first and its cursor, reports
--     and /usage/summary's edges over a time range, the reprice window (usage-repo, usage-sources,
--     corrections-repo)
--   usage_logs_key_created_at (api_key_id, created_at): /usage/logs and reports for one key (admin
--     rows: api_key_id IS NULL), a reprice of one key, key self-service
--   usage_logs_model_created_at (model, created_at): /usage/logs and reports for one model, a reprice
--     of one model
--   usage_logs_end_user_created_at (partial, end_user IS NOT NULL): /usage/logs?user=
--   usage_logs_account_created_at (partial, account_id IS NOT NULL): account statements, balances,
--     an account's usage (statements-repo, grants-repo, accounts-repo)
--   usage_logs_tags (GIN): /usage/logs?tag= and reports by tag (tags @> array[tag])
-- Every one has a reader, so none is dropped. (A partial GIN index, tags IS NOT NULL, measured no
-- different per row within the noise of a shared machine: GIN's pending list makes an untagged row's
-- entry cheap, and rebuilding the index here would hold the recorder for the build on a large ledger.)
-- The rows' write cost is in the statement and its triggers, not in these indexes: with the triggers
-- off, dropping the six secondary indexes changed nothing measurable either.
--
-- 1. INSERT: every rollup, the spend and the reservations, the account charge, in one pass.
-- Each rollup is written for its hour and then for its day from one template (__LAYER__ hourly or
-- daily, __GRAIN__ hour or day): the two statements of a pair differ in nothing else.
DO $do$
DECLARE
  rollups text[] := ARRAY[
    $r$
  INSERT INTO usage___LAYER__ AS u
    (__GRAIN__, api_key_id, model, status, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests, charge_usd)
  SELECT date_trunc('__GRAIN__', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', coalesce(api_key_id, ''), model, status,
         count(*), sum(prompt_tokens), sum(completion_tokens), sum(total_tokens), sum(cost_total),
         count(*) FILTER (WHERE pricing_source IN ('env', 'builtin')), sum(coalesce(charge_usd, cost_total * markup))
  FROM new_rows GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (__GRAIN__, api_key_id, model, status) DO UPDATE
    SET requests = u.requests + excluded.requests, prompt_tokens = u.prompt_tokens + excluded.prompt_tokens,
        completion_tokens = u.completion_tokens + excluded.completion_tokens,
        total_tokens = u.total_tokens + excluded.total_tokens, cost_usd = u.cost_usd + excluded.cost_usd,
        unpriced_requests = u.unpriced_requests + excluded.unpriced_requests, charge_usd = u.charge_usd + excluded.charge_usd;
$r$,
    $r$
  INSERT INTO usage___LAYER___routes AS u
    (__GRAIN__, endpoint, served_by, model, status, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests, charge_usd)
  SELECT date_trunc('__GRAIN__', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', endpoint, coalesce(served_by, ''), model, status,
         count(*), sum(prompt_tokens), sum(completion_tokens), sum(total_tokens), sum(cost_total),
         count(*) FILTER (WHERE pricing_source IN ('env', 'builtin')), sum(coalesce(charge_usd, cost_total * markup))
  FROM new_rows GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
  ON CONFLICT (__GRAIN__, endpoint, served_by, model, status) DO UPDATE
    SET requests = u.requests + excluded.requests, prompt_tokens = u.prompt_tokens + excluded.prompt_tokens,
        completion_tokens = u.completion_tokens + excluded.completion_tokens,
        total_tokens = u.total_tokens + excluded.total_tokens, cost_usd = u.cost_usd + excluded.cost_usd,
        unpriced_requests = u.unpriced_requests + excluded.unpriced_requests, charge_usd = u.charge_usd + excluded.charge_usd;
$r$,
    -- a row counts once under each distinct tag of its own, under '' when it has none
    $r$
  INSERT INTO usage___LAYER___tags AS u
    (__GRAIN__, tag, api_key_id, model, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests, charge_usd)
  SELECT date_trunc('__GRAIN__', r.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', t.tag, coalesce(r.api_key_id, ''), r.model,
         count(*), sum(r.prompt_tokens), sum(r.completion_tokens), sum(r.total_tokens), sum(r.cost_total),
         count(*) FILTER (WHERE r.pricing_source IN ('env', 'builtin')), sum(coalesce(r.charge_usd, r.cost_total * r.markup))
  FROM new_rows r
  CROSS JOIN LATERAL (SELECT DISTINCT x FROM unnest(CASE WHEN cardinality(r.tags) > 0 THEN r.tags ELSE ARRAY['']::text[] END) AS x) AS t(tag)
  GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (__GRAIN__, tag, api_key_id, model) DO UPDATE
    SET requests = u.requests + excluded.requests, prompt_tokens = u.prompt_tokens + excluded.prompt_tokens,
        completion_tokens = u.completion_tokens + excluded.completion_tokens,
        total_tokens = u.total_tokens + excluded.total_tokens, cost_usd = u.cost_usd + excluded.cost_usd,
        unpriced_requests = u.unpriced_requests + excluded.unpriced_requests, charge_usd = u.charge_usd + excluded.charge_usd;
$r$,
    $r$
  INSERT INTO usage___LAYER___users AS u
    (__GRAIN__, end_user, api_key_id, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests, charge_usd)
  SELECT date_trunc('__GRAIN__', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', coalesce(end_user, ''), coalesce(api_key_id, ''),
         count(*), sum(prompt_tokens), sum(completion_tokens), sum(total_tokens), sum(cost_total),
         count(*) FILTER (WHERE pricing_source IN ('env', 'builtin')), sum(coalesce(charge_usd, cost_total * markup))
  FROM new_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT (__GRAIN__, end_user, api_key_id) DO UPDATE
    SET requests = u.requests + excluded.requests, prompt_tokens = u.prompt_tokens + excluded.prompt_tokens,
        completion_tokens = u.completion_tokens + excluded.completion_tokens,
        total_tokens = u.total_tokens + excluded.total_tokens, cost_usd = u.cost_usd + excluded.cost_usd,
        unpriced_requests = u.unpriced_requests + excluded.unpriced_requests, charge_usd = u.charge_usd + excluded.charge_usd;
$r$
  ];
  pairs text := '';
  rollup text;
BEGIN
  FOREACH rollup IN ARRAY rollups LOOP
    pairs := pairs || replace(replace(rollup, '__LAYER__', 'hourly'), '__GRAIN__', 'hour') || E'\n'
                   || replace(replace(rollup, '__LAYER__', 'daily'), '__GRAIN__', 'day') || E'\n';
  END LOOP;
  EXECUTE replace($f$
CREATE OR REPLACE FUNCTION tollgate_ledger_insert() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  keyed boolean;
  charged boolean;
BEGIN
__PAIRS__
  -- a reservation is held for a key's request only (budget_reservations.api_key_id is NOT NULL) and the
  -- row says what it held: rows with neither a key nor a reservation have no spend to settle
  SELECT bool_or(api_key_id IS NOT NULL OR reserved_usd IS NOT NULL), bool_or(account_id IS NOT NULL)
    INTO keyed, charged FROM new_rows;

  -- 0011's tollgate_settle_spend: the rows' cost into key_spend, their reservations released
  IF keyed THEN
    WITH released AS (
      DELETE FROM budget_reservations r USING new_rows i
      WHERE r.id = i.request_id
      RETURNING r.api_key_id, r.period, r.amount
    ),
    spent AS (
      SELECT i.api_key_id, tollgate_period_start(coalesce(k.budget_period, 'month'), i.created_at) AS period,
             sum(i.cost_total) AS spent
      FROM new_rows i LEFT JOIN api_keys k ON k.id = i.api_key_id
      WHERE i.api_key_id IS NOT NULL
      GROUP BY 1, 2
    ),
    freed AS (SELECT api_key_id, period, sum(amount) AS freed FROM released GROUP BY 1, 2),
    settled AS (
      SELECT api_key_id, period, coalesce(s.spent, 0) AS spent, coalesce(f.freed, 0) AS freed
      FROM spent s FULL JOIN freed f USING (api_key_id, period)
    )
    INSERT INTO key_spend AS ks (api_key_id, period, spent_usd, reserved_usd)
    SELECT api_key_id, period, spent, 0 FROM settled
    ORDER BY api_key_id, period
    ON CONFLICT (api_key_id, period) DO UPDATE
      SET spent_usd = ks.spent_usd + excluded.spent_usd,
          reserved_usd = greatest(
            ks.reserved_usd - (SELECT s.freed FROM settled s WHERE s.api_key_id = excluded.api_key_id AND s.period = excluded.period),
            0);
  END IF;

  -- 0019's tollgate_charge_accounts: the rows' charge off the balance and into the account's budget period
  IF charged THEN
    INSERT INTO account_balance AS ab (account_id, balance_usd, reserved_usd)
    SELECT account_id, -sum(coalesce(charge_usd, cost_total * markup)), 0
    FROM new_rows WHERE account_id IS NOT NULL GROUP BY 1 ORDER BY 1
    ON CONFLICT (account_id) DO UPDATE SET balance_usd = ab.balance_usd + excluded.balance_usd;
    INSERT INTO account_spend AS s (account_id, period, spent_usd, reserved_usd)
    SELECT i.account_id, tollgate_period_start(a.budget_period, i.created_at),
           sum(coalesce(i.charge_usd, i.cost_total * i.markup)), 0
    FROM new_rows i JOIN accounts a ON a.id = i.account_id
    WHERE a.budget_usd IS NOT NULL
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (account_id, period) DO UPDATE SET spent_usd = s.spent_usd + excluded.spent_usd;
  END IF;
  RETURN NULL;
END
$fn$;
$f$, '__PAIRS__', pairs);
END
$do$;
--> statement-breakpoint
-- 2. UPDATE and DELETE (rare: an operator's fix, a test): each rollup gets the old rows' sums subtracted and
-- the new rows' added in one upsert per table, then its groups left with no request are removed as the
-- functions replaced did (usage_hourly by the old rows' keys, the others by their hours). The daily twin
-- of each table takes the same sums, less what the removed hourly groups still held (their
-- corrections), then drops its own groups with no request in those days: daily = Σ hourly, as the
-- hourly tables' triggers kept it. Spend and balances are not touched by an update or delete, as before.
-- One template, two functions: a DELETE trigger has no new rows to read.
DO $$
DECLARE
  -- each rollup's upsert of the rows' sums, for its hour and then its day (as in tollgate_ledger_insert)
  pairs text[] := ARRAY[
    $r$
  INSERT INTO usage___LAYER__ AS u
    (__GRAIN__, api_key_id, model, status, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests, charge_usd)
  SELECT date_trunc('__GRAIN__', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', coalesce(api_key_id, ''), model, status,
         sum(s), sum(s * prompt_tokens), sum(s * completion_tokens), sum(s * total_tokens), sum(s * cost_total),
         coalesce(sum(s) FILTER (WHERE pricing_source IN ('env', 'builtin')), 0), sum(s * coalesce(charge_usd, cost_total * markup))
  FROM __ROWS__ AS r GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (__GRAIN__, api_key_id, model, status) DO UPDATE
    SET requests = u.requests + excluded.requests, prompt_tokens = u.prompt_tokens + excluded.prompt_tokens,
        completion_tokens = u.completion_tokens + excluded.completion_tokens,
        total_tokens = u.total_tokens + excluded.total_tokens, cost_usd = u.cost_usd + excluded.cost_usd,
        unpriced_requests = u.unpriced_requests + excluded.unpriced_requests, charge_usd = u.charge_usd + excluded.charge_usd;
$r$,
    $r$
  INSERT INTO usage___LAYER___routes AS u
    (__GRAIN__, endpoint, served_by, model, status, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests, charge_usd)
  SELECT date_trunc('__GRAIN__', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', endpoint, coalesce(served_by, ''), model, status,
         sum(s), sum(s * prompt_tokens), sum(s * completion_tokens), sum(s * total_tokens), sum(s * cost_total),
         coalesce(sum(s) FILTER (WHERE pricing_source IN ('env', 'builtin')), 0), sum(s * coalesce(charge_usd, cost_total * markup))
  FROM __ROWS__ AS r GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
  ON CONFLICT (__GRAIN__, endpoint, served_by, model, status) DO UPDATE
    SET requests = u.requests + excluded.requests, prompt_tokens = u.prompt_tokens + excluded.prompt_tokens,
        completion_tokens = u.completion_tokens + excluded.completion_tokens,
        total_tokens = u.total_tokens + excluded.total_tokens, cost_usd = u.cost_usd + excluded.cost_usd,
        unpriced_requests = u.unpriced_requests + excluded.unpriced_requests, charge_usd = u.charge_usd + excluded.charge_usd;
$r$,
    $r$
  INSERT INTO usage___LAYER___tags AS u
    (__GRAIN__, tag, api_key_id, model, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests, charge_usd)
  SELECT date_trunc('__GRAIN__', r.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', t.tag, coalesce(r.api_key_id, ''), r.model,
         sum(s), sum(s * r.prompt_tokens), sum(s * r.completion_tokens), sum(s * r.total_tokens), sum(s * r.cost_total),
         coalesce(sum(s) FILTER (WHERE r.pricing_source IN ('env', 'builtin')), 0),
         sum(s * coalesce(r.charge_usd, r.cost_total * r.markup))
  FROM __ROWS__ AS r
  CROSS JOIN LATERAL (SELECT DISTINCT x FROM unnest(CASE WHEN cardinality(r.tags) > 0 THEN r.tags ELSE ARRAY['']::text[] END) AS x) AS t(tag)
  GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (__GRAIN__, tag, api_key_id, model) DO UPDATE
    SET requests = u.requests + excluded.requests, prompt_tokens = u.prompt_tokens + excluded.prompt_tokens,
        completion_tokens = u.completion_tokens + excluded.completion_tokens,
        total_tokens = u.total_tokens + excluded.total_tokens, cost_usd = u.cost_usd + excluded.cost_usd,
        unpriced_requests = u.unpriced_requests + excluded.unpriced_requests, charge_usd = u.charge_usd + excluded.charge_usd;
$r$,
    $r$
  INSERT INTO usage___LAYER___users AS u
    (__GRAIN__, end_user, api_key_id, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests, charge_usd)
  SELECT date_trunc('__GRAIN__', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', coalesce(end_user, ''), coalesce(api_key_id, ''),
         sum(s), sum(s * prompt_tokens), sum(s * completion_tokens), sum(s * total_tokens), sum(s * cost_total),
         coalesce(sum(s) FILTER (WHERE pricing_source IN ('env', 'builtin')), 0), sum(s * coalesce(charge_usd, cost_total * markup))
  FROM __ROWS__ AS r GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT (__GRAIN__, end_user, api_key_id) DO UPDATE
    SET requests = u.requests + excluded.requests, prompt_tokens = u.prompt_tokens + excluded.prompt_tokens,
        completion_tokens = u.completion_tokens + excluded.completion_tokens,
        total_tokens = u.total_tokens + excluded.total_tokens, cost_usd = u.cost_usd + excluded.cost_usd,
        unpriced_requests = u.unpriced_requests + excluded.unpriced_requests, charge_usd = u.charge_usd + excluded.charge_usd;
$r$
  ];
  template text := $t$CREATE OR REPLACE FUNCTION __NAME__() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
__PAIR_1__
  WITH gone AS (
    DELETE FROM usage_hourly h
    USING (SELECT DISTINCT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour,
                           coalesce(api_key_id, '') AS api_key_id, model, status FROM old_rows) AS o
    WHERE h.requests = 0 AND h.hour = o.hour AND h.api_key_id = o.api_key_id AND h.model = o.model AND h.status = o.status
    RETURNING h.*
  )
  INSERT INTO usage_daily AS d
    (day, api_key_id, model, status, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests, charge_usd)
  SELECT date_trunc('day', hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', api_key_id, model, status,
         -sum(requests), -sum(prompt_tokens), -sum(completion_tokens), -sum(total_tokens), -sum(cost_usd),
         -sum(unpriced_requests), -sum(charge_usd)
  FROM gone GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (day, api_key_id, model, status) DO UPDATE
    SET requests = d.requests + excluded.requests, prompt_tokens = d.prompt_tokens + excluded.prompt_tokens,
        completion_tokens = d.completion_tokens + excluded.completion_tokens,
        total_tokens = d.total_tokens + excluded.total_tokens, cost_usd = d.cost_usd + excluded.cost_usd,
        unpriced_requests = d.unpriced_requests + excluded.unpriced_requests, charge_usd = d.charge_usd + excluded.charge_usd;
  DELETE FROM usage_daily d
  USING (SELECT DISTINCT date_trunc('day', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS day,
                         coalesce(api_key_id, '') AS api_key_id, model, status FROM old_rows) AS o
  WHERE d.requests = 0 AND d.day = o.day AND d.api_key_id = o.api_key_id AND d.model = o.model AND d.status = o.status;

__PAIR_2__
  WITH gone AS (
    DELETE FROM usage_hourly_routes WHERE requests = 0
      AND hour IN (SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' FROM old_rows)
    RETURNING *
  )
  INSERT INTO usage_daily_routes AS d
    (day, endpoint, served_by, model, status, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests, charge_usd)
  SELECT date_trunc('day', hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', endpoint, served_by, model, status,
         -sum(requests), -sum(prompt_tokens), -sum(completion_tokens), -sum(total_tokens), -sum(cost_usd),
         -sum(unpriced_requests), -sum(charge_usd)
  FROM gone GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
  ON CONFLICT (day, endpoint, served_by, model, status) DO UPDATE
    SET requests = d.requests + excluded.requests, prompt_tokens = d.prompt_tokens + excluded.prompt_tokens,
        completion_tokens = d.completion_tokens + excluded.completion_tokens,
        total_tokens = d.total_tokens + excluded.total_tokens, cost_usd = d.cost_usd + excluded.cost_usd,
        unpriced_requests = d.unpriced_requests + excluded.unpriced_requests, charge_usd = d.charge_usd + excluded.charge_usd;
  DELETE FROM usage_daily_routes WHERE requests = 0
    AND day IN (SELECT date_trunc('day', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' FROM old_rows);

__PAIR_3__
  WITH gone AS (
    DELETE FROM usage_hourly_tags WHERE requests = 0
      AND hour IN (SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' FROM old_rows)
    RETURNING *
  )
  INSERT INTO usage_daily_tags AS d
    (day, tag, api_key_id, model, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests, charge_usd)
  SELECT date_trunc('day', hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', tag, api_key_id, model,
         -sum(requests), -sum(prompt_tokens), -sum(completion_tokens), -sum(total_tokens), -sum(cost_usd),
         -sum(unpriced_requests), -sum(charge_usd)
  FROM gone GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (day, tag, api_key_id, model) DO UPDATE
    SET requests = d.requests + excluded.requests, prompt_tokens = d.prompt_tokens + excluded.prompt_tokens,
        completion_tokens = d.completion_tokens + excluded.completion_tokens,
        total_tokens = d.total_tokens + excluded.total_tokens, cost_usd = d.cost_usd + excluded.cost_usd,
        unpriced_requests = d.unpriced_requests + excluded.unpriced_requests, charge_usd = d.charge_usd + excluded.charge_usd;
  DELETE FROM usage_daily_tags WHERE requests = 0
    AND day IN (SELECT date_trunc('day', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' FROM old_rows);

__PAIR_4__
  WITH gone AS (
    DELETE FROM usage_hourly_users WHERE requests = 0
      AND hour IN (SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' FROM old_rows)
    RETURNING *
  )
  INSERT INTO usage_daily_users AS d
    (day, end_user, api_key_id, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests, charge_usd)
  SELECT date_trunc('day', hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', end_user, api_key_id,
         -sum(requests), -sum(prompt_tokens), -sum(completion_tokens), -sum(total_tokens), -sum(cost_usd),
         -sum(unpriced_requests), -sum(charge_usd)
  FROM gone GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT (day, end_user, api_key_id) DO UPDATE
    SET requests = d.requests + excluded.requests, prompt_tokens = d.prompt_tokens + excluded.prompt_tokens,
        completion_tokens = d.completion_tokens + excluded.completion_tokens,
        total_tokens = d.total_tokens + excluded.total_tokens, cost_usd = d.cost_usd + excluded.cost_usd,
        unpriced_requests = d.unpriced_requests + excluded.unpriced_requests, charge_usd = d.charge_usd + excluded.charge_usd;
  DELETE FROM usage_daily_users WHERE requests = 0
    AND day IN (SELECT date_trunc('day', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' FROM old_rows);
  RETURN NULL;
END
$f$
$t$;
BEGIN
  FOR i IN 1 .. array_length(pairs, 1) LOOP
    template := replace(template, '__PAIR_' || i || '__',
      replace(replace(pairs[i], '__LAYER__', 'hourly'), '__GRAIN__', 'hour') || E'\n'
      || replace(replace(pairs[i], '__LAYER__', 'daily'), '__GRAIN__', 'day'));
  END LOOP;
  EXECUTE replace(replace(template, '__NAME__', 'tollgate_ledger_update'),
    '__ROWS__', '(SELECT 1 AS s, n.* FROM new_rows n UNION ALL SELECT -1 AS s, o.* FROM old_rows o)');
  EXECUTE replace(replace(template, '__NAME__', 'tollgate_ledger_delete'), '__ROWS__', '(SELECT -1 AS s, o.* FROM old_rows o)');
END
$$;
--> statement-breakpoint
-- 3. Corrections (0017's tollgate_apply_corrections): each rollup's daily twin written beside it, in the
-- order above, then key_spend and the balance (the account's budget period follows in
-- tollgate_correct_account_spend, 0019, unchanged).
CREATE OR REPLACE FUNCTION tollgate_apply_corrections() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO usage_hourly AS h
    (hour, api_key_id, model, status, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests, charge_usd)
  SELECT date_trunc('hour', u.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', coalesce(u.api_key_id, ''), u.model, u.status,
         0, 0, 0, 0, sum(a.delta_usd), 0, sum(a.delta_usd * u.markup)
  FROM added a JOIN usage_logs u ON u.request_id = a.request_id
  GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (hour, api_key_id, model, status) DO UPDATE
    SET cost_usd = h.cost_usd + excluded.cost_usd, charge_usd = h.charge_usd + excluded.charge_usd;
  INSERT INTO usage_daily AS d
    (day, api_key_id, model, status, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests, charge_usd)
  SELECT date_trunc('day', u.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', coalesce(u.api_key_id, ''), u.model, u.status,
         0, 0, 0, 0, sum(a.delta_usd), 0, sum(a.delta_usd * u.markup)
  FROM added a JOIN usage_logs u ON u.request_id = a.request_id
  GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (day, api_key_id, model, status) DO UPDATE
    SET cost_usd = d.cost_usd + excluded.cost_usd, charge_usd = d.charge_usd + excluded.charge_usd;

  INSERT INTO usage_hourly_routes AS h
    (hour, endpoint, served_by, model, status, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests, charge_usd)
  SELECT date_trunc('hour', u.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', u.endpoint, coalesce(u.served_by, ''), u.model, u.status,
         0, 0, 0, 0, sum(a.delta_usd), 0, sum(a.delta_usd * u.markup)
  FROM added a JOIN usage_logs u ON u.request_id = a.request_id
  GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
  ON CONFLICT (hour, endpoint, served_by, model, status) DO UPDATE
    SET cost_usd = h.cost_usd + excluded.cost_usd, charge_usd = h.charge_usd + excluded.charge_usd;
  INSERT INTO usage_daily_routes AS d
    (day, endpoint, served_by, model, status, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests, charge_usd)
  SELECT date_trunc('day', u.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', u.endpoint, coalesce(u.served_by, ''), u.model, u.status,
         0, 0, 0, 0, sum(a.delta_usd), 0, sum(a.delta_usd * u.markup)
  FROM added a JOIN usage_logs u ON u.request_id = a.request_id
  GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
  ON CONFLICT (day, endpoint, served_by, model, status) DO UPDATE
    SET cost_usd = d.cost_usd + excluded.cost_usd, charge_usd = d.charge_usd + excluded.charge_usd;

  INSERT INTO usage_hourly_tags AS h
    (hour, tag, api_key_id, model, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests, charge_usd)
  SELECT date_trunc('hour', u.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', t.tag, coalesce(u.api_key_id, ''), u.model,
         0, 0, 0, 0, sum(a.delta_usd), 0, sum(a.delta_usd * u.markup)
  FROM added a JOIN usage_logs u ON u.request_id = a.request_id
  CROSS JOIN LATERAL (SELECT DISTINCT x FROM unnest(CASE WHEN cardinality(u.tags) > 0 THEN u.tags ELSE ARRAY['']::text[] END) AS x) AS t(tag)
  GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (hour, tag, api_key_id, model) DO UPDATE
    SET cost_usd = h.cost_usd + excluded.cost_usd, charge_usd = h.charge_usd + excluded.charge_usd;
  INSERT INTO usage_daily_tags AS d
    (day, tag, api_key_id, model, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests, charge_usd)
  SELECT date_trunc('day', u.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', t.tag, coalesce(u.api_key_id, ''), u.model,
         0, 0, 0, 0, sum(a.delta_usd), 0, sum(a.delta_usd * u.markup)
  FROM added a JOIN usage_logs u ON u.request_id = a.request_id
  CROSS JOIN LATERAL (SELECT DISTINCT x FROM unnest(CASE WHEN cardinality(u.tags) > 0 THEN u.tags ELSE ARRAY['']::text[] END) AS x) AS t(tag)
  GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (day, tag, api_key_id, model) DO UPDATE
    SET cost_usd = d.cost_usd + excluded.cost_usd, charge_usd = d.charge_usd + excluded.charge_usd;

  INSERT INTO usage_hourly_users AS h
    (hour, end_user, api_key_id, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests, charge_usd)
  SELECT date_trunc('hour', u.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', coalesce(u.end_user, ''), coalesce(u.api_key_id, ''),
         0, 0, 0, 0, sum(a.delta_usd), 0, sum(a.delta_usd * u.markup)
  FROM added a JOIN usage_logs u ON u.request_id = a.request_id
  GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT (hour, end_user, api_key_id) DO UPDATE
    SET cost_usd = h.cost_usd + excluded.cost_usd, charge_usd = h.charge_usd + excluded.charge_usd;
  INSERT INTO usage_daily_users AS d
    (day, end_user, api_key_id, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests, charge_usd)
  SELECT date_trunc('day', u.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', coalesce(u.end_user, ''), coalesce(u.api_key_id, ''),
         0, 0, 0, 0, sum(a.delta_usd), 0, sum(a.delta_usd * u.markup)
  FROM added a JOIN usage_logs u ON u.request_id = a.request_id
  GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT (day, end_user, api_key_id) DO UPDATE
    SET cost_usd = d.cost_usd + excluded.cost_usd, charge_usd = d.charge_usd + excluded.charge_usd;

  INSERT INTO key_spend AS ks (api_key_id, period, spent_usd, reserved_usd)
  SELECT u.api_key_id, tollgate_period_start(coalesce(k.budget_period, 'month'), u.created_at), sum(a.delta_usd), 0
  FROM added a JOIN usage_logs u ON u.request_id = a.request_id
  LEFT JOIN api_keys k ON k.id = u.api_key_id
  WHERE u.api_key_id IS NOT NULL
  GROUP BY 1, 2 ORDER BY 1, 2
  ON CONFLICT (api_key_id, period) DO UPDATE SET spent_usd = ks.spent_usd + excluded.spent_usd;

  INSERT INTO account_balance AS ab (account_id, balance_usd, reserved_usd)
  SELECT u.account_id, -sum(a.delta_usd * u.markup), 0
  FROM added a JOIN usage_logs u ON u.request_id = a.request_id
  WHERE u.account_id IS NOT NULL
  GROUP BY 1 ORDER BY 1
  ON CONFLICT (account_id) DO UPDATE SET balance_usd = ab.balance_usd + excluded.balance_usd;
  RETURN NULL;
END
$$;
--> statement-breakpoint
-- 4. A truncate of the ledger empties both layers (the daily one no longer follows the hourly by trigger).
CREATE OR REPLACE FUNCTION tollgate_rollup_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  TRUNCATE usage_hourly, usage_hourly_routes, usage_hourly_users, usage_hourly_tags,
           usage_daily, usage_daily_routes, usage_daily_users, usage_daily_tags;
  RETURN NULL;
END
$$;
--> statement-breakpoint
-- 5. The triggers: one per operation on usage_logs; none left on the hourly tables.
DO $$
DECLARE t record;
BEGIN
  FOR t IN
    SELECT tg.tgname::text AS name, c.relname::text AS tab FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid
    WHERE NOT tg.tgisinternal AND c.relnamespace = current_schema()::regnamespace
      AND ((c.relname = 'usage_logs' AND tg.tgname IN (
              'usage_logs_rollup_insert', 'usage_logs_rollup_update', 'usage_logs_rollup_delete',
              'usage_logs_rollup_routes_insert', 'usage_logs_rollup_routes_update', 'usage_logs_rollup_routes_delete',
              'usage_logs_rollup_tags_insert', 'usage_logs_rollup_tags_update', 'usage_logs_rollup_tags_delete',
              'usage_logs_rollup_users_insert', 'usage_logs_rollup_users_update', 'usage_logs_rollup_users_delete',
              'usage_logs_settle_spend', 'usage_logs_settle_spend_charge'))
        OR (c.relname LIKE 'usage\_hourly%' AND tg.tgname LIKE '%\_daily\_%'))
  LOOP
    EXECUTE format('DROP TRIGGER %I ON %I', t.name, t.tab);
  END LOOP;
  FOR t IN
    SELECT p.oid::regprocedure::text AS sig FROM pg_proc p
    WHERE p.pronamespace = current_schema()::regnamespace
      AND (p.proname IN ('tollgate_rollup_usage', 'tollgate_rollup_routes', 'tollgate_rollup_tags', 'tollgate_rollup_users',
                         'tollgate_settle_spend', 'tollgate_charge_accounts')
           OR p.proname LIKE 'tollgate\_rollup\_usage\_daily%' OR p.proname LIKE 'tollgate\_truncate\_usage\_daily%')
  LOOP
    EXECUTE format('DROP FUNCTION %s', t.sig);
  END LOOP;
END
$$;
--> statement-breakpoint
CREATE TRIGGER usage_logs_ledger_insert AFTER INSERT ON usage_logs
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tollgate_ledger_insert();
--> statement-breakpoint
CREATE TRIGGER usage_logs_ledger_update AFTER UPDATE ON usage_logs
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tollgate_ledger_update();
--> statement-breakpoint
CREATE TRIGGER usage_logs_ledger_delete AFTER DELETE ON usage_logs
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tollgate_ledger_delete();
