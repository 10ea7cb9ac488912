-- Issue 25: the rollups keep charge_usd beside cost_usd, so /usage/summary sums the charge as it sums the
-- cost. A row's charge is coalesce(charge_usd, cost_total × markup) (rows from before 0014: markup 1,
-- charge = cost); a correction's is delta × the row's markup. Lock orders are those of the functions
-- replaced: each row trigger takes its own table; the corrections trigger usage_hourly, routes, tags,
-- users, key_spend, account_balance; the daily twins follow their hourly table.
--
-- 1. The column on every hourly and daily rollup.
DO $$
DECLARE t record;
BEGIN
  FOR t IN
    SELECT c.relname::text AS name FROM pg_class c
    WHERE c.relkind = 'r' AND (c.relname LIKE 'usage\_hourly%' OR c.relname LIKE 'usage\_daily%')
      AND c.relnamespace = current_schema()::regnamespace
    ORDER BY c.relname
  LOOP
    EXECUTE format('ALTER TABLE %I ADD COLUMN charge_usd numeric NOT NULL DEFAULT 0', t.name);
  END LOOP;
END
$$;
--> statement-breakpoint
-- 2. The daily twins' trigger functions, generated as 0015 made them, now with charge_usd among the sums
-- (0015's functions list the columns of the day they were made).
DO $$
DECLARE
  src record;
  daily text;
  keys text[];
  dims text;
  cols text;
  upd text;
  summed text;
  negated text;
  signed text;
  body text;
BEGIN
  FOR src IN
    SELECT c.oid, c.relname::text AS name FROM pg_class c
    WHERE c.relkind = 'r' AND c.relname LIKE 'usage\_hourly%' AND c.relnamespace = current_schema()::regnamespace
    ORDER BY c.relname
  LOOP
    daily := replace(src.name, 'usage_hourly', 'usage_daily');
    SELECT array_agg(a.attname::text ORDER BY k.n) INTO keys
    FROM pg_index i, unnest(i.indkey) WITH ORDINALITY AS k(attnum, n), pg_attribute a
    WHERE i.indrelid = src.oid AND i.indisprimary AND a.attrelid = src.oid AND a.attnum = k.attnum;
    SELECT string_agg(quote_ident(x), ', ') INTO dims FROM unnest(keys) AS x WHERE x <> 'hour';
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum),
           string_agg(format('%1$I = d.%1$I + excluded.%1$I', a.attname), ', ' ORDER BY a.attnum),
           string_agg(format('sum(%I)', a.attname), ', ' ORDER BY a.attnum),
           string_agg(format('-%1$I AS %1$I', a.attname), ', ' ORDER BY a.attnum)
      INTO cols, upd, summed, negated
    FROM pg_attribute a
    WHERE a.attrelid = src.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attname <> ALL (keys);
    signed := $f$
    INSERT INTO %1$I AS d (day, %2$s, %3$s)
    SELECT date_trunc('day', hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', %2$s, %4$s
    FROM (%5$s) AS c GROUP BY 1, %2$s ORDER BY 1, %2$s
    ON CONFLICT (day, %2$s) DO UPDATE SET %6$s;$f$;
    body := format(
      $f$CREATE OR REPLACE FUNCTION %1$I() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
  IF TG_OP = 'INSERT' THEN %2$s
  ELSIF TG_OP = 'UPDATE' THEN %3$s
  ELSE %4$s
    DELETE FROM %5$I d USING (SELECT DISTINCT date_trunc('day', hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS day, %6$s FROM old_rows) AS o
    WHERE d.requests = 0 AND d.day = o.day AND %7$s;
  END IF;
  RETURN NULL;
END
$body$;$f$,
      'tollgate_rollup_' || daily,
      format(signed, daily, dims, cols, summed, format('SELECT hour, %s, %s FROM new_rows', dims, cols), upd),
      format(signed, daily, dims, cols, summed,
        format('SELECT hour, %1$s, %2$s FROM new_rows UNION ALL SELECT hour, %1$s, %3$s FROM old_rows', dims, cols,
          negated),
        upd),
      format(signed, daily, dims, cols, summed, format('SELECT hour, %s, %s FROM old_rows', dims, negated), upd),
      daily, dims,
      (SELECT string_agg(format('d.%1$I = o.%1$I', x), ' AND ') FROM unnest(keys) AS x WHERE x <> 'hour'));
    EXECUTE body;
  END LOOP;
END
$$;
--> statement-breakpoint
-- 3. Backfill. An hour's charge is its cost plus what its rows' charges and corrections add beyond cost:
-- exact where the rows are there, and cost where they are not (hours whose rows were archived, all
-- written at markup 1 before any account existed or with the same sums). Only the rows whose charge is
-- not their cost are read twice. The updates of the hourly tables reach the daily ones through the
-- triggers of step 2, in the same transaction.
CREATE TEMPORARY TABLE tollgate_charge_extra AS
  SELECT u.created_at, u.api_key_id, u.model, u.status, u.endpoint, u.served_by, u.end_user, u.tags,
         coalesce(u.charge_usd, u.cost_total * u.markup) - u.cost_total
           + coalesce((SELECT sum(c.delta_usd) FROM usage_corrections c WHERE c.request_id = u.request_id), 0)
             * (u.markup - 1) AS extra
  FROM usage_logs u
  WHERE u.markup <> 1 OR (u.charge_usd IS NOT NULL AND u.charge_usd <> u.cost_total);
--> statement-breakpoint
UPDATE usage_hourly SET charge_usd = cost_usd;
--> statement-breakpoint
UPDATE usage_hourly_routes SET charge_usd = cost_usd;
--> statement-breakpoint
UPDATE usage_hourly_tags SET charge_usd = cost_usd;
--> statement-breakpoint
UPDATE usage_hourly_users SET charge_usd = cost_usd;
--> statement-breakpoint
UPDATE usage_hourly h SET charge_usd = h.charge_usd + e.extra
FROM (SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour, coalesce(api_key_id, '') AS api_key_id,
             model, status, sum(extra) AS extra
      FROM tollgate_charge_extra GROUP BY 1, 2, 3, 4) AS e
WHERE h.hour = e.hour AND h.api_key_id = e.api_key_id AND h.model = e.model AND h.status = e.status;
--> statement-breakpoint
UPDATE usage_hourly_routes h SET charge_usd = h.charge_usd + e.extra
FROM (SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour, endpoint,
             coalesce(served_by, '') AS served_by, model, status, sum(extra) AS extra
      FROM tollgate_charge_extra GROUP BY 1, 2, 3, 4, 5) AS e
WHERE h.hour = e.hour AND h.endpoint = e.endpoint AND h.served_by = e.served_by AND h.model = e.model
  AND h.status = e.status;
--> statement-breakpoint
UPDATE usage_hourly_tags h SET charge_usd = h.charge_usd + e.extra
FROM (SELECT date_trunc('hour', r.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour, t.tag,
             coalesce(r.api_key_id, '') AS api_key_id, r.model, sum(r.extra) AS extra
      FROM tollgate_charge_extra r
      CROSS JOIN LATERAL (SELECT DISTINCT x FROM unnest(CASE WHEN cardinality(r.tags) > 0 THEN r.tags ELSE ARRAY['']::text[] END) AS x) AS t(tag)
      GROUP BY 1, 2, 3, 4) AS e
WHERE h.hour = e.hour AND h.tag = e.tag AND h.api_key_id = e.api_key_id AND h.model = e.model;
--> statement-breakpoint
UPDATE usage_hourly_users h SET charge_usd = h.charge_usd + e.extra
FROM (SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour, coalesce(end_user, '') AS end_user,
             coalesce(api_key_id, '') AS api_key_id, sum(extra) AS extra
      FROM tollgate_charge_extra GROUP BY 1, 2, 3) AS e
WHERE h.hour = e.hour AND h.end_user = e.end_user AND h.api_key_id = e.api_key_id;
--> statement-breakpoint
DROP TABLE tollgate_charge_extra;
--> statement-breakpoint
-- 4. The row triggers (0007's usage_hourly, 0009's) with the charge: old rows subtracted, new rows added, groups upserted
-- in primary-key order, groups left with no request removed, as before.
CREATE OR REPLACE FUNCTION tollgate_rollup_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    INSERT INTO usage_hourly AS h
      (hour, api_key_id, model, status, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests, charge_usd)
    SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', coalesce(api_key_id, ''), model, status,
           -count(*), -sum(prompt_tokens), -sum(completion_tokens), -sum(total_tokens), -sum(cost_total),
           -count(*) FILTER (WHERE pricing_source IN ('env', 'builtin')), -sum(coalesce(charge_usd, cost_total * markup))
    FROM old_rows
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (hour, api_key_id, model, status) DO UPDATE
      SET requests = h.requests + excluded.requests,
          prompt_tokens = h.prompt_tokens + excluded.prompt_tokens,
          completion_tokens = h.completion_tokens + excluded.completion_tokens,
          total_tokens = h.total_tokens + excluded.total_tokens,
          cost_usd = h.cost_usd + excluded.cost_usd,
          unpriced_requests = h.unpriced_requests + excluded.unpriced_requests,
          charge_usd = h.charge_usd + excluded.charge_usd;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO usage_hourly AS h
      (hour, api_key_id, model, status, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests, charge_usd)
    SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', coalesce(api_key_id, ''), model, status,
           count(*), sum(prompt_tokens), sum(completion_tokens), sum(total_tokens), sum(cost_total),
           count(*) FILTER (WHERE pricing_source IN ('env', 'builtin')), sum(coalesce(charge_usd, cost_total * markup))
    FROM new_rows
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (hour, api_key_id, model, status) DO UPDATE
      SET requests = h.requests + excluded.requests,
          prompt_tokens = h.prompt_tokens + excluded.prompt_tokens,
          completion_tokens = h.completion_tokens + excluded.completion_tokens,
          total_tokens = h.total_tokens + excluded.total_tokens,
          cost_usd = h.cost_usd + excluded.cost_usd,
          unpriced_requests = h.unpriced_requests + excluded.unpriced_requests,
          charge_usd = h.charge_usd + excluded.charge_usd;
  END IF;
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    DELETE FROM usage_hourly h
    USING (SELECT DISTINCT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour,
                           coalesce(api_key_id, '') AS api_key_id, model, status
           FROM old_rows) AS o
    WHERE h.requests = 0 AND h.hour = o.hour AND h.api_key_id = o.api_key_id AND h.model = o.model AND h.status = o.status;
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION tollgate_rollup_routes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    INSERT INTO usage_hourly_routes AS h
      (hour, endpoint, served_by, model, status, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests, charge_usd)
    SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', endpoint, coalesce(served_by, ''), model, status,
           -count(*), -sum(prompt_tokens), -sum(completion_tokens), -sum(total_tokens), -sum(cost_total),
           -count(*) FILTER (WHERE pricing_source IN ('env', 'builtin')), -sum(coalesce(charge_usd, cost_total * markup))
    FROM old_rows GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (hour, endpoint, served_by, model, status) DO UPDATE
      SET requests = h.requests + excluded.requests, prompt_tokens = h.prompt_tokens + excluded.prompt_tokens,
          completion_tokens = h.completion_tokens + excluded.completion_tokens,
          total_tokens = h.total_tokens + excluded.total_tokens, cost_usd = h.cost_usd + excluded.cost_usd,
          unpriced_requests = h.unpriced_requests + excluded.unpriced_requests,
          charge_usd = h.charge_usd + excluded.charge_usd;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO usage_hourly_routes AS h
      (hour, endpoint, served_by, model, status, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests, charge_usd)
    SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', endpoint, coalesce(served_by, ''), model, status,
           count(*), sum(prompt_tokens), sum(completion_tokens), sum(total_tokens), sum(cost_total),
           count(*) FILTER (WHERE pricing_source IN ('env', 'builtin')), sum(coalesce(charge_usd, cost_total * markup))
    FROM new_rows GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (hour, endpoint, served_by, model, status) DO UPDATE
      SET requests = h.requests + excluded.requests, prompt_tokens = h.prompt_tokens + excluded.prompt_tokens,
          completion_tokens = h.completion_tokens + excluded.completion_tokens,
          total_tokens = h.total_tokens + excluded.total_tokens, cost_usd = h.cost_usd + excluded.cost_usd,
          unpriced_requests = h.unpriced_requests + excluded.unpriced_requests,
          charge_usd = h.charge_usd + excluded.charge_usd;
  END IF;
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    DELETE FROM usage_hourly_routes WHERE requests = 0
      AND hour IN (SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' FROM old_rows);
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION tollgate_rollup_users() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    INSERT INTO usage_hourly_users AS h
      (hour, end_user, api_key_id, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests, charge_usd)
    SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', coalesce(end_user, ''), coalesce(api_key_id, ''),
           -count(*), -sum(prompt_tokens), -sum(completion_tokens), -sum(total_tokens), -sum(cost_total),
           -count(*) FILTER (WHERE pricing_source IN ('env', 'builtin')), -sum(coalesce(charge_usd, cost_total * markup))
    FROM old_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (hour, end_user, api_key_id) DO UPDATE
      SET requests = h.requests + excluded.requests, prompt_tokens = h.prompt_tokens + excluded.prompt_tokens,
          completion_tokens = h.completion_tokens + excluded.completion_tokens,
          total_tokens = h.total_tokens + excluded.total_tokens, cost_usd = h.cost_usd + excluded.cost_usd,
          unpriced_requests = h.unpriced_requests + excluded.unpriced_requests,
          charge_usd = h.charge_usd + excluded.charge_usd;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO usage_hourly_users AS h
      (hour, end_user, api_key_id, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests, charge_usd)
    SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', coalesce(end_user, ''), coalesce(api_key_id, ''),
           count(*), sum(prompt_tokens), sum(completion_tokens), sum(total_tokens), sum(cost_total),
           count(*) FILTER (WHERE pricing_source IN ('env', 'builtin')), sum(coalesce(charge_usd, cost_total * markup))
    FROM new_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (hour, end_user, api_key_id) DO UPDATE
      SET requests = h.requests + excluded.requests, prompt_tokens = h.prompt_tokens + excluded.prompt_tokens,
          completion_tokens = h.completion_tokens + excluded.completion_tokens,
          total_tokens = h.total_tokens + excluded.total_tokens, cost_usd = h.cost_usd + excluded.cost_usd,
          unpriced_requests = h.unpriced_requests + excluded.unpriced_requests,
          charge_usd = h.charge_usd + excluded.charge_usd;
  END IF;
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    DELETE FROM usage_hourly_users WHERE requests = 0
      AND hour IN (SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' FROM old_rows);
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION tollgate_rollup_tags() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    INSERT INTO usage_hourly_tags AS h
      (hour, tag, api_key_id, model, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests, charge_usd)
    SELECT date_trunc('hour', r.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', t.tag, coalesce(r.api_key_id, ''), r.model,
           -count(*), -sum(r.prompt_tokens), -sum(r.completion_tokens), -sum(r.total_tokens), -sum(r.cost_total),
           -count(*) FILTER (WHERE r.pricing_source IN ('env', 'builtin')), -sum(coalesce(r.charge_usd, r.cost_total * r.markup))
    FROM old_rows r
    CROSS JOIN LATERAL (SELECT DISTINCT x FROM unnest(CASE WHEN cardinality(r.tags) > 0 THEN r.tags ELSE ARRAY['']::text[] END) AS x) AS t(tag)
    GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (hour, tag, api_key_id, model) DO UPDATE
      SET requests = h.requests + excluded.requests, prompt_tokens = h.prompt_tokens + excluded.prompt_tokens,
          completion_tokens = h.completion_tokens + excluded.completion_tokens,
          total_tokens = h.total_tokens + excluded.total_tokens, cost_usd = h.cost_usd + excluded.cost_usd,
          unpriced_requests = h.unpriced_requests + excluded.unpriced_requests,
          charge_usd = h.charge_usd + excluded.charge_usd;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO usage_hourly_tags AS h
      (hour, tag, api_key_id, model, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests, charge_usd)
    SELECT date_trunc('hour', r.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', t.tag, coalesce(r.api_key_id, ''), r.model,
           count(*), sum(r.prompt_tokens), sum(r.completion_tokens), sum(r.total_tokens), sum(r.cost_total),
           count(*) FILTER (WHERE r.pricing_source IN ('env', 'builtin')), sum(coalesce(r.charge_usd, r.cost_total * r.markup))
    FROM new_rows r
    CROSS JOIN LATERAL (SELECT DISTINCT x FROM unnest(CASE WHEN cardinality(r.tags) > 0 THEN r.tags ELSE ARRAY['']::text[] END) AS x) AS t(tag)
    GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (hour, tag, api_key_id, model) DO UPDATE
      SET requests = h.requests + excluded.requests, prompt_tokens = h.prompt_tokens + excluded.prompt_tokens,
          completion_tokens = h.completion_tokens + excluded.completion_tokens,
          total_tokens = h.total_tokens + excluded.total_tokens, cost_usd = h.cost_usd + excluded.cost_usd,
          unpriced_requests = h.unpriced_requests + excluded.unpriced_requests,
          charge_usd = h.charge_usd + excluded.charge_usd;
  END IF;
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    DELETE FROM usage_hourly_tags WHERE requests = 0
      AND hour IN (SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' FROM old_rows);
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
-- 5. 0014's corrections trigger with the charge (delta × the row's markup) in every rollup; same order.
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

  INSERT INTO usage_hourly_routes AS h
    (hour, endpoint, served_by, model, status, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests, charge_usd)
  SELECT date_trunc('hour', u.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', u.endpoint, coalesce(u.served_by, ''), u.model, u.status,
         0, 0, 0, 0, sum(a.delta_usd), 0, sum(a.delta_usd * u.markup)
  FROM added a JOIN usage_logs u ON u.request_id = a.request_id
  GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
  ON CONFLICT (hour, endpoint, served_by, model, status) DO UPDATE
    SET cost_usd = h.cost_usd + excluded.cost_usd, charge_usd = h.charge_usd + excluded.charge_usd;

  -- the rollups in the order the insert triggers take them (fired by name: tags before users), so a
  -- reprice and the recorder lock in one order and cannot deadlock
  INSERT INTO usage_hourly_tags AS h
    (hour, tag, api_key_id, model, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests, charge_usd)
  SELECT date_trunc('hour', u.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', t.tag, coalesce(u.api_key_id, ''), u.model,
         0, 0, 0, 0, sum(a.delta_usd), 0, sum(a.delta_usd * u.markup)
  FROM added a JOIN usage_logs u ON u.request_id = a.request_id
  CROSS JOIN LATERAL (SELECT DISTINCT x FROM unnest(CASE WHEN cardinality(u.tags) > 0 THEN u.tags ELSE ARRAY['']::text[] END) AS x) AS t(tag)
  GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (hour, tag, api_key_id, model) DO UPDATE
    SET cost_usd = h.cost_usd + excluded.cost_usd, charge_usd = h.charge_usd + excluded.charge_usd;

  INSERT INTO usage_hourly_users AS h
    (hour, end_user, api_key_id, requests, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced_requests, charge_usd)
  SELECT date_trunc('hour', u.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', coalesce(u.end_user, ''), coalesce(u.api_key_id, ''),
         0, 0, 0, 0, sum(a.delta_usd), 0, sum(a.delta_usd * u.markup)
  FROM added a JOIN usage_logs u ON u.request_id = a.request_id
  GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT (hour, end_user, api_key_id) DO UPDATE
    SET cost_usd = h.cost_usd + excluded.cost_usd, charge_usd = h.charge_usd + excluded.charge_usd;

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
